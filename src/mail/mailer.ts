import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import type { Change, Snapshot } from '../state/snapshot.js';
import { entryOf } from '../core/dict.js';
import { formatTime } from '../core/time.js';
import type { StateStore } from '../state/store.js';
import { VERSION } from '../version.js';
import type { Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { composeAudit, composeMail } from './compose.js';
import { eventFromAction, eventFromAudit, eventFromChange, eventFromVerdict, type AuditFinding, type MailConfig, type MailEvent } from './event.js';
import { newMessageId, Outbox, type OutboxMessage } from './outbox.js';
import { eventTitle } from './title.js';
import { addEvent, afterCompose, emptyPending, flushDecision, mergeGroups, retryDelay, type PendingState, type ScheduleRules } from './schedule.js';
import { chooseSender, emptyLedger, eventId, MAX_HELD_EVENTS, recordSent, reviewHeld, type HeldEvent, type SenderStanding, type SentLedger } from './sender.js';
import { deliver, SmtpFailure } from './smtp.js';
import type { MailStats } from './stats.js';

/**
 * At start every peer is unreachable until the first exchange, which takes a second or two: a
 * peer never heard from since start counts as lost only once it stays silent this long. And
 * every instance is new to the daemon until its first report: a state learnt from INIT within
 * this time of the start is what keepalived was doing already, not news.
 */
const STARTUP_GRACE_MS = 15_000;

export interface MailerOptions {
  /** This director's node_name. */
  node: string;
  outboxDir: string;
  store: StateStore;
  stats: MailStats;
  log: Logger;
  /**
   * How long a peer's view counts (`peers.unreachable_after`): a resolution names where things
   * stand by the fresh views, and only peers heard within it share the mailing of group events.
   */
  unreachableAfterMs?: number;
  /**
   * When the daemon started (not this mailer: a reload rebuilds it). A transition stamped before
   * it was read from a replay or a first dump: what keepalived did while kawatch was not running.
   */
  daemonStartedAt?: number;
  /** The ledger of confirmed event ids changed: tell the peers now rather than at the next exchange. */
  onConfirmed?: () => void;
}

/**
 * Turns transitions, verdicts, watchdog actions and peer losses into mails. Events gather in a
 * group for `group_window` (and longer when `max_per_hour` is reached), then become one message
 * written to the outbox before any attempt to send it. The sender delivers the oldest message
 * first and deletes it only once the SMTP server accepted it; a failure is retried with back-off,
 * in order. Everything waiting is on disk, so a restart or an SMTP outage loses nothing.
 */
export class Mailer implements DaemonPart {
  readonly name = 'mail';
  private readonly outbox: Outbox;
  private readonly rules: ScheduleRules;
  private readonly log: Logger;
  private pending: PendingState = emptyPending();
  /** Between start and stop: events are recorded only then. */
  private listening = false;
  private flushTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private failuresInARow = 0;
  private stopped = false;
  /** Until when the sender may start deliveries: the end of stop's grace once stopping. */
  private sendUntil = Infinity;
  /** Aborts a delivery still in flight when stop's grace is over. */
  private readonly stopping = new AbortController();
  /** Outbox operations run one at a time, each reading the state when its turn comes. */
  private diskQueue: Promise<unknown> = Promise.resolve();
  private readonly persist = new CoalescingTask(() => this.onDisk(() => this.outbox.savePending(this.pending)));
  private readonly sender = new CoalescingTask(() => this.drain());
  private readonly unheardPeers = new Map<string, NodeJS.Timeout>();
  private heldNoticeBatch?: number;
  private heldTimer?: NodeJS.Timeout;
  private startupNoticeTimer?: NodeJS.Timeout;
  private startupNotMailed = 0;
  private readonly daemonStartedAt: number;

  constructor(
    private readonly config: MailConfig,
    private readonly options: MailerOptions,
  ) {
    this.outbox = new Outbox(options.outboxDir);
    this.rules = { groupWindowMs: config.group_window, maxPerHour: config.max_per_hour };
    this.log = options.log;
    this.daemonStartedAt = options.daemonStartedAt ?? Date.now();
  }

  async start(): Promise<void> {
    const { pending, messages, problems } = await this.outbox.load();
    for (const problem of problems) this.log.warn({ problem }, 'outbox file set aside');
    this.pending = pending;
    this.options.stats.outboxMessages = messages;
    if (messages > 0 || pending.group) {
      this.log.info({ outbox: this.outbox.dir, messages, pendingEvents: pending.group?.count ?? 0 }, 'mail left from before the start');
    }
    this.listening = true;
    this.options.stats.held = this.pending.held?.length ?? 0;
    this.startupNoticeTimer = setTimeout(() => {
      if (this.startupNotMailed > 0) this.log.info({ transitions: this.startupNotMailed }, 'states learnt at start not mailed: keepalived was in them before kawatch started');
    }, Math.max(0, this.daemonStartedAt + STARTUP_GRACE_MS - Date.now()));
    this.review();
    this.reviewHeldNow();
    this.kickSender();
  }

  /**
   * Composes what is pending (the hourly limit permitting: the daemon may stay down a while),
   * then delivers for at most `smtp.timeout`; whatever is left stays in the outbox.
   */
  async stop(): Promise<void> {
    // From here on no timer is set and no delivery starts but the one below.
    this.stopped = true;
    this.listening = false;
    // A peer still unheard after less than the grace: start-up, not news.
    for (const timer of this.unheardPeers.values()) clearTimeout(timer);
    clearTimeout(this.flushTimer);
    // Held events stay in pending.json, their bound running: the sender may confirm them after the restart.
    clearTimeout(this.heldTimer);
    clearTimeout(this.startupNoticeTimer);
    // Backing off means the server failed just now: no reason to hold the stop for another try.
    const backingOff = this.retryTimer !== undefined;
    clearTimeout(this.retryTimer);
    this.sendUntil = Date.now() + this.config.smtp.timeout;
    const decision = flushDecision(this.pending, Date.now(), { ...this.rules, groupWindowMs: 0 });
    if (decision.kind === 'compose') await this.compose(decision.heldBack);
    if (!backingOff) {
      const abortAtDeadline = setTimeout(() => this.stopping.abort(), Math.max(0, this.sendUntil - Date.now()));
      await this.sender.run().catch((err: Error) => this.failed(err));
      clearTimeout(abortAtDeadline);
    }
    await this.sender.idle();
    await this.persist.idle();
    await this.diskQueue;
  }

  private onDisk<T>(op: () => Promise<T>): Promise<T> {
    const result = this.diskQueue.then(op);
    this.diskQueue = result.catch(() => undefined);
    return result;
  }

  onStateChange(change: Change, snapshot: Snapshot): void {
    if (!this.listening) return;
    if (change.type === 'transition' && this.learntAtStart(change)) {
      this.startupNotMailed++;
      this.options.stats.startupNotMailed++;
      return;
    }
    void this.record(eventFromChange(change, snapshot, this.options.node));
  }

  /**
   * A state read at start (a spool replay, a dump, the first report of an instance just after the
   * start) rather than a transition keepalived made while kawatch was running: not news.
   */
  private learntAtStart(change: Extract<Change, { type: 'transition' }>): boolean {
    return change.at < this.daemonStartedAt || (change.from === 'INIT' && Date.now() < this.daemonStartedAt + STARTUP_GRACE_MS);
  }

  /** Peers' views changed: the senders of held events may have confirmed them. */
  onSnapshot(): void {
    if (this.listening && this.pending.held?.length) this.reviewHeldNow();
  }

  /**
   * What this director confirms to its peers: the ids of the events it mailed. Told even before
   * the first mail: a view that carries it says this director mails for the group.
   */
  confirmed(): SentLedger {
    return this.pending.sent ?? emptyLedger();
  }

  onAction(entry: JournalEntry): void {
    if (this.listening) void this.record(eventFromAction(entry, this.options.node));
  }

  onVerdict(change: 'raised' | 'cleared', verdict: Verdict, at: number): void {
    if (!this.listening) return;
    const { store, node } = this.options;
    if (verdict.kind === 'peer-unreachable' && verdict.lastExchange === undefined) {
      if (change === 'raised') {
        const timer = setTimeout(() => {
          this.unheardPeers.delete(verdict.peer);
          void this.record(eventFromVerdict('raised', verdict, at, store.snapshot, node));
        }, STARTUP_GRACE_MS);
        this.unheardPeers.set(verdict.peer, timer);
        return;
      }
      const timer = this.unheardPeers.get(verdict.peer);
      if (timer) {
        // Heard within the grace: its loss was never mailed, so neither is its return.
        clearTimeout(timer);
        this.unheardPeers.delete(verdict.peer);
        return;
      }
    }
    void this.record(eventFromVerdict(change, verdict, at, store.snapshot, node, { unreachableAfterMs: this.options.unreachableAfterMs }));
  }

  /**
   * The scheduled audit's findings (`at`: when the schedule fired): mailed once for the directors
   * that hear each other, like any group event; resolves once queued here or held for the sender.
   */
  audit(findings: readonly AuditFinding[], at: number): Promise<void> {
    return this.listening ? this.record(eventFromAudit(at, findings, this.options.node)) : Promise.resolve();
  }

  /** An audit is mailed whenever the audit job runs: `events` lists the kinds of news. */
  private record(event: MailEvent | undefined): Promise<void> {
    if (!event || (event.kind !== 'audit' && !this.config.events.includes(event.kind))) return Promise.resolve();
    const now = Date.now();
    const sender = chooseSender(event, this.options.node, this.heardPeers(now));
    let queued = Promise.resolve();
    if (sender === this.options.node) {
      queued = this.mailHere(event, now);
    } else {
      const held: HeldEvent = { id: eventId(event), event, sender, heldAt: now, after: this.standing(sender, now).ledger?.seq ?? 0 };
      const all = [...(this.pending.held ?? []), held];
      // Bounded: past the cap the oldest are mailed here, a duplicate at worst.
      const overflow = all.slice(0, Math.max(0, all.length - MAX_HELD_EVENTS));
      this.pending = { ...this.pending, held: all.slice(overflow.length) };
      for (const h of overflow) void this.mailHere(h.event, now);
      this.options.stats.held = this.pending.held!.length;
      this.log.debug({ event: held.id, title: eventTitle(event), sender }, 'event held for the group sender');
      this.reviewHeldNow();
    }
    this.save();
    this.review();
    return queued;
  }

  /** An event this director mails: into the pending group, or an audit as a message of its own. */
  private mailHere(event: MailEvent, now: number): Promise<void> {
    if (event.kind !== 'audit') {
      this.pending = addEvent(this.pending, event, now);
      return Promise.resolve();
    }
    const { subject, text } = composeAudit(event, { node: this.options.node, subjectPrefix: this.config.subject_prefix, version: VERSION });
    return this.queueMessage(subject, text, event.findings.length, [eventId(event)]).catch((err: Error) => {
      this.log.error({ outbox: this.outbox.dir, error: err.message }, 'cannot write the audit mail to the outbox');
    });
  }

  private save(): void {
    this.persist.run().catch((err: Error) => this.log.error({ outbox: this.outbox.dir, error: err.message }, 'cannot save pending mail events'));
  }

  /**
   * The peers that share the mailing of group events: heard within `peers.unreachable_after`, and
   * mailing (their views carry what they mailed; a director without mail, or of an older version,
   * confirms nothing and takes no part).
   */
  private heardPeers(now: number): Set<string> {
    const within = this.options.unreachableAfterMs ?? 0;
    return new Set(
      Object.values(this.options.store.snapshot.peers)
        .filter((p) => p.view?.mailSent !== undefined && p.lastExchange !== undefined && now - p.lastExchange <= within)
        .map((p) => p.name),
    );
  }

  private standing(sender: string, now: number): SenderStanding {
    const peer = entryOf(this.options.store.snapshot.peers, sender);
    // A peer no longer configured mails nothing for this group.
    if (!peer) return { lost: true };
    const heard = peer.lastExchange !== undefined && now - peer.lastExchange <= (this.options.unreachableAfterMs ?? 0);
    return { lost: peer.lastError !== undefined && !heard, ledger: peer.view?.mailSent };
  }

  /** Confirmed held events go, released ones join the pending group; looks again when the next bound ends. */
  private reviewHeldNow(): void {
    clearTimeout(this.heldTimer);
    const held = this.pending.held ?? [];
    if (held.length === 0 || this.stopped) return;
    const now = Date.now();
    const { keep, confirmed, released, nextAt } = reviewHeld(held, now, this.rules.groupWindowMs + this.config.confirm_within, (sender) => this.standing(sender, now));
    if (confirmed.length > 0 || released.length > 0) {
      this.pending = { ...this.pending, held: keep };
      for (const { held: h, why } of released) {
        void this.mailHere(h.event, now);
        this.options.stats.released[why]++;
        this.log.info({ event: h.id, title: eventTitle(h.event), sender: h.sender, why }, why === 'sender-lost' ? 'group sender lost: mailing the event from here' : 'group sender did not confirm the event in time: mailing it from here');
      }
      this.options.stats.confirmedByPeer += confirmed.length;
      this.options.stats.held = keep.length;
      this.save();
      if (released.length > 0) this.review();
    }
    if (nextAt !== undefined) this.heldTimer = setTimeout(() => this.reviewHeldNow(), Math.max(0, nextAt - now));
  }

  /** Composes the pending group when it is due, or looks again when it will be. */
  private review(): void {
    clearTimeout(this.flushTimer);
    const now = Date.now();
    const decision = flushDecision(this.pending, now, this.rules);
    if (decision.kind === 'compose') {
      void this.compose(decision.heldBack);
    } else if (decision.kind === 'wait') {
      if (decision.held && this.heldNoticeBatch !== this.pending.batch) {
        this.heldNoticeBatch = this.pending.batch;
        this.log.warn(
          { maxPerHour: this.rules.maxPerHour, until: formatTime(decision.until) },
          'hourly mail limit reached: events wait in the outbox and go out together in the next mail',
        );
      }
      this.flushTimer = setTimeout(() => this.review(), decision.until - now);
    }
  }

  private async compose(heldBack: boolean): Promise<void> {
    const before = this.pending;
    const group = before.group;
    if (!group) return;
    const now = Date.now();
    const { node } = this.options;
    const mail = composeMail(group, { node, subjectPrefix: this.config.subject_prefix, version: VERSION, maxPerHour: this.rules.maxPerHour, heldBack });
    const message: OutboxMessage = { v: 1, id: newMessageId(before.batch), batch: before.batch, composedAt: now, eventCount: group.count, ...mail, ...(group.ids?.length && { eventIds: group.ids }) };
    // Taken out at once: events that arrive while the files are written start the next group.
    this.pending = afterCompose(before, now);
    try {
      await this.onDisk(() => this.outbox.commit(message, this.pending));
    } catch (err) {
      // Not on disk, so not sent either: the events go back in front of any that came meanwhile.
      this.pending = { ...this.pending, mailTimes: before.mailTimes, group: this.pending.group ? mergeGroups(group, this.pending.group) : group };
      this.log.error({ outbox: this.outbox.dir, error: (err as Error).message }, 'cannot write the outbox; trying again');
      if (!this.stopped) this.flushTimer = setTimeout(() => this.review(), this.config.retry.initial);
      return;
    }
    this.options.stats.outboxMessages++;
    this.log.info({ id: message.id, subject: message.subject, events: group.count }, 'mail queued');
    this.kickSender();
  }

  /**
   * A report composed elsewhere (the digest, the audit) as a message of its own, in order with
   * the event mails and through the same outbox; scheduled and rare, so outside max_per_hour.
   */
  queueReport(subject: string, text: string, eventCount: number): Promise<void> {
    return this.queueMessage([this.config.subject_prefix, `${this.options.node}: ${subject}`].filter(Boolean).join(' '), text, eventCount);
  }

  /** `eventIds`: the group events it mails, confirmed to the peers once it is delivered. */
  private async queueMessage(subject: string, text: string, eventCount: number, eventIds?: string[]): Promise<void> {
    const before = this.pending;
    const message: OutboxMessage = { v: 1, id: newMessageId(before.batch), batch: before.batch, composedAt: Date.now(), eventCount, subject, text, ...(eventIds && { eventIds }) };
    this.pending = { ...before, batch: before.batch + 1 };
    await this.onDisk(() => this.outbox.commit(message, this.pending));
    this.options.stats.outboxMessages++;
    this.log.info({ id: message.id, subject: message.subject }, 'report queued');
    this.kickSender();
  }

  private kickSender(): void {
    // While backing off, a new message waits for the retry like the ones before it: order is kept.
    if (this.retryTimer !== undefined || this.stopped) return;
    this.sender.run().catch((err: Error) => this.failed(err));
  }

  private async drain(): Promise<void> {
    while (Date.now() < this.sendUntil) {
      const { message, count, problems } = await this.onDisk(() => this.outbox.oldest());
      for (const problem of problems) this.log.error({ problem }, 'outbox file set aside');
      this.options.stats.outboxMessages = count;
      if (!message) return;
      let response: string;
      let rejected: string[];
      try {
        ({ response, rejected } = await deliver(this.config, this.options.node, { subject: message.subject, text: message.text, id: message.id, date: new Date(message.composedAt) }, this.stopping.signal));
      } catch (err) {
        this.failed(err as Error, message);
        return;
      }
      // Only now may the file go. A crash right here sends it again at the next start, with the same Message-ID.
      await this.onDisk(() => this.outbox.remove(message.id));
      if (message.eventIds?.length) {
        // Confirmed to the peers holding the same events: they drop theirs.
        this.pending = { ...this.pending, sent: recordSent(this.confirmed(), message.eventIds) };
        this.save();
        this.options.onConfirmed?.();
      }
      this.failuresInARow = 0;
      this.options.stats.sent++;
      this.options.stats.lastSuccess = Date.now();
      this.options.stats.outboxMessages = count - 1;
      this.log.info({ id: message.id, response, ...(rejected.length ? { rejected } : {}) }, 'mail sent');
    }
  }

  private failed(err: Error, message?: OutboxMessage): void {
    this.failuresInARow++;
    this.options.stats.sendFailures++;
    const smtp = err instanceof SmtpFailure ? { code: err.code, responseCode: err.responseCode } : {};
    if (this.stopped) {
      this.log.warn({ id: message?.id, error: err.message, ...smtp }, 'mail not delivered before the stop; it stays in the outbox');
      return;
    }
    const delay = retryDelay(this.failuresInARow, { initialMs: this.config.retry.initial, maxMs: this.config.retry.max });
    this.log.warn({ id: message?.id, error: err.message, ...smtp, failuresInARow: this.failuresInARow, retryInMs: delay }, 'mail delivery failed; it stays in the outbox');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kickSender();
    }, delay);
  }
}
