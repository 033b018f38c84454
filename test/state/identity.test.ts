import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VRRP_STAT_KEYS, type DumpInstance, type VrrpState, type VrrpStats } from '../../src/model/vrrp.js';
import { identify, reconcile, refinedOnset, SAME_TRANSITION_MS, type TransitionRecord } from '../../src/state/identity.js';
import { parseLastKnown, serializeLastKnown } from '../../src/state/last-known.js';
import { reduce } from '../../src/state/reduce.js';
import { emptySnapshot, type Snapshot, type Update } from '../../src/state/snapshot.js';
import { reduceAll } from './reduce-all.js';

const T0 = Date.UTC(2026, 11, 1, 12);

function run(updates: Update[], start: Snapshot = emptySnapshot('lb2')): { s: Snapshot; transitions: [VrrpState, VrrpState][] } {
  const { s, changes } = reduceAll(updates, start);
  return { s, transitions: changes.flatMap((c) => (c.type === 'transition' && c.scope === 'instance' ? [[c.from, c.to] as [VrrpState, VrrpState]] : [])) };
}

/**
 * The updates after which VI_1's onset moved later with no transition: every source reads a
 * transition at or after keepalived made it, so another reading may only move it earlier.
 */
function onsetsMovedLater(updates: Update[], start: Snapshot): Update[] {
  const moved: Update[] = [];
  let s = start;
  for (const u of updates) {
    const { snapshot, changes } = reduce(s, u);
    const [before, after] = [s.instances.VI_1?.stateSince, snapshot.instances.VI_1?.stateSince];
    if (!changes.some((c) => c.type === 'transition') && before !== undefined && after !== undefined && after > before) moved.push(u);
    s = snapshot;
  }
  return moved;
}

const report = (source: 'hook' | 'fifo', at: number, state: VrrpState, name = 'VI_1'): Update => ({ type: 'report', source, at, report: { kind: 'state', scope: 'instance', name, state, priority: 100 } });

function stats(becomeMaster: number, releaseMaster: number): VrrpStats {
  const all = Object.fromEntries(VRRP_STAT_KEYS.map((k) => [k, 0])) as VrrpStats;
  return { ...all, become_master: becomeMaster, release_master: releaseMaster };
}

const dumped = (state: VrrpState, lastTransitionMs: number, counters: VrrpStats, name = 'VI_1'): DumpInstance => ({ name, vrid: 51, state, lastTransition: lastTransitionMs / 1000, vips: [], stats: counters });
/** `takenAfter`: when the dump was asked for (unknown, as for a dump file someone else writes, when left out). */
const dump = (at: number, instance: DumpInstance, pid = 4242, takenAfter?: number): Update => ({ type: 'dump', at, pid, instances: [instance], ...(takenAfter === undefined ? {} : { takenAfter }) });

