import { dictFrom, entryOf, type Dict } from '../core/dict.js';
import { HINT_TOPICS, conditionOf, hintTopic, importance, instanceOf, type HintTopic, type MailEvent } from './event.js';
import { eventId, type HeldEvent, type SentLedger } from './sender.js';
import { eventTitle } from './title.js';

export const HOUR_MS = 3_600_000;
/** A group lists its first and its last events in full; those in between only count in its tally. */
export const LISTED_FIRST = 20;
export const LISTED_LAST = 10;
/** Instance names a group remembers for its subject. */
const MAX_INSTANCES = 10;
/** Event ids a group remembers, to confirm them to the peers once its mail is sent; a flood beyond is mailed by them too. */
export const MAX_GROUP_IDS = 512;

/**
 * Events waiting to become one mail. Bounded whatever arrives: a flapping instance for an hour
 * keeps 30 events in full plus one counter per distinct title, so the file that holds it on disk
 * stays small.
 */
export interface PendingGroup {
  /** When the group's first event arrived here (not its own time: a replayed event can be old). */
  openedAt: number;
  count: number;
  first: MailEvent[];
  last: MailEvent[];
  /** The most important event of the group, listed or not; the earliest of equals. */
  headline: MailEvent;
  /** Event title → how many events of the group have it. */
  tally: Dict<number>;
  instances: string[];
  topics: HintTopic[];
  /** Conditions (see `conditionOf`) that started in this group, and those of them that also ended in it. */
  started: string[];
  transient: string[];
  /** The events' ids (see `eventId`), up to MAX_GROUP_IDS; absent in groups saved by older versions. */
  ids?: string[];
}

export interface PendingState {
  /** Number of the next message; never reused, so message files sort in the order they were composed. */
  batch: number;
  group?: PendingGroup;
  /** When the mails of the last hour were composed, oldest first: the max_per_hour ledger. */
  mailTimes: number[];
  /** Events another director of the group is to mail, kept until it confirms (see sender.ts). */
  held?: HeldEvent[];
  /** The event ids this director mailed, told to its peers. */
  sent?: SentLedger;
}

export interface ScheduleRules {
  groupWindowMs: number;
  maxPerHour: number;
}

export function emptyPending(): PendingState {
  return { batch: 1, mailTimes: [] };
}

function groupOf(event: MailEvent, arrivedAt: number): PendingGroup {
  const instance = instanceOf(event);
  const topic = hintTopic(event);
  const condition = conditionOf(event);
  return {
    openedAt: arrivedAt,
    count: 1,
    first: [event],
    last: [],
    headline: event,
    tally: dictFrom([[eventTitle(event), 1]]),
    instances: instance === undefined ? [] : [instance],
    topics: topic === undefined ? [] : [topic],
    started: condition?.phase === 'start' ? [condition.key] : [],
    transient: [],
    ids: [eventId(event)],
  };
}

/** `b` after `a`. Exact for a single event added to a group; for two large groups the unlisted ones stay counted, not placed. */
export function mergeGroups(a: PendingGroup, b: PendingGroup): PendingGroup {
  const listed = [...a.first, ...a.last, ...b.first, ...b.last];
  // Titles carry instance names; a group read back from disk is an ordinary object: copy, never index it.
  const tally = dictFrom(Object.entries(a.tally));
  for (const [title, n] of Object.entries(b.tally)) tally[title] = (entryOf(tally, title) ?? 0) + n;
  const topics = new Set([...a.topics, ...b.topics]);
  return {
    openedAt: Math.min(a.openedAt, b.openedAt),
    count: a.count + b.count,
    first: listed.slice(0, LISTED_FIRST),
    last: listed.slice(LISTED_FIRST).slice(-LISTED_LAST),
    headline: importance(b.headline) < importance(a.headline) ? b.headline : a.headline,
    tally,
    instances: [...new Set([...a.instances, ...b.instances])].slice(0, MAX_INSTANCES),
    topics: HINT_TOPICS.filter((t) => topics.has(t)),
    started: [...new Set([...a.started, ...b.started])],
    transient: [...new Set([...a.transient, ...b.transient, ...endedIn(b).filter((key) => a.started.includes(key))])],
    ids: [...new Set([...(a.ids ?? []), ...(b.ids ?? [])])].slice(0, MAX_GROUP_IDS),
  };
}

/** Conditions that end in a group: its listed events, which for a single event is exact. */
function endedIn(group: PendingGroup): string[] {
  return [...group.first, ...group.last].flatMap((e) => {
    const condition = conditionOf(e);
    return condition?.phase === 'end' ? [condition.key] : [];
  });
}

export function addEvent(state: PendingState, event: MailEvent, arrivedAt: number): PendingState {
  const single = groupOf(event, arrivedAt);
  return { ...state, group: state.group ? mergeGroups(state.group, single) : single };
}

/** The earliest time from `now` on at which one more mail fits in max_per_hour. */
export function nextMailAllowedAt(mailTimes: readonly number[], now: number, maxPerHour: number): number {
  const recent = mailTimes.filter((t) => t > now - HOUR_MS).sort((x, y) => x - y);
  if (recent.length < maxPerHour) return now;
  // The mail that must leave the hour's window before another fits.
  return recent[recent.length - maxPerHour]! + HOUR_MS;
}

export type FlushDecision =
  | { kind: 'idle' }
  /** `held`: the hourly limit, not the group window, is what makes it wait. */
  | { kind: 'wait'; until: number; held: boolean }
  /** `heldBack`: the hourly limit kept these events beyond their group window. */
  | { kind: 'compose'; heldBack: boolean };

/** What to do with the pending events now: nothing, wait until a time, or compose their mail. */
export function flushDecision(state: PendingState, now: number, rules: ScheduleRules): FlushDecision {
  if (!state.group) return { kind: 'idle' };
  const windowEnd = state.group.openedAt + rules.groupWindowMs;
  const due = nextMailAllowedAt(state.mailTimes, Math.max(now, windowEnd), rules.maxPerHour);
  if (due > now) return { kind: 'wait', until: due, held: due > windowEnd };
  return { kind: 'compose', heldBack: nextMailAllowedAt(state.mailTimes, windowEnd, rules.maxPerHour) > windowEnd };
}

/** The state once the pending group became a message composed at `now`. */
export function afterCompose(state: PendingState, now: number): PendingState {
  return { ...state, batch: state.batch + 1, group: undefined, mailTimes: [...state.mailTimes.filter((t) => t > now - HOUR_MS), now] };
}

/**
 * Delay before the next delivery attempt after `failures` failures in a row: doubling from
 * `initialMs`, capped at `maxMs`, with "equal jitter" (half fixed, half random) so directors
 * that lost the same server do not come back in lockstep, yet never retry sooner than half a step.
 */
export function retryDelay(failures: number, retry: { initialMs: number; maxMs: number }, random: () => number = Math.random): number {
  const step = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  return Math.round(step / 2 + (random() * step) / 2);
}
