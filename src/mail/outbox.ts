import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { emptyPending, type PendingState } from './schedule.js';

/** A composed mail waiting for the SMTP server, one file each: `<id>.json`. */
export interface OutboxMessage {
  v: 1;
  /** Stable across retries and restarts: the file name and the Message-ID header come from it. */
  id: string;
  batch: number;
  composedAt: number;
  eventCount: number;
  subject: string;
  text: string;
}

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

/** The batch number leads, zero-padded: names sort in the order the messages were composed. */
const MESSAGE_FILE = /^(m(\d{12})-[0-9a-f]{8})\.json$/;
const PENDING_FILE = 'pending.json';
const TMP_PREFIX = '.tmp-';
/** Files that cannot be read are renamed with this suffix, kept for a human and out of the queue. */
const SET_ASIDE_SUFFIX = '.bad';

export function newMessageId(batch: number): string {
  return `m${String(batch).padStart(12, '0')}-${randomBytes(4).toString('hex')}`;
}

function isOutboxMessage(m: Partial<OutboxMessage>): m is OutboxMessage {
  return (
    m.v === 1 &&
    typeof m.id === 'string' &&
    Number.isInteger(m.batch) &&
    typeof m.composedAt === 'number' &&
    typeof m.eventCount === 'number' &&
    typeof m.subject === 'string' &&
    typeof m.text === 'string'
  );
}

function isPendingState(p: Partial<PendingState> & { v?: unknown }): p is PendingState {
  const g = p.group;
  const groupOk =
    g === undefined ||
    (typeof g === 'object' &&
      typeof g.openedAt === 'number' &&
      typeof g.count === 'number' &&
      Array.isArray(g.first) &&
      Array.isArray(g.last) &&
      typeof g.headline === 'object' &&
      typeof g.tally === 'object' &&
      Array.isArray(g.instances) &&
      Array.isArray(g.topics) &&
      Array.isArray(g.started) &&
      Array.isArray(g.transient));
  return p.v === 1 && Number.isInteger(p.batch) && p.batch! >= 1 && Array.isArray(p.mailTimes) && p.mailTimes.every((t) => typeof t === 'number') && groupOk;
}

/**
 * The mailer's lasting state in one directory: a file per composed message, and `pending.json`
 * with the events not yet in a message, the hour's mail times and the next batch number. Every
 * write is whole (temp file, fsync, rename), so a crash leaves either the old file or the new one.
 * Not safe for concurrent calls: the mailer runs them one at a time.
 */
export class Outbox {
  constructor(readonly dir: string) {}

  private async write(name: string, data: string): Promise<void> {
    const tmp = join(this.dir, `${TMP_PREFIX}${name}`);
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(data);
      // Renamed before its data reached the disk, a file could come back empty after a power cut.
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, join(this.dir, name));
  }

  private async setAside(name: string): Promise<void> {
    await rename(join(this.dir, name), join(this.dir, `${name}${SET_ASIDE_SUFFIX}`));
  }

  private async messageNames(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => MESSAGE_FILE.test(n)).sort();
  }

  /**
   * Reads the directory at start. A crash between writing a message and saving what stayed
   * pending leaves the pending group in a message already: it is dropped here, never sent twice.
   */
  async load(): Promise<LoadedOutbox> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const problems: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(TMP_PREFIX)) await rm(join(this.dir, name), { force: true }); // a write cut short
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
    let text: string;
    try {
      text = await readFile(join(this.dir, PENDING_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyPending();
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as Partial<PendingState> & { v?: unknown };
      if (isPendingState(parsed)) {
        const { batch, group, mailTimes } = parsed;
        return { batch, group, mailTimes };
      }
    } catch {
      // reported below, like any other unreadable state
    }
    await this.setAside(PENDING_FILE);
    problems.push(`${join(this.dir, PENDING_FILE)} is not an outbox state file; kept as ${PENDING_FILE}${SET_ASIDE_SUFFIX}, starting with no pending events`);
    return emptyPending();
  }

  async savePending(state: PendingState): Promise<void> {
    await this.write(PENDING_FILE, `${JSON.stringify({ v: 1, ...state })}\n`);
  }

  /** The message first, then what stays pending: see `load` for a crash in between. */
  async commit(message: OutboxMessage, pending: PendingState): Promise<void> {
    await this.write(`${message.id}.json`, `${JSON.stringify(message)}\n`);
    await this.savePending(pending);
  }

  /** The message to send next; unreadable ones are set aside on the way. */
  async oldest(): Promise<OldestMessage> {
    const names = await this.messageNames();
    const problems: string[] = [];
    for (const [index, name] of names.entries()) {
      try {
        const message = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as Partial<OutboxMessage>;
        if (isOutboxMessage(message) && `${message.id}.json` === name) return { message, count: names.length - index, problems };
      } catch {
        // set aside below
      }
      await this.setAside(name);
      problems.push(`${join(this.dir, name)} is not an outbox message; kept as ${name}${SET_ASIDE_SUFFIX}`);
    }
    return { count: 0, problems };
  }

  async remove(id: string): Promise<void> {
    await rm(join(this.dir, `${id}.json`), { force: true });
  }
}
