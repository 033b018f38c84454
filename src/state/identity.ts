import type { VrrpState, VrrpStats } from '../model/vrrp.js';
import type { SourceName } from './sources.js';

/**
 * One identity per keepalived transition, whichever source reports it and whenever it is read.
 *
 * keepalived tells each transition of an instance (or sync group) through up to three channels:
 * the notify hook (spooled, stamped with the time keepalived ran it), the notify FIFO (in order,
 * but with no time: a line can wait in the pipe for as long as kawatch is down) and the dump (the
 * current state only, with keepalived's own `last_transition` and counters). Comparing them by
 * the time kawatch read them counts a transition once per source. Instead each subject keeps a
 * short log of the transitions it knows, in keepalived's order, with which sources reported each:
 *
 * - a sighting with keepalived's time (a dump's last_transition, or the hook's stamp, which can
 *   lag it by up to SAME_TRANSITION_MS but never precede it) is the transition to the same state
 *   whose time can be the same moment, wherever it sits in the log (a record replayed twice is
 *   still one);
 * - a sighting without (FIFO, kawatch's own inference from the process) is the next transition to
 *   that state that this source has not reported yet: each such source reports in keepalived's
 *   order, so its place in the log is after the last record it reported;
 * - a dump reports only the present: it can be the latest transition and nothing else;
 * - otherwise a sighting of the state the subject is in is no transition, one older than the last
 *   transition keepalived timed is stale, and anything else is a new transition.
 *
 * The log (and so which sources reported what) is what `state_dir` keeps across restarts: the
 * FIFO lines that waited in the pipe then find the records the spooled hooks already made.
 */

/**
 * How far the hook's stamp can lag keepalived's own `last_transition` for one transition (the
 * fork and exec of the hook under load), and so how close two sightings of one transition are.
 */
export const SAME_TRANSITION_MS = 2000;
/** Transitions kept per subject: far more than any source falls behind between two reads. */
export const LOG_LENGTH = 16;

/** Netlink tells addresses, never a transition. */
export type SightingSource = Exclude<SourceName, 'netlink'>;

/**
 * Whose clock a time is: keepalived's own (a dump's last_transition), the hook's stamp (taken when
 * keepalived ran it, up to SAME_TRANSITION_MS later), or when kawatch read it (any time later).
 */
export const CLOCKS = ['keepalived', 'hook', 'read'] as const;
export type Clock = (typeof CLOCKS)[number];
/** How long after keepalived made a transition each clock can read it. */
const LAG: Record<Clock, number> = { keepalived: 0, hook: SAME_TRANSITION_MS, read: Infinity };

/** Each reading names the keepalived times [t - lag, t]; two readings of one transition meet. */
function sameMoment(a: number, ca: Clock, b: number, cb: Clock): boolean {
  return a - LAG[ca] <= b && b - LAG[cb] <= a;
}

export interface TransitionRecord {
  /** Per subject, increasing in keepalived's order. */
  seq: number;
  from: VrrpState;
  to: VrrpState;
  /** Epoch ms, on `clock`: the most precise of the readings so far. */
  at: number;
  clock: Clock;
  /** The sources that have reported this transition. */
  seenBy: SightingSource[];
}

export interface Sighting {
  source: SightingSource;
  to: VrrpState;
  at: number;
  clock: Clock;
  /** The source reports every transition in order (hook, FIFO, process); a dump only the present one. */
  inOrder: boolean;
}

export type Identified =
  /** A transition not known before: `record` is appended to the log. */
  | { kind: 'new'; record: TransitionRecord; log: TransitionRecord[] }
  /**
   * Known already, or no transition: only the log's bookkeeping changed. `current`: the sighting
   * is of the state the subject is in now (not of an older transition); `since`: keepalived's time
   * of that state, when this sighting told it.
   */
  | { kind: 'known'; log: TransitionRecord[]; since?: number; current: boolean }
  /** Older than what keepalived already said: nothing changes. */
  | { kind: 'stale' };

const withSeen = (r: TransitionRecord, s: Sighting): TransitionRecord => ({
  ...r,
  seenBy: r.seenBy.includes(s.source) ? r.seenBy : [...r.seenBy, s.source],
  // A later clock is only a bound: a more precise one replaces it.
  ...(CLOCKS.indexOf(s.clock) < CLOCKS.indexOf(r.clock) ? { at: s.at, clock: s.clock } : {}),
});

function known(log: readonly TransitionRecord[], index: number, s: Sighting): Identified {
  const next = log.map((r, i) => (i === index ? withSeen(r, s) : r));
  const updated = next[index]!;
  const current = index === log.length - 1;
  return { kind: 'known', log: next, current, since: current && s.clock !== 'read' && updated.clock !== 'read' ? updated.at : undefined };
}

