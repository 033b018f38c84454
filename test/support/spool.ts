import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPOOL_MAGIC, SPOOL_SUFFIX } from '../../src/keepalived/spool.js';

/** A spool record with a chosen time, as bin/kawatch would have written it then (for fixtures). */
export function writeSpoolFixture(dir: string, at: number, args: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  const name = `${String(at * 1_000_000).padStart(20, '0')}-1${SPOOL_SUFFIX}`;
  writeFileSync(join(dir, name), [SPOOL_MAGIC, String(at), ...args, ''].join('\0'));
}
