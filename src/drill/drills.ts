import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonPart } from '../core/daemon-part.js';
import type { Logger } from '../core/log.js';
import type { ProbeTarget } from '../core/probe-target.js';
import type { DrillMark, PeerView } from '../model/peer.js';
import type { StateStore } from '../state/store.js';
import { currentViews, type DiagnoseOptions, type Verdict } from '../watchdog/diagnose.js';
import { runControlCommand, writeTrackFile } from '../watchdog/fencer.js';
import { DrillJournal, mergeSummary, replay, summarize, type DrillEntry, type DrillReport, type DrillStart, type DrillSummary, type ProbeResult } from './journal.js';
import { abortReason, heldBy, placement, planDrill, weighedVerdicts, type AbortReason, type DrillMode, type DrillPlan, type DrillRequest, type GroupFacts } from './plan.js';
import { startProbe, type RunningProbe } from './probe.js';
import { failoverBoundMs, probeSurprises, reportLine, reportText } from './report.js';

export interface DrillsOptions {
  node: string;
  /** The configured peers. */
  members: string[];
  journalFile: string;
  trackDir: string;
  stopCommand: string[];
  startCommand?: string[];
  /** Longest each step may wait. */
  timeoutMs: number;
  probeIntervalMs: number;
  /** Instance → the service probed through its VIP when the request names none. */
  probes: Readonly<Record<string, ProbeTarget>>;
  /** How often the peers exchange views: a drill's mark has reached them one exchange later. */
  exchangeMs: number;
  diagnose: Omit<DiagnoseOptions, 'now'>;
}

export interface DrillsContext {
  store: StateStore;
  /** The verdicts standing now, as the watchdog holds them (transients waited out). */
  verdicts: () => Verdict[];
  /** Instances the watchdog holds demoted. */
  fenced: () => string[];
  /** Whether keepalived runs on this director now, read afresh (its pid file); by default the snapshot's last look. */
  keepalivedUp?: () => Promise<boolean>;
  /** Mails a report through the outbox; undefined without mail. */
  report?: (subject: string, text: string) => Promise<void>;
  /** Where the steps are written before they are taken; by default a DrillJournal on options.journalFile. */
  journal?: Pick<DrillJournal, 'read' | 'append'>;
  log: Logger;
}

export interface DrillsRequest {
  instances: string[];
  to?: string;
  probe?: ProbeTarget;
  mode: DrillMode;
  stay: boolean;
  dryRun: boolean;
  /** The scheduled job's: nobody waits for the answer, so a refusal is mailed like a report. */
  scheduled?: boolean;
}

export type DrillsAnswer =
  | { status: 'planned'; plans: DrillPlan[] }
  | { status: 'started'; id: string; instances: string[] }
  | { status: 'refused'; reasons: string[] };

/** What the API shows: the drill under way, and the reports kept. */
export interface DrillsStatus {
  running?: { id: string; instance: string; step: string; since: number };
  reports: DrillReport[];
}

/** Reports kept in memory for the API and the status page; the journal keeps them all. */
const KEPT_REPORTS = 50;
/** How often a running drill looks at the group: fine enough for a failover figure in tens of ms. */
const WATCH_INTERVAL_MS = 20;