/** The record a timed sighting names: the closest timed record to that state whose time can be the same moment (the later of two as close: the present is likelier). */
function byTime(log: readonly TransitionRecord[], s: Sighting, eligible: (index: number) => boolean): number {
  let best = -1;
  for (let i = 0; i < log.length; i++) {
    const r = log[i]!;
    if (r.to !== s.to || r.clock === 'read' || !eligible(i) || !sameMoment(r.at, r.clock, s.at, s.clock)) continue;
    if (best < 0 || Math.abs(r.at - s.at) <= Math.abs(log[best]!.at - s.at)) best = i;
  }
  return best;
}

/** Which transition of the subject this sighting is, given its log and the state it is in. */
export function identify(log: readonly TransitionRecord[], current: VrrpState, s: Sighting): Identified {
  const latest = log.at(-1);
  const lastIndex = log.length - 1;
  // The last record this source reported: an in-order source is at it again (a replayed spool
  // record) or past it, never before it — which keeps two quick flaps to one state apart.
  const cursor = log.findLastIndex((r) => r.seenBy.includes(s.source));
  if (s.clock !== 'read') {
    const same = byTime(log, s, (i) => !s.inOrder || i >= cursor);
    if (same >= 0) return known(log, same, s);
  }
  if (s.inOrder) {
    // A source with no record in the log can only be at the latest.
    const from = cursor >= 0 ? cursor + 1 : Math.max(lastIndex, 0);
    for (let i = from; i < log.length; i++) {
      const r = log[i]!;
      if (r.to === s.to && !r.seenBy.includes(s.source) && (s.clock === 'read' || (r.clock === 'read' && sameMoment(r.at, r.clock, s.at, s.clock)))) return known(log, i, s);
    }
  } else if (latest && latest.to === s.to && latest.clock === 'read' && sameMoment(latest.at, latest.clock, s.at, s.clock)) {
    return known(log, lastIndex, s);
  }
  if (s.to === current) return latest && latest.to === s.to ? known(log, lastIndex, s) : { kind: 'known', log: [...log], current: true };
  if (s.clock !== 'read' && latest && latest.clock !== 'read' && s.at < latest.at) return { kind: 'stale' };
  const record: TransitionRecord = { seq: (latest?.seq ?? 0) + 1, from: current, to: s.to, at: s.at, clock: s.clock, seenBy: [s.source] };
  return { kind: 'new', record, log: [...log, record].slice(-LOG_LENGTH) };
}

export const RECONCILE_RESULTS = ['match', 'missed', 'duplicate'] as const;
/**
 * `match`: a transition into or out of MASTER that kawatch counted and keepalived's own counters
 * confirm; `missed`: one keepalived counted and kawatch did not; `duplicate`: one kawatch counted
 * beyond keepalived's counters (counted twice, or a transition keepalived never made).
 */
export type ReconcileResult = (typeof RECONCILE_RESULTS)[number];
export type Reconciled = Record<ReconcileResult, number>;

/** keepalived's become_master / release_master at the last dump, and what kawatch counted since. */
export interface CounterBaseline {
  /** The keepalived process the counters belong to: a new one starts them from zero. */
  pid?: number;
  becomeMaster: number;
  releaseMaster: number;
  intoMaster: number;
  outOfMaster: number;
}

export const noneReconciled = (): Reconciled => ({ match: 0, missed: 0, duplicate: 0 });

/** A counted transition, in the baseline's terms. */
export function countInBaseline(b: CounterBaseline | undefined, from: VrrpState, to: VrrpState): CounterBaseline | undefined {
  if (!b) return undefined;
  return { ...b, intoMaster: b.intoMaster + (to === 'MASTER' ? 1 : 0), outOfMaster: b.outOfMaster + (from === 'MASTER' ? 1 : 0) };
}

/**
 * Compares what kawatch counted since the last dump with what keepalived's counters moved by.
 * The first dump of an instance, or of a new keepalived process (counters back to zero), only
 * sets the baseline: there is nothing yet to compare with.
 */
export function reconcile(b: CounterBaseline | undefined, stats: VrrpStats, pid: number | undefined): { baseline: CounterBaseline; result?: Reconciled } {
  const baseline: CounterBaseline = { pid: pid ?? b?.pid, becomeMaster: stats.become_master, releaseMaster: stats.release_master, intoMaster: 0, outOfMaster: 0 };
  const became = stats.become_master - (b?.becomeMaster ?? 0);
  const released = stats.release_master - (b?.releaseMaster ?? 0);
  if (!b || became < 0 || released < 0 || (pid !== undefined && b.pid !== undefined && pid !== b.pid)) return { baseline };
  return {
    baseline,
    result: {
      match: Math.min(became, b.intoMaster) + Math.min(released, b.outOfMaster),
      missed: Math.max(0, became - b.intoMaster) + Math.max(0, released - b.outOfMaster),
      duplicate: Math.max(0, b.intoMaster - became) + Math.max(0, b.outOfMaster - released),
    },
  };
}
