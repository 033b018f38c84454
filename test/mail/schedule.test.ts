import { describe, expect, it } from 'vitest';
import type { MailEvent } from '../../src/mail/event.js';
import {
  HOUR_MS,
  LISTED_FIRST,
  LISTED_LAST,
  addEvent,
  afterCompose,
  emptyPending,
  flushDecision,
  mergeGroups,
  nextMailAllowedAt,
  retryDelay,
  type PendingState,
} from '../../src/mail/schedule.js';

const T0 = 1_800_000_000_000;
const rules = { groupWindowMs: 30_000, maxPerHour: 20 };

function flap(i: number): MailEvent {
  const up = i % 2 === 0;
  return { kind: 'transition', at: T0 + i, node: 'lb1', scope: 'instance', name: 'VI_1', vrid: 51, vips: [], from: up ? 'BACKUP' : 'MASTER', to: up ? 'MASTER' : 'BACKUP', source: 'fifo' };
}

const splitRaised: MailEvent = {
  kind: 'verdict',
  at: T0,
  node: 'lb1',
  change: 'raised',
  vips: [],
  verdict: { kind: 'split-brain', iname: 'VI_9', vrid: 59, masters: ['lb1', 'lb2'], causes: [] },
};

function withEvents(n: number, state: PendingState = emptyPending(), arrivedAt = T0): PendingState {
  for (let i = 0; i < n; i++) state = addEvent(state, flap(i), arrivedAt + i);
  return state;
}

describe('grouping', () => {
  it('opens a group at the first arrival and keeps the first and last events in full, counting all', () => {
    const state = withEvents(100);
    const group = state.group!;
    expect(group.openedAt).toBe(T0);
    expect(group.count).toBe(100);
    expect(group.first.map((e) => e.at)).toEqual(Array.from({ length: LISTED_FIRST }, (_, i) => T0 + i));
    expect(group.last.map((e) => e.at)).toEqual(Array.from({ length: LISTED_LAST }, (_, i) => T0 + 100 - LISTED_LAST + i));
    expect(group.tally).toEqual({ 'VI_1 (vrid 51) BACKUP -> MASTER': 50, 'VI_1 (vrid 51) MASTER -> BACKUP': 50 });
    expect(group.instances).toEqual(['VI_1']);
  });

  it('stays small however many events arrive', () => {
    const size = (n: number) => JSON.stringify(withEvents(n)).length;
    // Only the digits of the counts and times grow.
    expect(size(10_000)).toBeLessThan(size(1000) + 20);
  });

  it('headlines the most important event even when it is not listed', () => {
    let state = withEvents(50);
    state = addEvent(state, splitRaised, T0 + 50);
    state = withEvents(50, state, T0 + 51);
    expect(state.group!.count).toBe(101);
    expect(state.group!.headline).toEqual(splitRaised);
    expect([...state.group!.first, ...state.group!.last]).not.toContainEqual(splitRaised);
    expect(state.group!.topics).toEqual(['split-brain']);
    expect(state.group!.instances).toEqual(['VI_1', 'VI_9']);
  });

  it('merges two groups keeping the older one first and every count', () => {
    const a = withEvents(25).group!;
    const b = withEvents(3, emptyPending(), T0 + 1000).group!;
    const merged = mergeGroups(a, b);
    expect(merged.count).toBe(28);
    expect(merged.openedAt).toBe(T0);
    expect(merged.first).toHaveLength(LISTED_FIRST);
    expect(merged.last).toHaveLength(8);
    expect(Object.values(merged.tally).reduce((x, y) => x + y)).toBe(28);
  });
});

describe('conditions that come and go', () => {
  const vip = (change: 'raised' | 'cleared', at: number): MailEvent => ({
    kind: 'verdict',
    at,
    node: 'lb1',
    change,
    vips: [],
    verdict: { kind: 'vip-on-several-nodes', iname: 'VI_1', vrid: 51, address: '198.18.1.10', nodes: ['lb1', 'lb2'] },
  });

  it('are transient when they start and end in one group, not when the end belongs to an earlier start', () => {
    const cameAndWent = addEvent(addEvent(emptyPending(), vip('raised', T0), T0), vip('cleared', T0 + 5), T0 + 5);
    expect(cameAndWent.group!.transient).toEqual(['vip-on-several-nodes|VI_1|198.18.1.10']);
    const endedOnly = addEvent(addEvent(emptyPending(), vip('cleared', T0), T0), vip('raised', T0 + 5), T0 + 5);
    expect(endedOnly.group!.transient).toEqual([]);
    expect(endedOnly.group!.started).toEqual(['vip-on-several-nodes|VI_1|198.18.1.10']);
  });
});

describe('when to compose', () => {
  it('does nothing without events, and waits for the end of the group window', () => {
    expect(flushDecision(emptyPending(), T0, rules)).toEqual({ kind: 'idle' });
    const state = withEvents(3);
    expect(flushDecision(state, T0 + 10, rules)).toEqual({ kind: 'wait', until: T0 + 30_000, held: false });
    expect(flushDecision(state, T0 + 30_000, rules)).toEqual({ kind: 'compose', heldBack: false });
  });

  it('holds a group past its window while the hour has had max_per_hour mails, then composes it marked as held', () => {
    const mailTimes = [T0 - HOUR_MS + 5000, T0 - 1000];
    const state: PendingState = { ...withEvents(1), mailTimes };
    const strict = { groupWindowMs: 30_000, maxPerHour: 2 };
    expect(flushDecision(state, T0 + 30_000, strict)).toEqual({ kind: 'compose', heldBack: false });
    const full: PendingState = { ...state, mailTimes: [...mailTimes.slice(1), T0 + 1] };
    expect(flushDecision(full, T0 + 30_000, strict)).toEqual({ kind: 'wait', until: T0 - 1000 + HOUR_MS, held: true });
    expect(flushDecision(full, T0 - 1000 + HOUR_MS, strict)).toEqual({ kind: 'compose', heldBack: true });
  });

  it('counts only the last hour', () => {
    expect(nextMailAllowedAt([T0 - HOUR_MS - 1, T0 - HOUR_MS], T0, 1)).toBe(T0);
    expect(nextMailAllowedAt([T0 - 10, T0 - 5, T0 - 1], T0, 2)).toBe(T0 - 5 + HOUR_MS);
  });

  it('moves to the next batch after composing and forgets mails older than an hour', () => {
    const state: PendingState = { ...withEvents(2), batch: 7, mailTimes: [T0 - HOUR_MS - 1, T0 - 5] };
    expect(afterCompose(state, T0)).toEqual({ batch: 8, mailTimes: [T0 - 5, T0] });
  });
});

describe('retry back-off', () => {
  const retry = { initialMs: 5000, maxMs: 600_000 };

  it('doubles from the initial delay up to the maximum', () => {
    const fixed = (failures: number) => retryDelay(failures, retry, () => 1);
    expect([1, 2, 3, 4].map(fixed)).toEqual([5000, 10_000, 20_000, 40_000]);
    expect(fixed(8)).toBe(600_000);
    expect(fixed(1000)).toBe(600_000);
  });

  it('is jittered between half a step and a whole one', () => {
    expect(retryDelay(3, retry, () => 0)).toBe(10_000);
    for (let i = 0; i < 100; i++) {
      const d = retryDelay(3, retry);
      expect(d).toBeGreaterThanOrEqual(10_000);
      expect(d).toBeLessThanOrEqual(20_000);
    }
  });
});
