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
 *   lag it by up to SAME_TRANSITION_MS but never precede it, nor follow the next transition) is
 *   the transition to the same state whose time can be the same moment, in keepalived's order
 *   among the others, wherever it sits in the log; the hook's stamp is kept, so a replayed spool
 *   record (the same stamp) is still one and another stamp is another transition;
 * - a sighting without (FIFO, kawatch's own inference from the process) is the next transition to
 *   that state that this source has not reported yet: each such source reports in keepalived's
 *   order, so its place in the log is after the last record it reported. The hook does too, but
 *   each hook is a process of its own: two quick transitions' records can reach the spool in
 *   either order, so a stamp can also be an earlier transition the hook has not reported yet;
 * - a dump reports only the present: it can be the latest transition and nothing else. One kawatch
 *   asked for after the latest record's time is the present; one asked for before may have been
 *   written before the latest arrived, and is then the latest or nothing, never a new transition;
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
  /** The hook's stamp, once the hook told it: a replayed spool record has the same, another transition another. */
  stamp?: number;
}

export interface Sighting {
  source: SightingSource;
  to: VrrpState;
  at: number;
  clock: Clock;
  /** The source reports every transition in order (hook, FIFO, process); a dump only the present one. */
  inOrder: boolean;
  /** A dump's: when kawatch asked keepalived for it, so it shows every transition made before then. */
  takenAfter?: number;
}

export type Identified =
  /** A transition not known before: `record` is appended to the log. */
  | { kind: 'new'; record: TransitionRecord; log: TransitionRecord[] }
  /**
   * Known already, or no transition: only the log's bookkeeping changed. `current`: the sighting
   * is of the state the subject is in now (not of an older transition); `onset`: the best reading
   * of when that state began, on its clock, when this sighting told it (see `onsetAfter`).
   */
  | { kind: 'known'; log: TransitionRecord[]; onset?: { at: number; clock: Clock }; current: boolean }
  /** Older than what keepalived already said: nothing changes. */
  | { kind: 'stale' };

const withSeen = (r: TransitionRecord, s: Sighting): TransitionRecord => ({
  ...r,
  seenBy: r.seenBy.includes(s.source) ? r.seenBy : [...r.seenBy, s.source],
  // A later clock is only a bound: a more precise one replaces it.
  ...(CLOCKS.indexOf(s.clock) < CLOCKS.indexOf(r.clock) ? { at: s.at, clock: s.clock } : {}),
  ...stampOf(s),
});

const stampOf = (s: Sighting): { stamp?: number } => (s.clock === 'hook' ? { stamp: s.at } : {});

function known(log: readonly TransitionRecord[], index: number, s: Sighting): Identified {
  const next = log.map((r, i) => (i === index ? withSeen(r, s) : r));
  const updated = next[index]!;
  const current = index === log.length - 1;
  const timed = current && s.clock !== 'read' && updated.clock !== 'read';
  return { kind: 'known', log: next, current, ...(timed ? { onset: { at: updated.at, clock: updated.clock } } : {}) };
}

/**
 * When the current state began, after a sighting identified as a transition already known:
 * never later for a reading of the same transition (`refinedOnset`). A hook run after its FIFO
 * line was read would otherwise move the onset past what the peers were last heard saying, and a
 * split brain judged on views heard since the onset would clear and be raised again.
 */
export function onsetAfter(id: Extract<Identified, { kind: 'known' }>, known: number | undefined): number | undefined {
  return id.onset ? refinedOnset(known, id.onset.at, id.onset.clock) : known;
}

/**
 * The onset of the current state after another reading of it, `since` on `clock`. Every reading
 * is at or after keepalived's time, so one that can be the same moment as the onset known (not
 * later than it by more than its clock's lag) only bounds it closer: the earlier of the two. One
 * that cannot be is a later entry into the state (a round trip no source told) and begins it.
 */
export function refinedOnset(known: number | undefined, since: number, clock: Clock): number {
  if (known === undefined) return since;
  return since - LAG[clock] > known ? since : Math.min(known, since);
}

function appended(log: readonly TransitionRecord[], current: VrrpState, s: Sighting): Identified {
  const record: TransitionRecord = { seq: (log.at(-1)?.seq ?? 0) + 1, from: current, to: s.to, at: s.at, clock: s.clock, seenBy: [s.source], ...stampOf(s) };
  return { kind: 'new', record, log: [...log, record].slice(-LOG_LENGTH) };
}

/**
 * Whether the sighting can be of this record: the same state at a time that can be the same
 * moment, in keepalived's order among the others, and not one the hook stamped otherwise (it
 * stamps each transition once: the same stamp again is a replay, another stamp another
 * transition). Stamps and keepalived's own times follow keepalived's order, and keepalived's
 * time of a transition precedes every time of those after it; a stamp need not (a hook run late,
 * after keepalived made the next transition and the FIFO told it).
 */
