import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One invocation of `kawatch notify`, as written to the spool directory. */
export interface SpoolRecord {
  v: 1;
  /** Epoch ms when keepalived ran the hook. */
  at: number;
  args: string[];
  /** Set when the hook already found the arguments invalid; kept so the daemon can report it. */
  error?: string;
}

export const SPOOL_SUFFIX = '.event';
const MAX_ARGS_BYTES = 4096;
let sequence = 0;

/**
 * File names sort in the order the hooks ran: wall-clock ms, then the system-wide monotonic
 * clock (concurrent hooks in one ms), then pid and a per-process counter.
 */
function spoolName(at: number): string {
  const mono = process.hrtime.bigint().toString().padStart(20, '0');
  return `${String(at).padStart(13, '0')}-${mono}-${process.pid}-${sequence++}${SPOOL_SUFFIX}`;
}

/** Atomic write (temp file + rename) so the daemon never reads half a record. Synchronous: the hook exits right after. */
export function writeSpoolRecord(dir: string, record: SpoolRecord): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let args = record.args;
  if (Buffer.byteLength(JSON.stringify(args)) > MAX_ARGS_BYTES) {
    args = [JSON.stringify(args).slice(0, MAX_ARGS_BYTES)];
  }
  const name = spoolName(record.at);
  const tmp = join(dir, `.tmp-${name}`);
  writeFileSync(tmp, JSON.stringify({ ...record, args }), { mode: 0o600 });
  renameSync(tmp, join(dir, name));
  return name;
}

export function parseSpoolRecord(text: string): SpoolRecord {
  const doc = JSON.parse(text) as Partial<SpoolRecord>;
  if (doc.v !== 1 || typeof doc.at !== 'number' || !Number.isFinite(doc.at) || !Array.isArray(doc.args) || !doc.args.every((a) => typeof a === 'string')) {
    throw new Error('not a kawatch spool record (expected {"v":1,"at":<ms>,"args":[strings]})');
  }
  return { v: 1, at: doc.at, args: doc.args, error: typeof doc.error === 'string' ? doc.error : undefined };
}
