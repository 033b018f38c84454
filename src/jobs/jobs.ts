import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import type { AuditFinding } from '../mail/event.js';
import type { Verdict } from '../watchdog/diagnose.js';
import { verdictText } from '../watchdog/verdict-text.js';
import { CronSchedule, wakeUp } from './cron-schedule.js';
import { digest, type History } from './history.js';

/** A timer waits at most this long (setTimeout's own bound is some 24 days), then waits again. */
const MAX_WAIT_MS = 86_400_000;

/** What the audit reports: everything wrong with the group's configuration or its current layout. */
const AUDITED: ReadonlySet<Verdict['kind']> = new Set(['config-mismatch', 'equal-priority', 'not-on-preferred-owner', 'no-master', 'split-brain', 'vip-on-several-nodes', 'vip-absent-on-master']);

export interface JobsOptions {
  node: string;
  /** Cron expressions (node-cron syntax); undefined switches the job off. */
  digest?: string;
  audit?: string;
  /** The failover drill (jobs.drill): off unless configured. */
  drill?: string;
}

export interface JobsContext {
  history: History;
  verdicts: () => Verdict[];
  /** Brings the state up to date from keepalived itself (a fresh dump), before the audit looks. */
  reconcile: () => Promise<void>;
  /** Mails a report; undefined without mail, then reports go to the log only. */
  report?: (subject: string, text: string, eventCount: number) => Promise<void>;
  /**
   * Mails the audit's findings, once for the directors that hear each other (`at`: when the
   * schedule fired, the same on each of them); undefined without mail.
   */
  audit?: (findings: AuditFinding[], at: number) => Promise<void>;
  /** Drills every instance this director is MASTER of, one at a time, and waits for the reports. */
  drill?: () => Promise<void>;
  log: Logger;
}

/** One job on its cron schedule: never two runs of it at once, the run told the slot it is for. */
class ScheduledJob {
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly job: string,
    private readonly schedule: CronSchedule,
    private readonly work: (slot: number) => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.wait(this.schedule.next(Date.now()));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private wait(slot: number): void {
    this.timer = setTimeout(() => this.wake(slot), Math.min(Math.max(0, slot - Date.now()), MAX_WAIT_MS));
  }

  private wake(expected: number): void {
    const plan = wakeUp(expected, Math.floor(Date.now() / 1000) * 1000, (after) => this.schedule.next(after));
    if (plan.missed !== undefined) this.log.warn({ job: this.job, slot: new Date(plan.missed).toISOString() }, 'scheduled job missed: the timer woke too late');
    if (plan.run !== undefined) {
      if (this.busy) {
        this.log.warn({ job: this.job }, 'scheduled job still running: this run is skipped');
      } else {
        this.busy = true;
        void this.work(plan.run).finally(() => (this.busy = false));
      }
    }
    if (this.timer) this.wait(plan.next);
  }
}

/** The scheduled jobs: a periodic digest of what happened, a periodic reconciliation and configuration audit, and the failover drill. */
export class Jobs implements DaemonPart {
  readonly name = 'jobs';
  private jobs: ScheduledJob[] = [];
  private lastDigest = Date.now();

  constructor(
    private readonly options: JobsOptions,
    private readonly context: JobsContext,
  ) {}

  async start(): Promise<void> {
    const { digest: digestAt, audit, drill } = this.options;
    const runDrill = this.context.drill;
    const add = (job: string, expression: string, work: (slot: number) => Promise<void>) =>
      this.jobs.push(new ScheduledJob(job, new CronSchedule(expression), (slot) => this.guard(job, () => work(slot)), this.context.log));
    if (drill && runDrill) add('drill', drill, runDrill);
    if (digestAt) add('digest', digestAt, () => this.runDigest());
    if (audit) add('audit', audit, (slot) => this.runAudit(slot));
    for (const job of this.jobs) job.start();
  }

  async stop(): Promise<void> {
    for (const job of this.jobs) job.stop();
    this.jobs = [];
  }

  private async guard(job: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.context.log.error({ job, error: (err as Error).message }, 'scheduled job failed');
    }
  }

  async runDigest(): Promise<void> {
    const now = Date.now();
    const recent = this.context.history.since(this.lastDigest);
    const { subject, text, count } = digest(this.options.node, recent, this.lastDigest, now, this.context.verdicts().map(verdictText));
    this.lastDigest = now;
    this.context.log.info({ job: 'digest', recent: count }, subject);
    await this.context.report?.(subject, text, count);
  }

  /** `scheduledAt`: when the schedule fired (each director's run starts a little apart). */
  async runAudit(scheduledAt = Date.now()): Promise<void> {
    await this.context.reconcile();
    const findings = this.context.verdicts().filter((v): v is AuditFinding => AUDITED.has(v.kind));
    for (const f of findings) this.context.log.warn({ job: 'audit', verdict: f }, `audit: ${verdictText(f)}`);
    if (findings.length === 0) {
      this.context.log.info({ job: 'audit' }, 'audit: nothing to report');
      return;
    }
    await this.context.audit?.(findings, scheduledAt);
  }
}
