import { isPlausibleEpochMs, PLAUSIBLE_EPOCH_MS } from './report.js';

/**
 * The spool record `kawatch notify` (bin/kawatch) writes for each keepalived hook call:
 * NUL-separated fields — a magic word, the time in epoch ms, then the hook's arguments byte for
 * byte. NUL is the one byte no argument can contain, so no quoting is needed and none can go wrong.
 */
export interface SpoolRecord {
  /** Epoch ms when keepalived ran the hook. */
  at: number;
  args: string[];
}

export const SPOOL_MAGIC = 'kawatch-spool-1';
export const SPOOL_SUFFIX = '.event';
const MAX_RECORD_BYTES = 64 * 1024;

export function parseSpoolRecord(data: Buffer): SpoolRecord {
  if (data.length > MAX_RECORD_BYTES) throw new Error(`record of ${data.length} bytes, larger than ${MAX_RECORD_BYTES}`);
  const fields = data.toString('utf8').split('\0');
  const [magic, at, ...args] = fields;
  if (magic !== SPOOL_MAGIC || fields.at(-1) !== '' || !/^\d{1,15}$/.test(at ?? '')) {
    throw new Error(`not a kawatch spool record (expected "${SPOOL_MAGIC}\\0<epoch ms>\\0<arg>\\0...", as bin/kawatch writes)`);
  }
  const ms = Number(at);
  if (!isPlausibleEpochMs(ms)) {
    throw new Error(`spool record time ${at} ms is outside ${new Date(PLAUSIBLE_EPOCH_MS.from).toISOString()}..${new Date(PLAUSIBLE_EPOCH_MS.to).toISOString()}: is the director's clock set?`);
  }
  return { at: ms, args: args.slice(0, -1) };
}
