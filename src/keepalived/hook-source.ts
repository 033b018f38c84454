import { existsSync, readdirSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import { checkDirectory, readCheckedSync, UnsafeFileError } from '../core/safe-file.js';
import type { StateStore } from '../state/store.js';
import { parseNotifyArgs } from './notify-args.js';
import { parseSpoolRecord, SPOOL_SUFFIX } from './spool.js';

/** Safety net for inotify overflows; the watcher normally wakes the drain within a millisecond. */
const RESCAN_MS = 5000;
/** A record is a few arguments; anything much larger is not one, and is refused unread. */
const MAX_SPOOL_FILE_BYTES = 64 * 1024;

/**
 * Follows `kawatch notify` through its spool directory: every hook writes one file, this part
 * validates and applies the files in the order the hooks ran and removes each once applied, so
 * events raised while the daemon was down are replayed at start, exactly once.
 */
export class HookSource implements DaemonPart {
  readonly name = 'hook' as const;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private readonly drainer = new CoalescingTask(() => this.drainOnce());
  private toldFutureStamp = false;

  /** `checkProcess` runs before each state report: see ProcessSource.poll. */
  constructor(
    private readonly spoolDir: string,
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly checkProcess?: () => void,
  ) {}

  async start(): Promise<void> {
    await mkdir(join(this.spoolDir, 'rejected'), { recursive: true, mode: 0o700 });
    await checkDirectory(this.spoolDir);
    await checkDirectory(join(this.spoolDir, 'rejected'));
    this.store.apply({ type: 'source-enabled', source: 'hook', enabled: true });
    // Watch before the first drain so nothing written in between is missed. `kawatch notify` writes
    // a dot-file and renames it into place: only a record that is there wakes the drain (or an event
    // without a name: an overflow), so no pass runs on the temporary file, making the record wait
    // behind it, nor on the removal of a record just applied.
    this.watcher = watch(this.spoolDir, (_event, name) => {
      if (typeof name === 'string' && (name.startsWith('.') || !existsSync(join(this.spoolDir, name)))) return;
      void this.drain();
    });
    this.watcher.on('error', (err) => this.fail(`watching ${this.spoolDir}: ${err.message}`));
    this.timer = setInterval(() => void this.drain(), RESCAN_MS);
    await this.drain();
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    clearInterval(this.timer);
    await this.drainer.idle();
    this.store.apply({ type: 'source-enabled', source: 'hook', enabled: false });
  }

  /** A wake-up during a drain runs one more pass after it. */
  drain(): Promise<void> {
    return this.drainer.run();
  }

  /**
   * The listing and each record are read without the thread pool: a spool holds a few small files,
   * and a round trip through the pool for each step was most of the time from the rename to the
   * transition applied (bench/latency.ts, stage "spool file in place → applied").
   */
  private async drainOnce(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.spoolDir).filter((n) => n.endsWith(SPOOL_SUFFIX) && !n.startsWith('.')).sort();
    } catch (err) {
      this.fail(`reading spool ${this.spoolDir}: ${(err as Error).message}`);
      return;
    }
    for (const name of names) await this.applyFile(name);
    this.store.apply({ type: 'source-ok', source: 'hook', at: Date.now() });
  }

  private async applyFile(name: string): Promise<void> {
    const path = join(this.spoolDir, name);
    const problem = this.readAndApply(path, name);
    if (problem === null) return;
    if (problem) {
      // Keep the evidence: an operator can read what keepalived actually passed.
      this.log.warn({ file: name, error: problem }, 'notify event rejected');
      this.store.apply({ type: 'source-rejected', source: 'hook', at: Date.now(), error: problem });
      await rename(path, join(this.spoolDir, 'rejected', name)).catch(() => unlink(path).catch(() => {}));
      return;
    }
    // Removed before the next record is read, so records queued behind this one wait for no round trip.
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(`removing ${path}: ${(err as Error).message}`);
    }
  }

  /** Returns why the file is refused, if it is; leaves it in place (returns null) when it cannot be read now. */
  private readAndApply(path: string, name: string): string | undefined | null {
    let data: Buffer;
    try {
      data = readCheckedSync(path, { maxBytes: MAX_SPOOL_FILE_BYTES });
    } catch (err) {
      // A link, a FIFO or a huge file planted in the spool is refused unread, and set aside.
      if (err instanceof UnsafeFileError) return err.message;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(`reading ${path}: ${(err as Error).message}`);
      return null;
    }
    try {
      const record = parseSpoolRecord(data);
      const parsed = parseNotifyArgs(record.args);
      if (!parsed.ok) return `kawatch notify ${JSON.stringify(record.args)} rejected: ${parsed.error.split('\n')[0]}`;
      if (parsed.value.kind === 'state') this.checkProcess?.();
      this.store.apply({ type: 'report', source: 'hook', at: this.clamp(record.at, name), report: parsed.value });
      return undefined;
    } catch (err) {
      return `${path}: ${(err as Error).message}`;
    }
  }

  /**
   * The record's time orders it against the other sources; one stamped in the future (a clock
   * that jumped back, or a forged file) would outrank every later dump, so it counts as now.
   */
  private clamp(at: number, name: string): number {
    const now = Date.now();
    if (at <= now) return at;
    if (!this.toldFutureStamp) {
      this.toldFutureStamp = true;
      this.log.warn({ file: name, stampedAt: at, now }, 'spool record stamped in the future; taken as of now (said once)');
    }
    return now;
  }

  private fail(error: string): void {
    this.log.warn({ error }, 'notify hook problem');
    this.store.apply({ type: 'source-error', source: 'hook', at: Date.now(), error });
  }
}
