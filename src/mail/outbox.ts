import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { count, epochMs, firstIssue, name } from '../core/persisted.js';
import { quarantineFile } from '../core/quarantine.js';
import { checkDirectory, readChecked, TEMP_PREFIX, UnsafeFileError, writeAtomic } from '../core/safe-file.js';
import { VRRP_STATES } from '../model/vrrp.js';
import { SOURCE_NAMES } from '../state/snapshot.js';
import { MISMATCH_FIELDS } from '../watchdog/diagnose.js';
import { journalEntrySchema } from '../watchdog/journal.js';
import { HINT_TOPICS, type MailEvent } from './event.js';
import { addEvent, emptyPending, MAX_GROUP_IDS, type PendingState } from './schedule.js';
import { EVENT_ID, MAX_HELD_EVENTS, type HeldEvent } from './sender.js';
import { MAX_MAIL_ACKS, type MailAck } from '../model/peer.js';

/** The batch number leads, zero-padded: names sort in the order the messages were composed. */
const MESSAGE_FILE = /^(m(\d{12})-[0-9a-f]{8})\.json$/;
const PENDING_FILE = 'pending.json';
/** Far above a composed mail or the bounded pending group; anything larger was not written here. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** A composed mail waiting for the SMTP server, one file each: `<id>.json`. */
const outboxMessageSchema = z.object({
  v: z.literal(1),
  /** Stable across retries and restarts: the file name and the Message-ID header come from it. */
  id: z.string().regex(/^m\d{12}-[0-9a-f]{8}$/),
  batch: count.min(1),
  composedAt: epochMs,
  eventCount: count,
  subject: z.string().max(64 * 1024),
  text: z.string(),
  /** The ids of its events, confirmed to the peers once the server took it; absent in older files. */
  eventIds: z.array(z.string().regex(EVENT_ID)).max(MAX_GROUP_IDS).optional(),
});
export type OutboxMessage = z.infer<typeof outboxMessageSchema>;

const vrid = z.number().int().min(1).max(255).optional();
const names = z.array(name).max(10_000);
const groupVerdictSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('split-brain'), iname: name, vrid, masters: names, since: epochMs.optional(), causes: z.array(z.string().max(64 * 1024)).max(100) }),
  z.object({ kind: z.literal('no-master'), iname: name, vrid, nodes: names }),
  z.object({ kind: z.literal('vip-on-several-nodes'), iname: name, vrid, address: name, nodes: names }),
  z.object({ kind: z.literal('vip-absent-on-master'), iname: name, vrid, address: name, node: name }),
  z.object({ kind: z.literal('config-mismatch'), iname: name, vrid, field: z.enum(MISMATCH_FIELDS), values: z.record(name, name) }),
  z.object({ kind: z.literal('equal-priority'), iname: name, vrid, priority: z.number().int().min(0).max(255), nodes: names }),
  z.object({ kind: z.literal('not-on-preferred-owner'), iname: name, vrid, preferred: name, master: name }),
]);

/** A mail event as the mailer keeps it pending across a restart (see `MailEvent`). */
const mailEventSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('transition'),
    at: epochMs,
    node: name,
    scope: z.enum(['instance', 'group']),
    name,
    vrid,
    vips: names,
    from: z.enum(VRRP_STATES),
    to: z.enum(VRRP_STATES),
    source: z.enum(SOURCE_NAMES),
  }),
  z.object({ kind: z.literal('verdict'), at: epochMs, node: name, change: z.enum(['raised', 'cleared']), verdict: groupVerdictSchema, vips: names, standing: z.object({ masters: names, holders: names }).optional() }),
  z.object({ kind: z.literal('action'), at: epochMs, node: name, entry: journalEntrySchema }),
  z.object({ kind: z.literal('peer'), at: epochMs, node: name, change: z.enum(['lost', 'back']), peer: name, error: z.string().max(64 * 1024).optional(), lastExchange: epochMs.optional() }),
  z.object({ kind: z.literal('audit'), at: epochMs, node: name, findings: z.array(groupVerdictSchema).max(10_000) }),
]) satisfies z.ZodType<MailEvent>;

const eventIdSchema = z.string().regex(EVENT_ID);
const heldEventSchema = z.object({ id: eventIdSchema, event: mailEventSchema, sender: name, heldAt: epochMs, after: count }) satisfies z.ZodType<HeldEvent>;
const ledgerSchema = z
  .object({ seq: count, ids: z.array(eventIdSchema).max(MAX_MAIL_ACKS) })
  .refine((l) => l.ids.length <= l.seq, { message: 'more ids than ever sent' }) satisfies z.ZodType<MailAck>;

