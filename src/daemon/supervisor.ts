import { Counter, Gauge, type Registry } from 'prom-client';
import type { DaemonPart } from '../core/daemon-part.js';
import type { Logger } from '../core/log.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

/** The delay before the attempt after `failures` failed ones: doubling from 1 s, capped at a minute. */
export function retryDelayMs(failures: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, Math.min(failures - 1, 16)));
}

interface Supervised {
  part: DaemonPart;
  up: boolean;
  failures: number;
  lastError?: string;
  retry?: NodeJS.Timeout;
}

/**
 * Starts the parts in order and stops them in reverse, like node_exporter's per-collector success
 * for every part: a part that cannot start is reported (kawatch_part_up 0, one log line per distinct
 * reason) and retried with back-off, and never stops the others or the process.
 */
export class Supervisor {
  private supervised: Supervised[] = [];
  private readonly up: Gauge;
  private readonly starts: Counter;
  private readonly failures: Counter;
  private readonly uncaught: Counter;

  constructor(
    registry: Registry,
    private readonly log: Logger,
    /** Told of every failed start, for parts whose health has series of their own (the sources). */
    private readonly onFailure: (part: string, error: string) => void = () => {},
  ) {
    const read = () => this.supervised;
    this.up = new Gauge({
      name: 'kawatch_part_up',
      help: 'Whether the part of the daemon is running (1) or failed to start and is being retried (0).',
      labelNames: ['part'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of read()) this.set({ part: s.part.name }, s.up ? 1 : 0);
      },
    });
    this.starts = new Counter({ name: 'kawatch_part_starts_total', help: 'Successful starts of the part (restarts after a failure and reloads included).', labelNames: ['part'], registers: [registry] });
    this.uncaught = new Counter({ name: 'kawatch_uncaught_errors_total', help: 'Exceptions and rejections that escaped every part and were contained by the process; each is a bug worth reporting.', registers: [registry] });
    this.failures = new Counter({ name: 'kawatch_part_start_failures_total', help: 'Attempts to start the part that failed.', labelNames: ['part'], registers: [registry] });
  }

  /** The last line of containment: an exception no part caught is said and counted, and the daemon goes on. */
  contain(kind: 'exception' | 'rejection', err: unknown): void {
    this.uncaught.inc();
    this.log.error({ error: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined }, `uncaught ${kind} (contained)`);
  }

  /** Whether the part has started and not failed or stopped since: only then does it hear of changes. */
  isUp(part: DaemonPart): boolean {
    return this.supervised.some((s) => s.part === part && s.up);
  }

  /** Why each part that is not running failed last, by part name. */
  get failing(): ReadonlyMap<string, string> {
    return new Map(this.supervised.filter((s) => !s.up && s.lastError).map((s) => [s.part.name, s.lastError!]));
  }

  async startAll(parts: readonly DaemonPart[]): Promise<void> {
    this.supervised = parts.map((part) => ({ part, up: false, failures: 0 }));
    for (const s of this.supervised) {
      this.starts.inc({ part: s.part.name }, 0);
      this.failures.inc({ part: s.part.name }, 0);
      await this.attempt(s);
    }
  }

  async stopAll(): Promise<void> {
    const stopping = [...this.supervised].reverse();
    for (const s of stopping) clearTimeout(s.retry);
    for (const s of stopping) {
      // Down before it stops: from here on it hears of no change.
      s.up = false;
      await s.part.stop().catch((err: unknown) => this.log.error({ part: s.part.name, error: (err as Error).message }, 'stop failed'));
    }
    this.supervised = [];
  }

  private async attempt(s: Supervised): Promise<void> {
    try {
      await s.part.start();
    } catch (err) {
      this.failed(s, err);
      return;
    }
    if (!this.supervised.includes(s)) {
      // Stopped (a reload, SIGTERM) while it was starting.
      await s.part.stop().catch(() => undefined);
      return;
    }
    if (s.failures > 0) this.log.info({ part: s.part.name, attempts: s.failures + 1 }, 'part started after failing');
    s.up = true;
    s.failures = 0;
    s.lastError = undefined;
    this.starts.inc({ part: s.part.name });
  }

  private failed(s: Supervised, err: unknown): void {
    const error = err instanceof Error ? err.message : String(err);
    s.failures++;
    this.failures.inc({ part: s.part.name });
    const delay = retryDelayMs(s.failures);
    // Said once per distinct reason: a part failing every minute must not flood the log.
    if (error !== s.lastError) this.log.error({ part: s.part.name, error, retryInMs: delay }, 'part failed to start; retrying with back-off');
    s.lastError = error;
    this.onFailure(s.part.name, error);
    if (!this.supervised.includes(s)) return;
    s.retry = setTimeout(() => {
      // Release whatever the failed start left half-open before trying again.
      void s.part
        .stop()
        .catch(() => undefined)
        .then(() => (this.supervised.includes(s) ? this.attempt(s) : undefined));
    }, delay);
  }
}