describe('one identity per keepalived transition', () => {
  it('counts BACKUP->MASTER->BACKUP once after a restart replays the spool and the FIFO holds the same lines', () => {
    // Before the restart: BACKUP, reported by both sources and a dump (which sets the counters' baseline).
    const before = run([report('hook', T0, 'BACKUP'), report('fifo', T0 + 2, 'BACKUP'), dump(T0 + 10, dumped('BACKUP', T0, stats(3, 3)))]).s;
    // While kawatch was down keepalived went MASTER at +60 s and BACKUP at +65 s; at +120 s kawatch
    // reads the spool (keepalived's times) and then the FIFO (the time it reads them).
    const t1 = T0 + 60_000;
    const t2 = T0 + 65_000;
    const read = T0 + 120_000;
    const { s, transitions } = run(
      [report('hook', t1 + 15, 'MASTER'), report('hook', t2 + 12, 'BACKUP'), report('fifo', read, 'MASTER'), report('fifo', read, 'BACKUP'), dump(read + 50, dumped('BACKUP', t2, stats(4, 4)))],
      before,
    );
    expect(transitions).toEqual([
      ['BACKUP', 'MASTER'],
      ['MASTER', 'BACKUP'],
    ]);
    // The dump's last_transition is keepalived's own time, more precise than the hook's stamp.
    expect(s.instances.VI_1).toMatchObject({ state: 'BACKUP', stateSince: t2 });
    expect(s.reconciled).toEqual({ match: 2, missed: 0, duplicate: 0 });
  });

  it('reads FIFO lines that waited in the pipe before the spool as the same transitions', () => {
    const before = run([report('hook', T0, 'BACKUP'), report('fifo', T0 + 2, 'BACKUP')]).s;
    const read = T0 + 120_000;
    const { transitions, s } = run([report('fifo', read, 'MASTER'), report('fifo', read, 'BACKUP'), report('hook', T0 + 60_000, 'MASTER'), report('hook', T0 + 65_000, 'BACKUP')], before);
    expect(transitions).toEqual([
      ['BACKUP', 'MASTER'],
      ['MASTER', 'BACKUP'],
    ]);
    expect(s.instances.VI_1!.stateSince).toBe(T0 + 65_000);
  });

  it('keeps two quick flaps apart: the same state twice within the tolerance is two transitions', () => {
    const { transitions } = run([
      report('hook', T0, 'BACKUP'),
      report('fifo', T0 + 1, 'BACKUP'),
      report('hook', T0 + 100, 'MASTER'),
      report('hook', T0 + 200, 'BACKUP'),
      report('hook', T0 + 300, 'MASTER'),
      report('fifo', T0 + 400, 'MASTER'),
      report('fifo', T0 + 400, 'BACKUP'),
      report('fifo', T0 + 400, 'MASTER'),
    ]);
    expect(transitions).toEqual([
      ['INIT', 'BACKUP'],
      ['BACKUP', 'MASTER'],
      ['MASTER', 'BACKUP'],
      ['BACKUP', 'MASTER'],
    ]);
  });

  it('ignores a dump written before a transition the hook already told, and reconciles the next one', () => {
    const before = run([report('hook', T0, 'BACKUP'), dump(T0 + 10, dumped('BACKUP', T0, stats(0, 0)))]).s;
    const { s, transitions } = run([report('hook', T0 + 5000, 'MASTER'), dump(T0 + 5010, dumped('BACKUP', T0, stats(0, 0))), dump(T0 + 6000, dumped('MASTER', T0 + 4990, stats(1, 0)))], before);
    expect(transitions).toEqual([['BACKUP', 'MASTER']]);
    expect(s.instances.VI_1!.state).toBe('MASTER');
    expect(s.reconciled).toEqual({ match: 1, missed: 0, duplicate: 0 });
  });

  it('shows a transition no source reported as missed, and one counted beyond keepalived as duplicate', () => {
    const base = run([report('hook', T0, 'MASTER'), dump(T0 + 10, dumped('MASTER', T0, stats(1, 0)))]).s;
    // MASTER -> BACKUP -> MASTER with no hook or FIFO: the dump still says MASTER, its counters moved.
    expect(run([dump(T0 + 60_000, dumped('MASTER', T0 + 50_000, stats(2, 1)))], base).s.reconciled).toEqual({ match: 0, missed: 2, duplicate: 0 });
    // A transition keepalived's counters never saw (as a replay counted twice would be).
    expect(run([report('hook', T0 + 60_000, 'BACKUP'), dump(T0 + 60_010, dumped('BACKUP', T0 + 60_000, stats(1, 0)))], base).s.reconciled).toEqual({ match: 0, missed: 0, duplicate: 1 });
  });

  it('starts a new baseline for a new keepalived process instead of comparing with the old one', () => {
    const base = { pid: 1, becomeMaster: 5, releaseMaster: 5, intoMaster: 0, outOfMaster: 1 };
    expect(reconcile(base, stats(1, 0), 2).result).toBeUndefined();
    expect(reconcile(base, stats(1, 0), undefined).result).toBeUndefined(); // counters went back
    expect(reconcile(base, stats(5, 6), 1).result).toEqual({ match: 1, missed: 0, duplicate: 0 });
  });

  const t1 = T0 + 10_000;
  const states = (...names: VrrpState[]): [VrrpState, VrrpState][] => names.slice(1).map((to, i) => [names[i]!, to]);
  it.each([
    {
      // keepalived: MASTER -> FAULT at t1, -> BACKUP 15 ms later, -> MASTER 400 ms after t1. The FIFO
      // tells the first two; the BACKUP hook's file lands before the FAULT hook's, which lands after the third.
      name: 'matches a hook that lost the race to the spool to the transition the FIFO told before it',
      updates: [
        report('hook', T0, 'MASTER'),
        report('fifo', T0 + 1, 'MASTER'),
        report('fifo', t1 + 1, 'FAULT'),
        report('fifo', t1 + 16, 'BACKUP'),
        report('hook', t1 + 17, 'BACKUP'),
        report('fifo', t1 + 401, 'MASTER'),
        report('hook', t1 + 3, 'FAULT'),
        report('hook', t1 + 402, 'MASTER'),
      ],
      told: states('INIT', 'MASTER', 'FAULT', 'BACKUP', 'MASTER'),
      // The FIFO line, read before the hook ran.
      since: t1 + 401,
    },
    {
      // keepalived: BACKUP -> MASTER at t1, -> FAULT 1 s later, -> MASTER 1.5 s after t1 (within the
      // hook's lag of t1); the FAULT hook lands after the MASTER one.
      name: 'tells a hook stamped otherwise from the transition the hook already told, though a dump retimed it',
      updates: [
        report('hook', T0, 'BACKUP'),
        report('hook', t1 + 3, 'MASTER'),
        dump(t1 + 20, dumped('MASTER', t1, stats(1, 0)), 4242, t1 + 10),
        report('fifo', t1 + 30, 'MASTER'),
        report('fifo', t1 + 1001, 'FAULT'),
        report('fifo', t1 + 1501, 'MASTER'),
        report('hook', t1 + 1503, 'MASTER'),
        report('hook', t1 + 1002, 'FAULT'),
      ],
      told: states('INIT', 'BACKUP', 'MASTER', 'FAULT', 'MASTER'),
      since: t1 + 1501,
    },
    {
      // keepalived: MASTER -> BACKUP, then FAULT 3 ms later; the BACKUP hook runs 60 ms late, after
      // the FIFO told both, and a dump asked for then shows FAULT since keepalived's own time.
      name: 'matches a hook run after the next transition to the transition it stamps',
      updates: [
        report('hook', T0, 'MASTER'),
        report('fifo', T0 + 1, 'MASTER'),
        report('fifo', t1 + 1, 'BACKUP'),
        report('fifo', t1 + 4, 'FAULT'),
        report('hook', t1 + 61, 'BACKUP'),
        dump(t1 + 150, dumped('FAULT', t1 + 3, stats(1, 1)), 4242, t1 + 100),
        report('hook', t1 + 62, 'FAULT'),
      ],
      told: states('INIT', 'MASTER', 'BACKUP', 'FAULT'),
      since: t1 + 3,
    },
  ])('$name', ({ updates, told, since }) => {
    const { s, transitions } = run(updates);
    expect(transitions).toEqual(told);
    expect(s.instances.VI_1).toMatchObject({ state: told.at(-1)![1], stateSince: since });
  });

  it('takes a dump asked for before the latest report for no new transition (it was written before that one arrived)', () => {
    // The FIFO tells MASTER, then BACKUP 15 ms later; a dump asked for between them arrives after
    // both, saying MASTER since before either was read.
    const t2 = t1 + 15;
    const before = run([report('hook', T0, 'BACKUP'), report('fifo', T0 + 1, 'BACKUP'), dump(T0 + 10, dumped('BACKUP', T0, stats(2, 2)), 4242, T0 + 5)]).s;
    const { s, transitions } = run([report('fifo', t1 + 1, 'MASTER'), report('fifo', t2 + 1, 'BACKUP'), dump(t2 + 5, dumped('MASTER', t1, stats(3, 2)), 4242, t1 + 5)], before);
    expect(transitions).toEqual([
      ['BACKUP', 'MASTER'],
      ['MASTER', 'BACKUP'],
    ]);
    expect(s.instances.VI_1!.state).toBe('BACKUP');
    // Its counters are older than what was counted since: the next dump asked for compares them.
    expect(s.reconciled).toEqual({ match: 0, missed: 0, duplicate: 0 });
    const next = run([dump(t2 + 100, dumped('BACKUP', t2, stats(3, 3)), 4242, t2 + 50)], s);
    expect(next.transitions).toEqual([]);
    expect(next.s.instances.VI_1).toMatchObject({ state: 'BACKUP', stateSince: t2 });
    expect(next.s.reconciled).toEqual({ match: 2, missed: 0, duplicate: 0 });
  });

  it('takes a dump asked for after every report for the present, a transition no source told yet included', () => {
    const before = run([report('hook', T0, 'BACKUP'), report('fifo', T0 + 1, 'BACKUP'), dump(T0 + 10, dumped('BACKUP', T0, stats(0, 0)), 4242, T0 + 5)]).s;
    const { s, transitions } = run([dump(t1 + 20, dumped('MASTER', t1, stats(1, 0)), 4242, t1 + 10), report('fifo', t1 + 30, 'MASTER'), report('hook', t1 + 2, 'MASTER')], before);
    expect(transitions).toEqual([['BACKUP', 'MASTER']]);
    expect(s.instances.VI_1).toMatchObject({ state: 'MASTER', stateSince: t1 });
    expect(s.reconciled).toEqual({ match: 1, missed: 0, duplicate: 0 });
  });

  it('matches a hook stamp to a dump transition within the lag, and no further, and never before it', () => {
    const log: TransitionRecord[] = [{ seq: 1, from: 'BACKUP', to: 'MASTER', at: T0, clock: 'keepalived', seenBy: ['dump'] }];
    expect(identify(log, 'MASTER', { source: 'hook', to: 'MASTER', at: T0 + SAME_TRANSITION_MS, clock: 'hook', inOrder: true }).kind).toBe('known');
    // Past the lag it is another transition to MASTER (the instance went BACKUP in between).
    const later = identify(log, 'BACKUP', { source: 'hook', to: 'MASTER', at: T0 + SAME_TRANSITION_MS + 1, clock: 'hook', inOrder: true });
    expect(later.kind).toBe('new');
    // A hook runs after keepalived's transition: a stamp before it is of another one.
    expect(identify(log, 'BACKUP', { source: 'hook', to: 'MASTER', at: T0 - 1, clock: 'hook', inOrder: true }).kind).toBe('stale');
  });
});