function newDrillId(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

class Aborted extends Error {
  constructor(
    readonly reason: AbortReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/**
 * Failover drills: moves an instance off this director (its MASTER) through the watchdog's track
 * file or by stopping keepalived, watches the group until the expected director holds it, moves
 * it back, and reports. Every step is journaled before it is taken; a drill left unfinished by a
 * crash is restored when the daemon starts again, never repeated.
 */
export class Drills implements DaemonPart {
  readonly name = 'drill';
  private readonly journal: Pick<DrillJournal, 'read' | 'append'>;
  private reports: DrillReport[] = [];
  private summaryCache: DrillSummary = { failures: {} };
  private running?: { id: string; instance: string; step: string; since: number };
  private work?: Promise<void>;
  private stopping = false;
  private listeningSince = Date.now();

  constructor(
    private readonly options: DrillsOptions,
    private readonly context: DrillsContext,
  ) {
    this.journal = context.journal ?? new DrillJournal(options.journalFile);
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.listeningSince = Date.now();
    const { entries, problems } = await this.journal.read();
    for (const problem of problems) this.context.log.warn({ problem }, 'drill journal line skipped');
    const { restore, reports } = replay(entries);
    this.keep(...reports);
    for (const drill of restore) await this.restoreAfterRestart(drill);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.work;
    this.context.store.apply({ type: 'drill', drill: undefined });
  }

  get status(): DrillsStatus {
    return { running: this.running, reports: [...this.reports] };
  }

  get summary(): DrillSummary {
    return this.summaryCache;
  }

  /** Plans the drills; unless a dry run, starts them one after the other and answers at once. */
  request(req: DrillsRequest): DrillsAnswer {
    if (this.work) return { status: 'refused', reasons: [`a drill is running (${this.running?.instance ?? 'starting'}): one at a time`] };
    if (this.stopping) return { status: 'refused', reasons: ['the daemon is stopping'] };
    if (req.instances.length === 0) return { status: 'refused', reasons: ['name at least one instance'] };
    const plans: DrillPlan[] = [];
    for (const instance of req.instances) {
      const request = this.drillRequest(req, instance);
      const planned = planDrill(request, this.facts());
      if (!planned.ok) {
        // Kept and counted (a scheduled drill that cannot run is news); mailed only when scheduled: a caller has the answer.
        if (!req.dryRun) void this.finish(this.refusal(newDrillId(), request, Date.now(), planned.reasons), req.scheduled === true).catch((err: Error) => this.context.log.error({ error: err.message }, 'drill refusal not journaled'));
        return { status: 'refused', reasons: planned.reasons.map((r) => `${instance}: ${r}`) };
      }
      plans.push(planned.plan);
    }
    if (req.dryRun) return { status: 'planned', plans };
    const id = newDrillId();
    this.work = this.runAll(req, id).finally(() => (this.work = undefined));
    return { status: 'started', id, instances: req.instances };
  }

  /** Waits for the drills under way, if any (tests, the scheduled job). */
  async idle(): Promise<void> {
    await this.work;
  }

  /** Gives an instance left on its BACKUP by `--stay` back its priority. */
  async restore(instance: string, mode: DrillMode): Promise<void> {
    const left = await this.undo(mode, instance);
    // A track file the watchdog holds is not ours to give back; a keepalived that runs needs nothing.
    if (left && mode === 'track') throw new Error(left);
    this.context.log.info({ instance, mode }, left ? `drill: ${left}` : `drill: ${instance} restored on ${this.options.node}`);
  }

  private drillRequest(req: DrillsRequest, instance: string): DrillRequest {
    return { instance, to: req.to, probe: req.probe ?? this.options.probes[instance], mode: req.mode, stay: req.stay };
  }

  private views(): PeerView[] {
    const now = Date.now();
    return currentViews(this.context.store.snapshot, { ...this.options.diagnose, now, listeningSince: this.listeningSince }).views;
  }

  private facts(): GroupFacts {
    return {
      node: this.options.node,
      views: this.views(),
      members: this.options.members,
      verdicts: this.context.verdicts(),
      fenced: this.context.fenced(),
      running: this.context.store.snapshot.drill,
      canRestart: this.options.startCommand !== undefined,
    };
  }

  private async runAll(req: DrillsRequest, id: string): Promise<void> {
    for (const [index, instance] of req.instances.entries()) {
      if (this.stopping) return;
      const report = await this.runOne(this.drillRequest(req, instance), req.instances.length > 1 ? `${id}-${index + 1}` : id).catch((err: Error) => {
        this.context.log.error({ instance, error: err.message }, 'drill failed');
        return undefined;
      });
      // One instance at a time, and the next only after a clean one: an abort says the group needs a look first.
      if (report?.outcome !== 'success') return;
    }
  }

  private step(id: string, instance: string, step: string): void {
    this.running = { id, instance, step, since: Date.now() };
  }

  private async append(entry: DrillEntry): Promise<void> {
    await this.journal.append(entry);
  }

  private async runOne(request: DrillRequest, id: string): Promise<DrillReport> {
    const startedAt = Date.now();
    this.step(id, request.instance, 'announcing');
    try {
      let planned = planDrill(request, this.facts());
      if (!planned.ok) return await this.finish(this.refusal(id, request, startedAt, planned.reasons));
      // Tell the peers first, and go on only once each has had our mark in an exchange and shows none that goes first.
      const mark: DrillMark = { instance: request.instance, since: Date.now() };
      this.context.store.apply({ type: 'drill', drill: mark });
      const disagreed = await this.awaitAgreement(mark);
      if (disagreed) return await this.finish(this.refusal(id, request, startedAt, disagreed));
      // Still healthy once the peers know: the mark itself is ours, not someone else's drill.
      planned = planDrill(request, { ...this.facts(), running: undefined });
      if (!planned.ok) return await this.finish(this.refusal(id, request, startedAt, planned.reasons));
      return await this.execute(planned.plan, id, mark, startedAt);
    } finally {
      this.running = undefined;
      this.context.store.apply({ type: 'drill', drill: undefined });
    }
  }

  /** Undefined once every peer has exchanged views since the mark and none drills ahead of us; else why not. */
  private async awaitAgreement(mark: DrillMark): Promise<string[] | undefined> {
    const after = mark.since + this.options.exchangeMs;
    const deadline = Date.now() + this.options.timeoutMs;
    for (;;) {
      const facts = this.facts();
      const abort = abortReason({ now: Date.now(), deadline, facts, plan: mark, mark, stopping: this.stopping });
      if (abort) return [`${abort.detail}`];
      const peers = this.context.store.snapshot.peers;
      if (this.options.members.every((m) => (peers[m]?.lastExchange ?? 0) >= after)) return undefined;
      await sleep(WATCH_INTERVAL_MS);
    }
  }

  private refusal(id: string, request: DrillRequest, at: number, reasons: string[]): DrillReport {
    return {
      id,
      node: this.options.node,
      instance: request.instance,
      from: this.options.node,
      to: request.to ?? '',
      mode: request.mode,
      startedAt: at,
      endedAt: Date.now(),
      outcome: 'refused',
      reason: 'unhealthy',
      detail: reasons.slice(0, 64),
      boundMs: 0,
      stayed: false,
      unexpected: [],
    };
  }

  private async execute(plan: DrillPlan, id: string, mark: DrillMark, startedAt: number): Promise<DrillReport> {
    const target = this.facts().views.find((v) => v.node === plan.to)?.instances.find((i) => i.name === plan.instance);
    const boundMs = failoverBoundMs(plan.mode, plan.advertIntervalMs, target?.effectivePriority ?? target?.basePriority ?? 255);
    const unexpected = new Set<string>();
    await this.append({ step: 'start', id, at: Date.now(), instance: plan.instance, from: plan.from, to: plan.to, mode: plan.mode, stay: plan.stay, vips: plan.vips });
    this.context.log.warn({ drill: id, instance: plan.instance, from: plan.from, to: plan.to, mode: plan.mode }, `drill: moving ${plan.instance} from ${plan.from} to ${plan.to}`);
    let probe: RunningProbe | undefined = plan.probe && startProbe(plan.probe, this.options.probeIntervalMs, 3 * this.options.timeoutMs + 10_000);
    let failoverMs: number | undefined;
    let failbackMs: number | undefined;
    let probeResult: ProbeResult | undefined;
    const base = { id, node: this.options.node, instance: plan.instance, from: plan.from, to: plan.to, mode: plan.mode, startedAt, boundMs, stayed: false };
    // The plan was drawn before the journal waited for the disk; keepalived does not wait.
    const state = this.context.store.snapshot.instances[plan.instance]?.state;
    if (state !== 'MASTER') {
      await probe?.stop();
      const detail = `${plan.instance} left MASTER on its own (now ${state ?? 'unknown'}) before the drill moved it: nothing was touched`;
      return await this.finish({ ...base, endedAt: Date.now(), outcome: 'aborted', reason: 'error', detail: [detail], unexpected: [] });
    }
    try {
      this.step(id, plan.instance, 'moving');
      const movedAt = Date.now();
      await this.move(plan.mode, plan.instance);
      await this.watch(plan, mark, plan.to, unexpected);
      failoverMs = Date.now() - movedAt;
      await this.append({ step: 'moved', id, at: Date.now(), failoverMs });
      this.context.log.info({ drill: id, failoverMs }, `drill: ${plan.to} holds ${plan.instance} after ${failoverMs} ms`);
      if (plan.stay) {
        probeResult = await probe?.stop();
        probe = undefined;
        return await this.finish({ ...base, endedAt: Date.now(), outcome: 'success', detail: [], failoverMs, advertsLost: Math.floor(failoverMs / plan.advertIntervalMs), probe: probeResult, stayed: true, unexpected: [...unexpected] });
      }
      this.step(id, plan.instance, 'moving back');
      await this.append({ step: 'restoring', id, at: Date.now(), why: 'the drill is done' });
      const backAt = Date.now();
      const left = await this.undo(plan.mode, plan.instance);
      if (left) unexpected.add(left);
      let back: Aborted | undefined;
      try {
        await this.watch(plan, mark, plan.from, unexpected);
        failbackMs = Date.now() - backAt;
      } catch (err) {
        if (!(err instanceof Aborted)) throw err;
        // Already restored: the drill only stops watching, and says why.
        back = err;
        unexpected.add(`${plan.instance} was not seen back on ${plan.from}: ${err.detail}`);
      }
      probeResult = await probe?.stop();
      probe = undefined;
      const advertsLost = Math.floor(failoverMs / plan.advertIntervalMs);
      return await this.finish({ ...base, endedAt: Date.now(), outcome: back ? 'aborted' : 'success', reason: back?.reason, detail: back ? [back.detail] : [], failoverMs, failbackMs, advertsLost, probe: probeResult, unexpected: [...unexpected] });
    } catch (err) {
      const aborted = err instanceof Aborted ? err : new Aborted('error', (err as Error).message);
      this.context.log.warn({ drill: id, reason: aborted.reason, detail: aborted.detail }, `drill of ${plan.instance} aborted: ${aborted.detail}; restoring`);
      await this.append({ step: 'restoring', id, at: Date.now(), why: aborted.detail });
      await this.undo(plan.mode, plan.instance).then(
        (left) => left && unexpected.add(left),
        (e: Error) => unexpected.add(`restoring failed: ${e.message}`),
      );
      probeResult = await probe?.stop();
      return await this.finish({ ...base, endedAt: Date.now(), outcome: 'aborted', reason: aborted.reason, detail: [aborted.detail], failoverMs, advertsLost: failoverMs === undefined ? undefined : Math.floor(failoverMs / plan.advertIntervalMs), probe: probeResult, unexpected: [...unexpected] });
    }
  }

  private async move(mode: DrillMode, instance: string): Promise<void> {
    if (mode === 'track') await writeTrackFile(this.options.trackDir, instance, true);
    else await runControlCommand(this.options.stopCommand);
  }

  /**
   * Gives the instance back: its track file cleared, or keepalived started again. Says what it
   * left as it was, and why: a track file the watchdog has demoted the instance through since (its
   * restore comes later), or a keepalived that is running. `stopWaitMs`: how long a keepalived
   * told to stop may take to go, since starting it while the old one still exits would fail.
   */
  private async undo(mode: DrillMode, instance: string, stopWaitMs = this.options.timeoutMs): Promise<string | undefined> {
    if (mode === 'track') {
      if (this.context.fenced().includes(instance)) return `the watchdog holds ${instance} demoted: left to its restore`;
      await writeTrackFile(this.options.trackDir, instance, false);
      return undefined;
    }
    if (!this.options.startCommand) throw new Error('watchdog.start_command is not configured: start keepalived by hand');
    if (!(await this.keepalivedGone(stopWaitMs))) return `keepalived runs on ${this.options.node}: not started again`;
    await runControlCommand(this.options.startCommand);
    return undefined;
  }

  /** Whether keepalived is seen not running within `waitMs` (one look when 0). */
  private async keepalivedGone(waitMs: number): Promise<boolean> {
    const up = this.context.keepalivedUp ?? (async () => this.context.store.snapshot.keepalived.up);
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (!(await up())) return true;
      if (Date.now() >= deadline) return false;
      await sleep(WATCH_INTERVAL_MS);
    }
  }

  /**
   * Waits until `node` alone is MASTER holding every VIP in every director's account, noting what
   * it did not expect on the way; throws Aborted when the drill must stop (the abort rules hold
   * both ways: on the way back an abort ends the watch, the restore being done already).
   */
  private async watch(plan: DrillPlan, mark: DrillMark, node: string, unexpected: Set<string>): Promise<void> {
    const deadline = Date.now() + this.options.timeoutMs;
    const overlapSince = new Map<string, number>();
    let handover = new Map<string, number>();
    // VRRP's master-down interval: the longest a hand-over may take.
    const graceMs = 3 * plan.advertIntervalMs + 1000;
    for (;;) {
      const weighed = weighedVerdicts(this.context.verdicts(), plan.instance, handover, Date.now(), graceMs);
      handover = weighed.firstSeen;
      const facts = { ...this.facts(), verdicts: weighed.verdicts };
      if (heldBy(facts.views, plan, node, facts.members)) return;
      const seen = placement(facts.views, plan.instance);
      for (const m of seen.masters) if (m !== plan.from && m !== plan.to) unexpected.add(`${m} became MASTER of ${plan.instance}`);
      // Our own addresses are live and a peer's are as of its last push: a hand-over looks like an overlap for
      // the time a view takes to arrive. One lasting longer than an advert interval is a real one.
      const now = Date.now();
      for (const [vip, holders] of Object.entries(seen.holders)) {
        if (holders.length < 2) overlapSince.delete(vip);
        else if (now - (overlapSince.get(vip) ?? (overlapSince.set(vip, now), now)) > plan.advertIntervalMs) unexpected.add(`${vip} was on ${holders.join(' and ')} at once for more than an advert interval`);
      }
      const abort = abortReason({ now: Date.now(), deadline, facts, plan, mark, stopping: this.stopping });
      if (abort) throw new Aborted(abort.reason, abort.detail);
      await sleep(WATCH_INTERVAL_MS);
    }
  }

  private async finish(report: DrillReport, mail = true): Promise<DrillReport> {
    report = { ...report, unexpected: [...report.unexpected, ...probeSurprises(report.probe)].slice(0, 64) };
    await this.append({ step: 'end', id: report.id, at: Date.now(), report });
    this.keep(report);
    const line = reportLine(report);
    if (report.outcome === 'success') this.context.log.info({ drill: report }, line);
    else this.context.log.warn({ drill: report }, line);
    if (mail) await this.context.report?.(line, reportText(report)).catch((err: Error) => this.context.log.error({ error: err.message }, 'drill report not queued'));
    return report;
  }

  private keep(...reports: DrillReport[]): void {
    this.reports = [...this.reports, ...reports].slice(-KEPT_REPORTS);
    this.summaryCache = mergeSummary(this.summaryCache, summarize(reports));
  }

  /** A drill the last daemon left unfinished: restored once, and its end journaled so no later start restores it again. */
  private async restoreAfterRestart(drill: DrillStart): Promise<void> {
    this.context.log.warn({ drill: drill.id, instance: drill.instance }, `drill ${drill.id} of ${drill.instance} was left unfinished: restoring`);
    const unexpected: string[] = [];
    await this.append({ step: 'restoring', id: drill.id, at: Date.now(), why: 'the daemon restarted during the drill' });
    // A keepalived running now was started again before the crash, or never stopped: nothing to wait for.
    await this.undo(drill.mode, drill.instance, 0).then(
      (left) => left && unexpected.push(left),
      (err: Error) => unexpected.push(`restoring failed: ${err.message}`),
    );
    await this.finish({
      id: drill.id,
      node: this.options.node,
      instance: drill.instance,
      from: drill.from,
      to: drill.to,
      mode: drill.mode,
      startedAt: drill.at,
      endedAt: Date.now(),
      outcome: 'aborted',
      reason: 'restart',
      detail: ['the daemon stopped during the drill; restored when it started again'],
      boundMs: 0,
      stayed: false,
      unexpected,
    });
  }
}
