import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { REMOVED, UNDOCUMENTED } from '../../../src/keepalived/conf/keywords.js';
import { keepalivedConfigTest } from '../../support/keepalived-check.js';
import { describeWithPrereqs } from '../../support/prereq.js';

const run = promisify(execFile);

/** Arguments that let keepalived open a section header. */
const HEADER_ARGS: Record<string, string> = { vrrp_instance: 'VI_X', vrrp_sync_group: 'G_X', virtual_server: '10.0.0.1 80', real_server: '10.0.0.2 80' };

function wrap(section: string, body: string[]): string {
  const parts = section ? section.split('/') : [];
  const open = parts.map((p) => `${p} ${HEADER_ARGS[p] ?? ''} {`);
  return [...open, ...body, ...parts.map(() => '}')].join('\n') + '\n';
}

describeWithPrereqs('keyword table against keepalived 2.2.7 itself', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-keywords-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The keywords keepalived -t calls unknown when each is given inside `section`. */
  async function unknownTo(section: string, keywords: string[]): Promise<string[]> {
    const file = join(dir, `${section.replaceAll('/', '_') || 'root'}-${keywords.length}.conf`);
    writeFileSync(file, wrap(section, keywords.map((k) => `${k} 1`)));
    // Only the complaints count: keepalived 2.2.7 -t even crashes (SIGSEGV) on an HTTP_GET without a url,
    // after it has read, and judged, every keyword.
    const out = await keepalivedConfigTest(file);
    return [...new Set([...`${out.stdout}${out.stderr}`.matchAll(/Unknown keyword '([^']*)'/g)].map((m) => m[1] as string))].sort();
  }

  it.each(Object.entries(UNDOCUMENTED))('keepalived reads the undocumented keywords of section "%s"', async (section, keywords) => {
    expect(await unknownTo(section, keywords.filter((k) => k !== 'host'))).toEqual([]);
  });

  it.each(Object.entries(REMOVED))('keepalived no longer reads the removed keywords of %s', async (section, entries) => {
    const keywords = Object.keys(entries);
    expect(await unknownTo(section, keywords)).toEqual(keywords.sort());
  });

  it('an invented keyword is unknown to keepalived (the probe can fail)', async () => {
    expect(await unknownTo('vrrp_instance', ['kawatch_invented'])).toEqual(['kawatch_invented']);
  });
});

describeWithPrereqs(
  'generated keyword table',
  { root: true, commands: ['keepalived', 'unshare', 'ip', 'man', 'col'], files: ['/usr/share/man/man5/keepalived.conf.5.gz'] },
  () => {
    it('keywords.generated.ts is what scripts/extract-keepalived-keywords.mjs makes of this keepalived', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'kawatch-keywords-gen-'));
      try {
        const out = join(dir, 'keywords.generated.ts');
        await run('node', [fileURLToPath(new URL('../../../scripts/extract-keepalived-keywords.mjs', import.meta.url)), out]);
        const stored = fileURLToPath(new URL('../../../src/keepalived/conf/keywords.generated.ts', import.meta.url));
        expect(readFileSync(out, 'utf8')).toBe(readFileSync(stored, 'utf8'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  },
);
