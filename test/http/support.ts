import { get, type IncomingHttpHeaders } from 'node:http';

/** One GET with these headers, its body as the wire brought it (not decompressed, unlike fetch). */
export function getRaw(url: string, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) })).on('error', reject);
    }).on('error', reject);
  });
}

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' };

/** What a reader sees of some markup: the text without tags, entities decoded, spaces collapsed. */
export function text(markup: string): string {
  return markup
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(lt|gt|quot|#39|amp);/g, (e) => ENTITIES[e]!)
    .replace(/\s+/g, ' ')
    .trim();
}

/** The markup of the table row headed `name` (an instance, a peer, a source). */
export function row(page: string, name: string): string {
  const m = new RegExp(`<tr><th scope="row">${name}</th>.*?</tr>`, 's').exec(page);
  if (!m) throw new Error(`no row for ${name}`);
  return m[0];
}

/** The status page's critical banner, as text, or undefined when there is none. */
export function bannerText(page: string): string | undefined {
  const m = /<div class="banner" role="alert">(.*?)<\/div>/s.exec(page);
  return m ? text(m[1]!) : undefined;
}

/** The text of each cell of a table row, header cell first. */
export function cells(rowMarkup: string): string[] {
  return [...rowMarkup.matchAll(/<(th|td)\b[^>]*>(.*?)<\/\1>/gs)].map((m) => text(m[2]!));
}
