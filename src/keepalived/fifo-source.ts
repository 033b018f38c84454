import { lstat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { run } from '../core/exec.js';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { dirname } from 'node:path';
import { directoryProblem, lstatOrUndefined, openFifo } from '../core/safe-file.js';
import type { StateStore } from '../state/store.js';
import { parseFifoLine } from './fifo-line.js';
import { formatVersion, type CapabilitiesProbe } from './capabilities.js';

const MAX_PENDING = 64 * 1024;

interface OpenFifo {
  ino: number;
  socket: Socket;
}

/**
 * Reads keepalived's notify FIFOs continuously. Each FIFO is opened read-write and non-blocking:
 * the open never waits for keepalived, and the pipe never reaches end-of-file when keepalived
 * restarts. A FIFO that is removed or replaced (keepalived recreates its own on reload) is
 * reopened by a periodic check of the path's inode.
 */
export class FifoSource implements DaemonPart {
  readonly name = 'fifo' as const;
  private readonly open = new Map<string, OpenFifo>();
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;

  constructor(
    private readonly paths: readonly string[],
    /** `checkProcess` runs before each state line: see ProcessSource.poll. */
    private readonly options: { create: boolean; checkIntervalMs: number; capabilities?: CapabilitiesProbe; checkProcess?: () => void },
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    if (await this.keepalivedHasNoFifo()) return;
    this.store.apply({ type: 'source-enabled', source: 'fifo', enabled: true });
    await this.checkDirectories();
    await this.check();
    this.timer = setInterval(() => {
      this.checking ??= this.check().finally(() => (this.checking = undefined));
    }, this.options.checkIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
    for (const path of [...this.open.keys()]) this.close(path);
    this.store.apply({ type: 'source-enabled', source: 'fifo', enabled: false });
  }

  /**
   * A keepalived without vrrp_notify_fifo (before 1.3.6) never writes a line: the source says so
   * once and stays off instead of failing at every check. Capabilities unknown: the FIFO is read.
   */
  private async keepalivedHasNoFifo(): Promise<boolean> {
    const caps = await this.options.capabilities?.get().catch(() => undefined);
    if (!caps || caps.notifyFifo) return false;
    const version = formatVersion(caps.version);
    this.log.warn({ version }, `keepalived ${version} has no notify FIFO (vrrp_notify_fifo came with 1.3.6): the FIFO source is off; the notify hook and the dump report its state`);
    this.store.apply({ type: 'source-enabled', source: 'fifo', enabled: false });
    return true;
  }

  /** Whoever may write to a FIFO's directory could put their own FIFO there and speak for keepalived. */
  private async checkDirectories(): Promise<void> {
    const problems: string[] = [];
    for (const dir of new Set(this.paths.map((p) => dirname(p)))) {
      // One not there yet (keepalived not started, /run not populated) is the periodic check's business.
      if (!(await lstatOrUndefined(dir))) continue;
      const problem = await directoryProblem(dir);
      if (problem) problems.push(problem);
    }
    if (problems.length) throw new Error(`unsafe ${problems.join('; ')}`);
  }

  private async check(): Promise<void> {
    let healthy = true;
    for (const path of this.paths) {
      try {
        await this.ensureOpen(path);
      } catch (err) {
        healthy = false;
        this.close(path);
        this.fail(`${path}: ${(err as Error).message}`);
      }
    }
    if (healthy) this.store.apply({ type: 'source-ok', source: 'fifo', at: Date.now() });
  }

  private async ensureOpen(path: string): Promise<void> {
    let st = await lstatOrUndefined(path);
    if (!st) {
      if (!this.options.create) throw new Error('does not exist (enable sources.fifo.create or start keepalived first)');
      await run('mkfifo', ['-m', '0600', path]);
      this.log.info({ path }, 'created notify FIFO');
      st = await lstat(path);
    }
    if (!st.isFIFO()) throw new Error('exists but is not a FIFO; refusing to touch it');
    const current = this.open.get(path);
    if (current && current.ino === st.ino) return;
    if (current) this.log.info({ path }, 'notify FIFO was replaced, reopening');
    this.close(path);
    // Checked again on the descriptor: the path may have been swapped since the lstat.
    const { fd, ino } = openFifo(path);
    const socket = new Socket({ fd, readable: true, writable: false });
    this.open.set(path, { ino, socket });
    this.read(path, socket);
  }

  private read(path: string, socket: Socket): void {
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > MAX_PENDING) {
        this.reject(path, `dropped ${pending.length} bytes without a newline`);
        pending = '';
      }
      // A line carries no time: this is when it was read, which after a restart can be long after
      // keepalived wrote it. The reducer takes it as such (state/identity.ts), never as keepalived's time.
      const at = Date.now();
      for (const line of lines) {
        if (line.trim() === '') continue;
        const parsed = parseFifoLine(line);
        if (!parsed.ok) {
          this.reject(path, parsed.error);
          continue;
        }
        if (parsed.value.kind === 'state') this.options.checkProcess?.();
        this.store.apply({ type: 'report', source: 'fifo', at, report: parsed.value });
      }
    });
    socket.on('error', (err) => {
      this.fail(`${path}: ${err.message}`);
      this.close(path);
    });
  }

  private close(path: string): void {
    this.open.get(path)?.socket.destroy();
    this.open.delete(path);
  }

  private reject(path: string, error: string): void {
    this.log.warn({ path, error }, 'FIFO line rejected');
    this.store.apply({ type: 'source-rejected', source: 'fifo', at: Date.now(), error: `${path}: ${error}` });
  }

  private fail(error: string): void {
    this.log.warn({ error }, 'notify FIFO problem');
    this.store.apply({ type: 'source-error', source: 'fifo', at: Date.now(), error });
  }
}
