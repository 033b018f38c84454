import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { CoalescingTask } from '../core/coalescing-task.js';
import type { Logger } from '../core/log.js';
import { count, epochMs, firstIssue, name } from '../core/persisted.js';
import { quarantineFile } from '../core/quarantine.js';
import { readChecked, UnsafeFileError, writeAtomic } from '../core/safe-file.js';
import { VRRP_STATES } from '../model/vrrp.js';
import { CLOCKS, LOG_LENGTH } from './identity.js';
import type { RestoredSubject, Snapshot, Update } from './snapshot.js';

/**
 * The last known state of every VRRP instance and sync group, kept in `state_dir` so that a
 * restart neither forgets where an instance was (a replayed hook then says `BACKUP -> MASTER`,
 * not `INIT -> MASTER`) nor which source reported which transition (the FIFO lines that waited
 * in the pipe are then the transitions the spool already replayed). Written whole (temp file,
 * fsync, rename) after each update that changed it; read back checked, and set aside as
 * `FILE.bad-STAMP` when it does not pass, never stopping the daemon.
 */
export const LAST_KNOWN_FILE = 'vrrp-state.json';
/** keepalived runs at most 255 VRIDs per interface; a few thousand subjects is any real director. */
const MAX_SUBJECTS = 4096;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

const vrrpState = z.enum(VRRP_STATES);
const recordSchema = z.object({
  seq: count,
  from: vrrpState,
  to: vrrpState,
  at: epochMs,
  clock: z.enum(CLOCKS),
  seenBy: z.array(z.enum(['hook', 'fifo', 'dump', 'process'])).max(4),
  stamp: epochMs.optional(),
});
const subjectSchema = z.object({
  name,
  vrid: z.number().int().min(1).max(255).optional(),
  state: vrrpState,
  stateSince: epochMs.optional(),
  log: z
    .array(recordSchema)
    .max(LOG_LENGTH)
    .refine((log) => log.every((r, i) => i === 0 || r.seq > log[i - 1]!.seq), { message: 'transitions out of order' }),
  counters: z
    .object({ pid: z.number().int().positive().max(2 ** 31).optional(), becomeMaster: count, releaseMaster: count, intoMaster: count, outOfMaster: count })
    .optional(),
});
const keepalivedSchema = z.object({ pid: z.number().int().positive().max(2 ** 31), startedAt: epochMs, identity: z.string().min(1).max(200).optional() });
const frameSchema = z.object({ v: z.literal(1), instances: z.array(z.unknown()).max(MAX_SUBJECTS), groups: z.array(z.unknown()).max(MAX_SUBJECTS), keepalived: z.unknown().optional() });

export type Restore = Extract<Update, { type: 'restore' }>;

/** What of the snapshot outlives a restart: identity and state, not settings or counters a dump gives again. */
export function lastKnownOf(s: Snapshot): Omit<Restore, 'type'> {
  const subject = (v: { name: string; vrid?: number; state: RestoredSubject['state']; stateSince?: number; log?: RestoredSubject['log']; counters?: RestoredSubject['counters'] }): RestoredSubject => ({
    name: v.name,
    vrid: v.vrid,
    state: v.state,
    stateSince: v.stateSince,
    log: v.log ?? [],
    counters: v.counters,
  });
  const { up, pid, startedAt, identity } = s.keepalived;
  // The running keepalived those states belong to: a different one at the next start was restarted unseen.
  const keepalived = up && pid !== undefined && startedAt !== undefined ? { pid, startedAt, ...(identity ? { identity } : {}) } : undefined;
  return { instances: Object.values(s.instances).map(subject), groups: Object.values(s.groups).map(subject), ...(keepalived ? { keepalived } : {}) };
}

function frameText(known: Omit<Restore, 'type'>): string {
  return `${JSON.stringify({ v: 1, instances: known.instances, groups: known.groups, keepalived: known.keepalived })}\n`;
}

export function serializeLastKnown(s: Snapshot): string {
  return frameText(lastKnownOf(s));
}