/**
 * `pending.json` in two steps: its frame first (a bad frame sets the whole file aside), then each
 * event and mail time on its own, so one bad record does not cost the good ones.
 */
const pendingFrameSchema = z.object({
  v: z.literal(1),
  batch: count.min(1),
  mailTimes: z.array(z.unknown()).max(100_000),
  group: z
    .object({
      openedAt: epochMs,
      count: count,
      first: z.array(z.unknown()).max(1000),
      last: z.array(z.unknown()).max(1000),
      headline: z.unknown(),
      tally: z.record(z.string().max(64 * 1024), count),
      instances: names,
      topics: z.array(z.enum(HINT_TOPICS)),
      started: z.array(z.string().max(64 * 1024)).max(10_000),
      transient: z.array(z.string().max(64 * 1024)).max(10_000),
      ids: z.array(eventIdSchema).max(MAX_GROUP_IDS).optional(),
    })
    .optional(),
  held: z.array(z.unknown()).max(MAX_HELD_EVENTS).optional(),
  /** Checked on its own like the records: a bad ledger costs only duplicates (the peers mail what it no longer confirms). */
  sent: z.unknown().optional(),
});

export interface LoadedOutbox {
  pending: PendingState;
  messages: number;
  /** What had to be set aside or repaired, for the log. */
  problems: string[];
}

export interface OldestMessage {
  message?: OutboxMessage;
  /** Messages in the outbox, this one included. */
  count: number;
  problems: string[];
}

export function newMessageId(batch: number): string {
  return `m${String(batch).padStart(12, '0')}-${randomBytes(4).toString('hex')}`;
}

/** The valid part of a pending frame, as zod rebuilt it (unknown keys gone), and how many of its records were not. */
function salvagePending(frame: z.infer<typeof pendingFrameSchema>): { state: PendingState; bad: number; why?: string } {
  let bad = 0;
  let why: string | undefined;
  const valid = <T>(schema: z.ZodType<T>, values: readonly unknown[]): T[] =>
    values.flatMap((value) => {
      const parsed = schema.safeParse(value);
      if (parsed.success) return [parsed.data];
      bad += 1;
      why ??= firstIssue(parsed.error);
      return [];
    });
  const mailTimes = valid(epochMs, frame.mailTimes);
  const held = valid(heldEventSchema, frame.held ?? []);
  const [sent] = frame.sent === undefined ? [] : valid(ledgerSchema, [frame.sent]);
  const lasting = { ...(held.length > 0 && { held }), ...(sent && { sent }) };
  const g = frame.group;
  if (!g) return { state: { batch: frame.batch, mailTimes, ...lasting }, bad, why };
  const first = valid(mailEventSchema, g.first);
  const last = valid(mailEventSchema, g.last);
  // The headline is one of the group's events, listed or not: a bad one is a bad record too.
  const [headline] = valid(mailEventSchema, [g.headline]);
  if (bad === 0) return { state: { batch: frame.batch, group: { ...g, first, last, headline: headline! }, mailTimes, ...lasting }, bad, why };
  // Rebuilt from the events that passed: their tally, headline and ids are then exact again.
  let state: PendingState = { batch: frame.batch, mailTimes, ...lasting };
  for (const event of [...first, ...last]) state = addEvent(state, event, g.openedAt);
  return { state, bad, why };
}

/**
 * The mailer's lasting state in one directory: a file per composed message, and `pending.json`
 * with the events not yet in a message, the hour's mail times and the next batch number. Every
 * write is whole (temp file, fsync, rename), so a crash leaves either the old file or the new one;
 * every read is checked (a regular file of root's, bounded, of the right shape), and what fails
 * is moved aside as `FILE.bad-STAMP`, counted, and never sent.
 * Not safe for concurrent calls: the mailer runs them one at a time.
 */
export class Outbox {
  constructor(readonly dir: string) {}

  private write(name: string, data: string): Promise<void> {
    return writeAtomic(join(this.dir, name), data);
  }