/**
 * The property, over a model of keepalived and its sources in one real-time line: keepalived makes
 * a sequence of transitions; the hook stamps each within its lag (before the next one), and two
 * quick transitions' records can reach the spool in either order
 * (a live race: kawatch has read the FIFO lines up to the overtaking one, ready before it), and a
 * record can be applied twice (a replay); the FIFO tells them in order, stamped when read;
 * each dump is asked for at some time, written by keepalived later (the state as of then), and
 * read later still, so it can arrive after reports of transitions it does not show, or show one no
 * other source told yet (one at most: keepalived's counters could not tell two from none). All
 * are applied in any interleaving. Each transition counts once, in keepalived's order, with the
 * right `from`, and keepalived's counters agree — also when kawatch restarts anywhere in between
 * with only what state_dir kept.
 */
describe('refinedOnset', () => {
  it('keeps the earlier of two readings that can be one moment, and takes one that cannot as a new onset', () => {
    // A hook stamp 11 ms after the FIFO line was read: the same transition, the read bounds it best.
    expect(refinedOnset(T0, T0 + 11, 'hook')).toBe(T0);
    expect(refinedOnset(T0, T0 + SAME_TRANSITION_MS, 'hook')).toBe(T0);
    expect(refinedOnset(T0, T0 + SAME_TRANSITION_MS + 1, 'hook')).toBe(T0 + SAME_TRANSITION_MS + 1);
    // keepalived's own time: exact, never after a reading of the same transition.
    expect(refinedOnset(T0 + 5, T0, 'keepalived')).toBe(T0);
    expect(refinedOnset(T0, T0 + 1, 'keepalived')).toBe(T0 + 1);
    expect(refinedOnset(undefined, T0, 'hook')).toBe(T0);
  });
});