function canBe(log: readonly TransitionRecord[], index: number, s: Sighting): boolean {
  const r = log[index]!;
  if (r.to !== s.to || !sameMoment(r.at, r.clock, s.at, s.clock)) return false;
  if (s.clock === 'hook' && r.stamp !== undefined && r.stamp !== s.at) return false;
  if (s.clock === 'read') return true;
  const madeBefore = (k: TransitionRecord) => k.stamp ?? (k.clock === 'keepalived' ? k.at : -Infinity);
  return log.every((k, i) => (i < index ? madeBefore(k) <= s.at : i > index ? s.clock !== 'keepalived' || s.at <= k.at : true));
}

/** The record a timed sighting names: the closest timed record to that state whose time can be the same moment (the later of two as close: the present is likelier). */
function byTime(log: readonly TransitionRecord[], s: Sighting, eligible: (index: number) => boolean): number {
  let best = -1;
  for (let i = 0; i < log.length; i++) {
    const r = log[i]!;
    if (r.clock === 'read' || !eligible(i) || !canBe(log, i, s)) continue;
    if (best < 0 || Math.abs(r.at - s.at) <= Math.abs(log[best]!.at - s.at)) best = i;
  }
  return best;
}

/** Which transition of the subject this sighting is, given its log and the state it is in. */
export function identify(log: readonly TransitionRecord[], current: VrrpState, s: Sighting): Identified {
  if (!s.inOrder && s.takenAfter !== undefined && log.length > 0) return identifyAsked(log, current, s, s.takenAfter);
  const latest = log.at(-1);
  const lastIndex = log.length - 1;
  const same = named(log, s);
  if (same >= 0) return known(log, same, s);
  if (!s.inOrder && latest && latest.to === s.to && latest.clock === 'read' && sameMoment(latest.at, latest.clock, s.at, s.clock)) {
    return known(log, lastIndex, s);
  }
  if (s.to === current) return latest && latest.to === s.to ? known(log, lastIndex, s) : { kind: 'known', log: [...log], current: true };
  if (s.clock !== 'read' && latest && latest.clock !== 'read' && s.at < latest.at) return { kind: 'stale' };
  return appended(log, current, s);
}

/** The record the sighting names, by its time or, from an in-order source, by its place; -1 if none. */
function named(log: readonly TransitionRecord[], s: Sighting): number {
  // The last record this source reported: an in-order source is at it again (a replayed spool
  // record) or past it — but two quick transitions' hooks race to the spool, so a timed report
  // can also be an earlier transition this source has not reported yet.
  const cursor = log.findLastIndex((r) => r.seenBy.includes(s.source));
  const unreported = (i: number) => !log[i]!.seenBy.includes(s.source);
  if (s.clock !== 'read') {
    const same = byTime(log, s, (i) => !s.inOrder || i >= cursor || unreported(i) || log[i]!.stamp === s.at);
    if (same >= 0) return same;
  }
  if (!s.inOrder) return -1;
  // A source with no record in the log can only be at the latest.
  const from = cursor >= 0 ? cursor + 1 : Math.max(log.length - 1, 0);
  const untimed = (i: number) => log[i]!.to === s.to && unreported(i) && (s.clock === 'read' || (log[i]!.clock === 'read' && canBe(log, i, s)));
  for (let i = from; i < log.length; i++) if (untimed(i)) return i;
  if (s.clock !== 'read') for (let i = from - 1; i >= 0; i--) if (untimed(i)) return i;
  return -1;
}

/**
 * A dump kawatch asked for at `takenAfter` shows keepalived's state at some moment after it: past
 * every record whose time (on any clock, an upper bound of keepalived's) is not later. Asked for
 * after the latest, it is the present: the latest transition or a new one. Asked for before, it may
 * have been written before the latest transition arrived: it is the latest only when nothing else
 * it can be is left, and otherwise tells nothing — never a new transition, which the in-order
 * sources or the next dump will tell.
 */
function identifyAsked(log: readonly TransitionRecord[], current: VrrpState, s: Sighting, takenAfter: number): Identified {
  const lastIndex = log.length - 1;
  const made = log.findLastIndex((r) => r.at <= takenAfter);
  if (made === lastIndex) return log[lastIndex]!.to === s.to ? known(log, lastIndex, s) : appended(log, current, s);
  const candidates: number[] = [];
  for (let i = Math.max(made, 0); i <= lastIndex; i++) if (canBe(log, i, s)) candidates.push(i);
  return candidates.length === 1 && candidates[0] === lastIndex ? known(log, lastIndex, s) : { kind: 'stale' };
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
