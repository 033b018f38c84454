import { createHmac } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../core/exec.js';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import { readSecret } from '../core/secret.js';
import type { Change } from '../state/snapshot.js';
import { readChecked } from '../core/safe-file.js';
import type { StateStore } from '../state/store.js';
import { DumpError, parseDump } from './dump.js';
import { type DumpInstance } from '../model/vrrp.js';
import { keepalivedTmpdir, probeKeepalived } from './process.js';

/** File timestamps use the kernel's coarse clock: two dumps closer than a few jiffies could share an mtime. */
const MIN_GAP_MS = 25;
const POLL_MS = 5;
const TRANSITION_DEBOUNCE_MS = 10;
/**
 * Far above any real dump (a few hundred bytes per instance), far below what would hurt: the dump
 * lives in keepalived's TMPDIR, /tmp by default, where anyone may put a file of any size first.
 */
const MAX_DUMP_BYTES = 16 * 1024 * 1024;

/** The dump as keepalived (root) wrote it: a regular file of a trusted owner, never through a link. */
async function readDump(path: string): Promise<string> {
  return (await readChecked(path, { maxBytes: MAX_DUMP_BYTES })).toString('utf8');
}

export interface DumpSourceOptions {
  trigger: 'signal' | 'none';
  path?: string;
  signal: 'auto' | number;
  intervalMs: number;
  timeoutMs: number;
  onTransition: boolean;
  pidFile: string;
  procfs: string;
  binary: string;
  /** Keys the digest of each instance's authentication settings (the peer secret file); none, no digest. */
  authKeyFile?: string;
}

/** `keepalived --signum=JSON` prints the signal number this keepalived build uses for JSON dumps. */
export async function resolveJsonSignal(binary: string): Promise<number> {
  const stdout = await run(binary, ['--signum=JSON'], { timeoutMs: 5000 });
  const n = Number(stdout.trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${binary} --signum=JSON printed ${JSON.stringify(stdout.trim())}; is keepalived built with --enable-json?`);
  return n;
}

/** Distinguishes a freshly written dump from the previous one. */
async function fileVersion(path: string): Promise<bigint | undefined> {
  try {
    // The link itself, not what it points to: a link is refused when read, and must not look fresh.
    return (await lstat(path, { bigint: true })).mtimeNs;
  } catch {
    return undefined;
  }
}

/**
 * Takes keepalived JSON dumps without the races that make other exporters flap: one dump at a
 * time, and after signalling it waits (bounded) for a file that is newer than the previous one
 * and parses completely, instead of reading whatever is there after a fixed delay.
 */
export class DumpSource implements DaemonPart {
  readonly name = 'dump' as const;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private readonly dumper = new CoalescingTask(() => (this.stopped ? Promise.resolve() : this.dumpOnce()));
  private lastDumpAt = 0;
  private signal?: number;
  private digestAuth?: (material: string) => string;
  private stopped = false;
  /** The failure last logged: a dump that keeps failing the same way is said once, and counted each time. */
  private lastLoggedError?: string;

  constructor(
    private readonly options: DumpSourceOptions,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.store.apply({ type: 'source-enabled', source: 'dump', enabled: true });
    if (this.options.authKeyFile) {
      const key = await readSecret(this.options.authKeyFile);
      this.digestAuth = (material) => createHmac('sha256', key).update(`kawatch-auth-digest\n${material}`).digest('hex').slice(0, 16);
    }
    if (this.options.trigger === 'signal') {
      this.signal = this.options.signal === 'auto' ? await resolveJsonSignal(this.options.binary) : this.options.signal;
    }
    await this.request();
    this.timer = setInterval(() => void this.request(), this.options.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    await this.dumper.idle();
    this.store.apply({ type: 'source-enabled', source: 'dump', enabled: false });
  }

  /** A transition another source reported: a fresh dump confirms it and tells what it changed. */
  onStateChange(c: Change): void {
    if (this.stopped || !this.options.onTransition) return;
    // Not after STOP: a stopping keepalived no longer answers the signal.
    const news = c.type === 'transition' && c.source !== 'dump' && c.source !== 'process' && c.to !== 'STOP' && c.to !== 'DELETED';
    if (news || c.type === 'unattributed' || (c.type === 'process' && c.up)) this.requestSoon();
  }

  private requestSoon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.request(), TRANSITION_DEBOUNCE_MS);
  }

  /** Requests during a dump are folded into one more dump after it. */
  request(): Promise<void> {
    return this.dumper.run();
  }

  private async dumpOnce(): Promise<void> {
    const wait = this.lastDumpAt + MIN_GAP_MS - Date.now();
    if (wait > 0) await sleep(wait);
    this.lastDumpAt = Date.now();
    try {
      const instances = await this.take();
      if (instances) {
        this.store.apply({ type: 'dump', at: Date.now(), instances });
        this.store.apply({ type: 'source-ok', source: 'dump', at: Date.now() });
        this.lastLoggedError = undefined;
      }
    } catch (err) {
      const error = (err as Error).message;
      if (error !== this.lastLoggedError) this.log.warn({ error }, 'keepalived dump failed');
      this.lastLoggedError = error;
      this.store.apply({ type: 'source-error', source: 'dump', at: Date.now(), error });
    }
  }

  /** Returns undefined when keepalived is not running: no data, which is not a failure of this source. */
  private async take(): Promise<DumpInstance[] | undefined> {
    const { trigger, procfs, pidFile, timeoutMs } = this.options;
    if (trigger === 'none') {
      const path = this.options.path ?? '/tmp/keepalived.json';
      return parseDump(await readDump(path), path, this.digestAuth);
    }
    const proc = await probeKeepalived(pidFile, procfs);
    if (!proc.up || proc.pid === undefined) return undefined;
    const path = this.options.path ?? join(await keepalivedTmpdir(procfs, proc.pid), 'keepalived.json');
    const before = await fileVersion(path);
    process.kill(proc.pid, this.signal!);
    const deadline = Date.now() + timeoutMs;
    let lastProblem = 'keepalived wrote no new dump';
    while (Date.now() < deadline) {
      await sleep(POLL_MS);
      const version = await fileVersion(path);
      if (version === undefined || version === before) continue;
      try {
        return parseDump(await readDump(path), path, this.digestAuth);
      } catch (err) {
        // keepalived rewrites the file in place: a partial write parses as broken JSON for a moment.
        if (!(err instanceof DumpError)) throw err;
        lastProblem = err.message;
      }
    }
    // A keepalived that stopped while we waited left no data; that is not a failure of this source.
    if (!(await probeKeepalived(pidFile, procfs)).up) return undefined;
    throw new Error(`no fresh, complete dump at ${path} within ${timeoutMs} ms after signal ${this.signal} to pid ${proc.pid}: ${lastProblem}`);
  }
}