describe('any interleaving of the sources', () => {
  /** IDENTITY_PROPERTY_RUNS=20000 for a long search (about 10 s). */
  const RUNS = Number(process.env.IDENTITY_PROPERTY_RUNS ?? 500);
  const states = ['MASTER', 'BACKUP', 'FAULT'] as const;
  const gap = fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 10_000 }));
  const scenario = fc.record({
    initial: fc.constantFrom<VrrpState>('BACKUP', 'MASTER'),
    steps: fc.array(fc.record({ to: fc.constantFrom(...states), gap, lag: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 2000 })), raced: fc.boolean(), twice: fc.boolean() }), { minLength: 1, maxLength: 8 }),
    order: fc.array(fc.record({ pick: fc.constantFrom('hook', 'fifo', 'dump'), wait: fc.oneof(fc.nat(30), fc.nat(5000)), ask: fc.oneof(fc.nat(30), fc.nat(3000)), write: fc.nat(3000) }), { maxLength: 40 }),
    afterRestart: fc.boolean(),
    /** keepalived before 1.3.6, or sources.fifo off: the hook is the only source in keepalived's order. */
    withFifo: fc.boolean(),
    /** kawatch restarts after this many updates: what state_dir kept is all the next run knows. */
    restartAfter: fc.option(fc.nat(60), { nil: undefined }),
  });

  it('counts each transition once, in keepalived order, whatever the interleaving', () => {
    fc.assert(
      fc.property(scenario, ({ initial, steps, order, afterRestart, withFifo, restartAfter }) => {
        // keepalived's truth: consecutive states differ.
        const truth: { from: VrrpState; to: VrrpState; at: number; stamp: number; raced: boolean; twice: boolean }[] = [];
        let state = initial;
        let at = T0;
        for (const step of steps) {
          if (step.to === state) continue;
          at += step.gap;
          truth.push({ from: state, to: step.to, at, stamp: 0, raced: step.raced, twice: step.twice });
          state = step.to;
        }
        // The hook's stamp lags keepalived's time (a few ms, or up to SAME_TRANSITION_MS under load), and stays before the next transition.
        truth.forEach((t, i) => (t.stamp = t.at + Math.min(steps[i]?.lag ?? 0, (truth[i + 1]?.at ?? Infinity) - t.at - 1)));
        // The order the records land in the spool: a raced one overtakes the one before it. Without a
        // FIFO nothing tells kawatch of the earlier one before it lands (a known limit), so there the
        // records land as the hooks ran; the spool is drained in the order of their stamps.
        const spool = truth.map((_, i) => i);
        for (let i = 1; i < spool.length; i++) if (withFifo && truth[i]!.raced && spool[i - 1] === i - 1) [spool[i - 1], spool[i]] = [i, i - 1];
        const overtook = (i: number) => spool.indexOf(i) < spool.indexOf(i - 1);
        const counters = (upTo: number) => {
          const done = truth.slice(0, upTo);
          return stats(done.filter((t) => t.to === 'MASTER').length, done.filter((t) => t.from === 'MASTER').length);
        };
        const stateAt = (upTo: number) => (upTo === 0 ? { state: initial, at: T0 } : { state: truth[upTo - 1]!.to, at: truth[upTo - 1]!.at });

        const updates: Update[] = [report('hook', T0, initial), ...(withFifo ? [report('fifo', T0 + 1, initial)] : []), dump(T0 + 2, dumped(initial, T0, counters(0)), 4242, T0 + 1)];
        let now = afterRestart ? (truth.at(-1)?.stamp ?? T0) + 1000 : T0 + 3;
        let lastDump = now;
        let hook = 0;
        let fifo = 0;
        const told = new Set<number>();
        const takeHook = () => {
          const i = spool[hook++]!;
          const t = truth[i]!;
          // A record that overtook an earlier transition's landed live, after keepalived wrote the FIFO
          // lines up to its own, which kawatch reads first as they were ready first.
          if (overtook(i)) while (fifo <= i) takeFifo();
          now = Math.max(now, t.stamp);
          told.add(i);
          updates.push(report('hook', t.stamp, t.to));
          if (t.twice) updates.push(report('hook', t.stamp, t.to));
        };
        const takeFifo = () => {
          const t = truth[fifo++]!;
          now = Math.max(now, t.at) + 1;
          if (!withFifo) return;
          told.add(fifo - 1);
          updates.push(report('fifo', now, t.to));
        };
        const takeDump = (ask: number, write: number) => {
          // One dump at a time: asked for after the previous one was read.
          const asked = Math.max(lastDump, now - ask);
          let written = Math.min(now, asked + write);
          // The transitions it shows that no source told yet: one at most.
          const untold = truth.map((t, i) => ({ t, i })).filter(({ t, i }) => t.at <= written && !told.has(i));
          if (untold.length > 1) written = untold[1]!.t.at - 1;
          const takenAfter = Math.min(asked, written);
          const upTo = truth.filter((t) => t.at <= written).length;
          const { state: s, at: since } = stateAt(upTo);
          lastDump = now;
          updates.push(dump(now, dumped(s, since, counters(upTo)), 4242, takenAfter));
        };
        for (const { pick, wait, ask, write } of order) {
          now += wait;
          if (pick === 'hook' && hook < truth.length) takeHook();
          else if (pick === 'fifo' && fifo < truth.length) takeFifo();
          else if (pick === 'dump') takeDump(ask, write);
        }
        while (hook < truth.length) takeHook();
        while (fifo < truth.length) takeFifo();
        now += 1;
        takeDump(0, 0);

        // IDENTITY_DEBUG=1 prints each failing case's updates (ms after T0), the shrunk one last.
        const trace = () => console.log(JSON.stringify(updates.map((u) => (u.type === 'report' && u.report.kind === 'state' ? [u.source, u.at - T0, u.report.state] : u.type === 'dump' ? ['dump', u.at - T0, u.takenAfter! - T0, u.instances[0]!.state, u.instances[0]!.lastTransition! * 1000 - T0] : u.type))));
        try {
          const cut = Math.min(restartAfter ?? updates.length, updates.length);
          const before = run(updates.slice(0, cut));
          const restarted = restartAfter === undefined ? before.s : reduce(emptySnapshot('lb2'), parseLastKnown(serializeLastKnown(before.s)).restore).snapshot;
          const { s, transitions } = run(updates.slice(cut), restarted);
          expect([...onsetsMovedLater(updates.slice(0, cut), emptySnapshot('lb2')), ...onsetsMovedLater(updates.slice(cut), restarted)]).toEqual([]);
          expect([...before.transitions, ...transitions]).toEqual([['INIT', initial], ...truth.map((t) => [t.from, t.to])]);
          expect(s.instances.VI_1!.state).toBe(stateAt(truth.length).state);
          const masterMoves = truth.filter((t) => t.to === 'MASTER' || t.from === 'MASTER').length;
          const reconciled = restartAfter === undefined ? s.reconciled : { match: before.s.reconciled.match + s.reconciled.match, missed: before.s.reconciled.missed + s.reconciled.missed, duplicate: before.s.reconciled.duplicate + s.reconciled.duplicate };
          expect(reconciled).toEqual({ match: masterMoves, missed: 0, duplicate: 0 });
        } catch (err) {
          if (process.env.IDENTITY_DEBUG) trace();
          throw err;
        }
      }),
      { numRuns: RUNS },
    );
  });
});
