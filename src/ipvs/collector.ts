import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import type { IpvsHealth } from '../model/ipvs.js';
import type { CompactIpvsTable, IpvsReader } from '../model/ipvs-backends.js';

export type IpvsPath = 'auto' | 'netlink' | 'procfs';

/** How each path's reader is made; the daemon passes the real ones, tests may point them anywhere. */
export interface IpvsReaders {
  netlink: () => IpvsReader;
  procfs: () => IpvsReader;
}

export interface IpvsScrape {
  /** The table of the last read; undefined when it failed. */
  table?: CompactIpvsTable;
  health: IpvsHealth;
}

/** How many problems of one read are logged; the rest are counted. */
const LOGGED_PROBLEMS = 5;

/**
 * Owns the reader: picks the path (`auto`: generic netlink, else procfs when netlink is refused
 * or absent), reads the table at scrape time — one read at a time, shared by concurrent scrapes —
 * and keeps the health the metrics show. A host without IPVS logs that once and shows up 0.
 */
export class IpvsCollector implements DaemonPart {
  readonly name = 'ipvs';
  private reader?: IpvsReader;
  private readonly flight = new CoalescingTask(() => this.readOnce());
  private last: IpvsScrape = { health: { up: false, durationSeconds: 0, problemsTotal: 0 } };
  private problemsTotal = 0;
  /** What was last logged, so the same failure or the same problems are not logged at every scrape. */
  private lastLogged?: string;

  constructor(
    private readonly path: IpvsPath,
    private readonly readers: IpvsReaders,
    private readonly log: Logger,
  ) {}

  /** Chooses the path and reads once, so the log tells at start what this host offers. */
  async start(): Promise<void> {
    await this.scrape();
  }

  async stop(): Promise<void> {
    await this.flight.idle();
    this.reader?.close?.();
    this.reader = undefined;
  }

  /** A fresh read of the table (a read already running is shared). */
  async scrape(): Promise<IpvsScrape> {
    await this.flight.run();
    const result = this.last;
    // Every scrape waiting on this read resumes before the next macrotask; after that the table
    // is theirs alone, so the collector does not hold a second 100k-backend table between scrapes.
    setImmediate(() => {
      if (this.last === result) this.last = { health: result.health };
    });
    return result;
  }

  private async readOnce(): Promise<void> {
    const started = performance.now();
    let table: CompactIpvsTable | undefined;
    try {
      table = this.reader ? await this.reader.read() : await this.choose();
    } catch (err) {
      this.logOnce('warn', { error: (err as Error).message, path: this.reader?.path }, 'IPVS table unreadable; kawatch_ipvs_up is 0 until it is');
      if (this.path === 'auto') this.drop();
    }
    if (table) {
      this.problemsTotal += table.problems.length;
      if (table.problems.length > 0) {
        const shown = table.problems.slice(0, LOGGED_PROBLEMS).map((p) => `${p.where}: ${p.message}`);
        this.logOnce('warn', { path: this.reader?.path, problems: table.problems.length, first: shown }, 'IPVS table has lines or attributes that were left out');
      } else {
        this.logOnce('info', { path: this.reader?.path }, 'IPVS table read');
      }
    }
    const health: IpvsHealth = { up: table !== undefined, durationSeconds: (performance.now() - started) / 1000, problemsTotal: this.problemsTotal };
    if (this.reader) health.path = this.reader.path;
    this.last = { table, health };
  }

  /** Tries the configured path, or in `auto` netlink then procfs; keeps the first that reads. */
  private async choose(): Promise<CompactIpvsTable> {
    const candidates: ('netlink' | 'procfs')[] = this.path === 'auto' ? ['netlink', 'procfs'] : [this.path];
    const failures: string[] = [];
    for (const path of candidates) {
      let reader: IpvsReader | undefined;
      try {
        reader = this.readers[path]();
        const table = await reader.read();
        this.reader = reader;
        this.log.info({ path, ...(failures.length ? { instead: failures } : {}) }, `reading IPVS through ${path}`);
        return table;
      } catch (err) {
        reader?.close?.();
        failures.push(`${path}: ${(err as Error).message}`);
      }
    }
    throw new Error(failures.join('; '));
  }

  private drop(): void {
    this.reader?.close?.();
    this.reader = undefined;
  }

  private logOnce(level: 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
    const key = `${message} ${JSON.stringify(fields)}`;
    if (key === this.lastLogged) return;
    this.lastLogged = key;
    this.log[level](fields, message);
  }
}
