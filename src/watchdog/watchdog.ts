import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import type { Snapshot } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';
import { diagnose, heldVerdicts, nextConfirmation, reportLags, verdictKey, type DiagnoseOptions, type HoldOptions, type Verdict } from './diagnose.js';
import type { EventBus } from '../core/bus.js';
import type { Fencer } from './fencer.js';
import type { JournalEntry } from './journal.js';
import { verdictText } from './verdict-text.js';

/** What the watchdog tells the rest of the daemon (the mailer, for one). */
export interface WatchdogEvents {
  'verdict-raised': { verdict: Verdict; at: number };
  'verdict-cleared': { verdict: Verdict; at: number };
  action: JournalEntry;
}

/**
 * Follows the verdicts over time: diagnoses after every state update that can change them, on a tick (a peer goes
 * stale with time alone) and when a pending confirmation, hold-down or restore falls due; logs
 * each verdict when it is raised and when it clears, and hands the verdicts to the fencer.
 */
export class Watchdog implements DaemonPart {
  readonly name = 'watchdog';
  private active = new Map<string, Verdict>();
  private timer?: NodeJS.Timeout;
  private due?: NodeJS.Timeout;
  /** Between start and stop. */
  private started = false;
  /** The snapshot the verdicts were last drawn from. */
  private reviewed?: Snapshot;
  /** Since when each verdict the diagnoses found has been found, to wait out those a transition passes through. */
  private seenSince = new Map<string, number>();
  /** When the watchdog started: peers not heard yet have had no time to answer. */
  private listeningSince?: number;
  /** When a verdict still held back falls due. */
  private heldUntil?: number;

  constructor(
    private readonly store: StateStore,
    private readonly options: Omit<DiagnoseOptions, 'now'> & { tickMs: number },
    private readonly log: Logger,
    private readonly fencer: Fencer,
    private readonly events: EventBus<WatchdogEvents>,
  ) {}

  verdicts(now = Date.now()): Verdict[] {
    return heldVerdicts(this.diagnosed(now), this.seenSince, this.holdOptions(now)).verdicts;
  }

  private holdOptions(now: number): HoldOptions {
    return { confirmAfterMs: this.options.confirmAfterMs, now, reportLagMs: reportLags(this.store.snapshot) };
  }

  private diagnosed(now: number): Verdict[] {
    return diagnose(this.store.snapshot, { ...this.options, now, listeningSince: this.listeningSince });
  }

  async start(): Promise<void> {
    await this.fencer.load();
    this.reviewed = this.store.snapshot;
    this.listeningSince = Date.now();
    this.started = true;
    this.timer = setInterval(() => this.review(), this.options.tickMs);
    this.review();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.due);
    this.started = false;
    await this.fencer.idle();
  }

  /** After every state update: diagnose again when the update can change a verdict. */
  onSnapshot(snapshot: Snapshot): void {
    if (!this.started || (this.reviewed && !affectsVerdicts(this.reviewed, snapshot))) return;
    this.reviewed = snapshot;
    this.review();
  }

  private review(): void {
    const now = Date.now();
    const held = heldVerdicts(this.diagnosed(now), this.seenSince, this.holdOptions(now));
    this.seenSince = held.seenSince;
    this.heldUntil = held.nextAt;
    const verdicts = held.verdicts;
    const next = new Map(verdicts.map((v) => [verdictKey(v), v]));
    for (const [key, verdict] of next) {
      if (this.active.has(key)) continue;
      this.log.warn({ verdict }, `verdict raised: ${verdictText(verdict)}`);
      this.events.emit('verdict-raised', { verdict, at: now });
    }
    for (const [key, verdict] of this.active) {
      if (next.has(key)) continue;
      this.log.info({ verdict }, `verdict cleared: ${verdictText(verdict)}`);
      this.events.emit('verdict-cleared', { verdict, at: now });
    }
    this.active = next;
    void this.fencer.consider(verdicts).then(() => this.scheduleDue(now));
  }

  private scheduleDue(now: number): void {
    clearTimeout(this.due);
    const times = [nextConfirmation(this.store.snapshot, { ...this.options, now, listeningSince: this.listeningSince }), this.heldUntil, this.fencer.nextReview].filter((t): t is number => t !== undefined);
    if (times.length) this.due = setTimeout(() => this.review(), Math.max(0, Math.min(...times) - Date.now()) + 1);
  }
}

/**
 * Whether an update touched what verdicts and the fencer read. Most updates do not — source
 * health, the process poll's timestamp, counters — and the reducer shares unchanged parts, so
 * comparing references is enough.
 */
export function affectsVerdicts(before: Snapshot, after: Snapshot): boolean {
  return (
    before.instances !== after.instances ||
    before.addresses !== after.addresses ||
    before.peers !== after.peers ||
    before.witness !== after.witness ||
    before.keepalived.up !== after.keepalived.up
  );
}