  private async messageNames(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => MESSAGE_FILE.test(n)).sort();
  }

  /** The file's JSON; undefined when it is gone; throws what makes it unusable, for quarantine. */
  private async readJson(name: string): Promise<unknown> {
    let data: Buffer;
    try {
      data = await readChecked(join(this.dir, name), { maxBytes: MAX_FILE_BYTES });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return JSON.parse(data.toString('utf8')) as unknown;
  }

  /** Moves a file aside; returns the problem for the log. */
  private async setAside(name: string, kind: string, why: string): Promise<string> {
    const kept = await quarantineFile(join(this.dir, name), kind);
    return `${join(this.dir, name)}: ${why}; kept as ${kept}`;
  }

  /**
   * Reads the directory at start. A crash between writing a message and saving what stayed
   * pending leaves the pending group in a message already: it is dropped here, never sent twice.
   */
  async load(): Promise<LoadedOutbox> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await checkDirectory(this.dir);
    const problems: string[] = [];
    for (const name of await readdir(this.dir)) {
      // A write cut short; unlink removes a planted link or FIFO itself, never what it points to.
      if (name.startsWith(TEMP_PREFIX)) await unlink(join(this.dir, name)).catch((err: Error) => problems.push(`${join(this.dir, name)}: ${err.message}`));
    }
    const names = await this.messageNames();
    const batches = new Set(names.map((n) => Number(MESSAGE_FILE.exec(n)![2])));
    const lastComposed = Math.max(0, ...batches);
    let pending = await this.readPending(problems);
    if (pending.batch <= lastComposed) {
      pending = { ...pending, batch: lastComposed + 1, group: batches.has(pending.batch) ? undefined : pending.group };
      // Saved before any message is sent: once that message is gone, nothing else would tell.
      await this.savePending(pending);
    }
    return { pending, messages: names.length, problems };
  }

  private async readPending(problems: string[]): Promise<PendingState> {
    let frame: z.infer<typeof pendingFrameSchema>;
    try {
      const value = await this.readJson(PENDING_FILE);
      if (value === undefined) return emptyPending();
      const parsed = pendingFrameSchema.safeParse(value);
      if (!parsed.success) throw new Error(`not an outbox state file: ${firstIssue(parsed.error)}`);
      frame = parsed.data;
    } catch (err) {
      if (isIoError(err)) throw err;
      problems.push(`${await this.setAside(PENDING_FILE, PENDING_FILE, (err as Error).message)}, starting with no pending events`);
      return emptyPending();
    }
    const { state, bad, why } = salvagePending(frame);
    if (bad > 0) {
      const kept = await quarantineFile(join(this.dir, PENDING_FILE), PENDING_FILE, bad);
      // The good records go back in place at once: the next start must not find them missing.
      await this.savePending(state);
      problems.push(`${join(this.dir, PENDING_FILE)}: ${bad} bad record(s) (${why}); the file is kept as ${kept}, the ${state.group?.count ?? 0} good pending event(s) and ${state.mailTimes.length} mail time(s) kept`);
    }
    return state;
  }

  async savePending(state: PendingState): Promise<void> {
    await this.write(PENDING_FILE, `${JSON.stringify({ v: 1, ...state })}\n`);
  }

  /** The message first, then what stays pending: see `load` for a crash in between. */
  async commit(message: OutboxMessage, pending: PendingState): Promise<void> {
    await this.write(`${message.id}.json`, `${JSON.stringify(message)}\n`);
    await this.savePending(pending);
  }

  /** The message to send next; unusable ones are set aside on the way. */
  async oldest(): Promise<OldestMessage> {
    const names = await this.messageNames();
    const problems: string[] = [];
    for (const [index, name] of names.entries()) {
      let why: string;
      try {
        const value = await this.readJson(name);
        if (value === undefined) continue;
        const parsed = outboxMessageSchema.safeParse(value);
        if (parsed.success && `${parsed.data.id}.json` === name) return { message: parsed.data, count: names.length - index, problems };
        why = parsed.success ? `holds message ${parsed.data.id}, not its own` : `not an outbox message: ${firstIssue(parsed.error)}`;
      } catch (err) {
        if (isIoError(err)) throw err;
        why = (err as Error).message;
      }
      problems.push(await this.setAside(name, 'outbox-message', why));
    }
    return { count: 0, problems };
  }

  async remove(id: string): Promise<void> {
    await rm(join(this.dir, `${id}.json`), { force: true });
  }
}

/** A failure of the disk or of permissions, not of the file's content: nothing to set aside for. */
function isIoError(err: unknown): boolean {
  return !(err instanceof UnsafeFileError) && typeof (err as NodeJS.ErrnoException).code === 'string';
}
