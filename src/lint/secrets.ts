import type { ConfNode, ParsedConf } from '../keepalived/conf/ast.js';
import { SECRET_KEYWORDS } from '../keepalived/conf/excerpt.js';

const isSecretKeyword = (word: string) => SECRET_KEYWORDS.includes(word.toLowerCase());

/** The words after a secret keyword inside one word (quotes glued them): `auth_pass s3cret }`. */
function gluedSecrets(word: string, out: Set<string>): void {
  const lower = word.toLowerCase();
  for (const keyword of SECRET_KEYWORDS) {
    const at = lower.indexOf(keyword);
    if (at < 0) continue;
    const rest = word.slice(at + keyword.length).trim();
    if (rest === '') continue;
    out.add(rest);
    for (const piece of rest.split(/[\s="']+/)) if (piece !== '' && piece !== '{' && piece !== '}') out.add(piece);
  }
}

/** Every secret value a parsed configuration holds, however it was quoted: what no finding may show. */
export function secretsOf(conf: ParsedConf): Set<string> {
  const out = new Set<string>();
  const stack: ConfNode[] = [...conf.nodes];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const words = [node.keyword, ...node.args];
    words.forEach((word, i) => {
      if (isSecretKeyword(word)) {
        for (const value of words.slice(i + 1)) {
          if (value !== '') out.add(value);
          for (const piece of value.split(/\s+/)) if (piece !== '') out.add(piece);
        }
      } else gluedSecrets(word, out);
    });
    if (node.children) for (const child of node.children) stack.push(child);
  }
  return out;
}