/** The valid subjects of a parsed file, the first of each name, and the first reason any other was refused. */
function salvage(values: readonly unknown[]): { subjects: RestoredSubject[]; bad: number; why?: string } {
  const seen = new Set<string>();
  const subjects: RestoredSubject[] = [];
  let bad = 0;
  let why: string | undefined;
  for (const value of values) {
    const parsed = subjectSchema.safeParse(value);
    if (!parsed.success || seen.has(parsed.data.name)) {
      bad += 1;
      why ??= parsed.success ? `instance or group ${JSON.stringify(parsed.data.name)} twice` : firstIssue(parsed.error);
      continue;
    }
    seen.add(parsed.data.name);
    subjects.push(parsed.data);
  }
  return { subjects, bad, why };
}

/** Parses the file's text: the subjects that pass, and what did not. Throws when the file as a whole is not one. */
export function parseLastKnown(text: string): { restore: Restore; bad: number; why?: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON (${(err as Error).message})`);
  }
  const frame = frameSchema.safeParse(doc);
  if (!frame.success) throw new Error(`not a kawatch VRRP state file: ${firstIssue(frame.error)}`);
  const instances = salvage(frame.data.instances);
  const groups = salvage(frame.data.groups);
  // Without it (an older file, or one refused) a keepalived restarted while kawatch was down goes unseen, as before.
  const keepalived = keepalivedSchema.safeParse(frame.data.keepalived);
  const restore: Restore = { type: 'restore', instances: instances.subjects, groups: groups.subjects, ...(keepalived.success ? { keepalived: keepalived.data } : {}) };
  const badKeepalived = frame.data.keepalived !== undefined && !keepalived.success;
  return {
    restore,
    bad: instances.bad + groups.bad + (badKeepalived ? 1 : 0),
    why: instances.why ?? groups.why ?? (badKeepalived ? `keepalived: ${firstIssue(keepalived.error!)}` : undefined),
  };
}

const nothingKnown = (): Restore => ({ type: 'restore', instances: [], groups: [] });

export class LastKnownState {
  private readonly writer = new CoalescingTask(() => this.writeOnce());
  private loaded = false;
  private latest?: Snapshot;
  private written?: string;
  private lastWriteError?: string;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /**
   * Reads the file once, at start. What cannot be used is set aside and said: a bad subject alone
   * (the others are kept and written back at once), or the whole file; a directory that cannot be
   * read leaves the daemon starting with nothing known, as before there was a file.
   */
  async load(): Promise<{ restore: Restore; problems: string[] }> {
    const problems: string[] = [];
    let restore = nothingKnown();
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const data = await readChecked(this.path, { maxBytes: MAX_FILE_BYTES });
      try {
        const parsed = parseLastKnown(data.toString('utf8'));
        restore = parsed.restore;
        if (parsed.bad > 0) {
          const kept = await quarantineFile(this.path, LAST_KNOWN_FILE, parsed.bad);
          await writeAtomic(this.path, frameText(restore));
          problems.push(`${this.path}: ${parsed.bad} bad record(s) (${parsed.why}); the file is kept as ${kept}, the other ${restore.instances.length + restore.groups.length} kept`);
        }
      } catch (err) {
        const kept = await quarantineFile(this.path, LAST_KNOWN_FILE);
        problems.push(`${this.path}: ${(err as Error).message}; kept as ${kept}, starting with no VRRP state known`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        const why = err instanceof UnsafeFileError ? `${err.message} (left in place)` : (err as Error).message;
        problems.push(`${this.path}: ${why}; starting with no VRRP state known`);
      }
    }
    this.loaded = true;
    return { restore, problems };
  }

  /** After each update: written (coalesced) when what outlives a restart changed. Nothing before `load`. */
  save(snapshot: Snapshot): void {
    if (!this.loaded) return;
    if (this.latest && this.latest.instances === snapshot.instances && this.latest.groups === snapshot.groups) return;
    this.latest = snapshot;
    void this.writer.run();
  }

  /** Resolves once what was saved is on disk (at stop). */
  flush(): Promise<void> {
    return this.writer.idle();
  }

  private async writeOnce(): Promise<void> {
    const text = serializeLastKnown(this.latest!);
    if (text === this.written) return;
    try {
      await writeAtomic(this.path, text);
      this.written = text;
      this.lastWriteError = undefined;
    } catch (err) {
      const error = (err as Error).message;
      // Said once per distinct reason; the next change tries again.
      if (error !== this.lastWriteError) this.log.warn({ path: this.path, error }, 'cannot keep the VRRP state in state_dir');
      this.lastWriteError = error;
    }
  }
}
