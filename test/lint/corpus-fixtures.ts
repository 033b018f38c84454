import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The lint corpus (test/fixtures/keepalived-conf/), shared by what kawatch finds and what keepalived says. */
export const FIXTURES = fileURLToPath(new URL('../fixtures/keepalived-conf/', import.meta.url));
export const BAD = join(FIXTURES, 'bad');

/** `! expect: code@line …` on a fixture's first line. */
export function expected(file: string): string[] {
  const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
  const m = /^! expect:(.*)$/.exec(first);
  return m ? (m[1] as string).trim().split(/\s+/).filter(Boolean) : [];
}

export function confs(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /(\.conf$|keepalived\.conf\.)/.test(f) && !f.includes('conf.d'))
    .map((f) => join(dir, f))
    .sort();
}

export const GOOD = confs(join(FIXTURES, 'good'));
export const singleBad = readdirSync(BAD).filter((f) => f.endsWith('.conf'));
export const crossPairs = [...new Set(readdirSync(join(BAD, 'cross')).map((f) => f.replace(/-lb\d\.conf$/, '')))];
