import { rename } from 'node:fs/promises';
import { writeAtomic } from './safe-file.js';

/**
 * Persisted state that fails validation when it is loaded is moved aside here, next to where it
 * was (`FILE.bad-STAMP`), for a human to read, and counted per kind of file: it is never replayed,
 * and it never stops the daemon.
 */
const counts = new Map<string, number>();

/** Quarantined records since start, by kind of file (`pending.json`, `actions.jsonl`, ...). */
export function quarantinedCounts(): ReadonlyMap<string, number> {
  return counts;
}

function quarantinePath(path: string, at: number): string {
  return `${path}.bad-${new Date(at).toISOString().replace(/[:.]/g, '-')}`;
}

function count(kind: string, records: number): void {
  counts.set(kind, (counts.get(kind) ?? 0) + records);
}

/** Moves a whole file aside, counted as `records` bad records; returns where it went. */
export async function quarantineFile(path: string, kind: string, records = 1, now = Date.now()): Promise<string> {
  const target = quarantinePath(path, now);
  await rename(path, target);
  count(kind, records);
  return target;
}

/** Keeps the bad records of a file that otherwise stays in use (bad lines of a journal); returns where. */
export async function quarantineRecords(path: string, kind: string, records: readonly string[], now = Date.now()): Promise<string> {
  const target = quarantinePath(path, now);
  await writeAtomic(target, records.map((r) => `${r}\n`).join(''));
  count(kind, records.length);
  return target;
}
