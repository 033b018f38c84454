import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerView } from '../../src/model/peer.js';
import type { VrrpState } from '../../src/model/vrrp.js';
import type { JournalEntry } from '../../src/watchdog/journal.js';
import { decide, type PolicyConfig } from '../../src/watchdog/policy.js';
import { planSplits, planStops, vrrpGroups, type SplitVerdict } from '../../src/watchdog/split-plan.js';

const NOW = 1_800_000_000_000;
const CONFIG: PolicyConfig = { mode: 'demote', dryRun: false, holdDownMs: 2000, cooldownMs: 10_000, maxActionsPerHour: 6, restoreAfterMs: 30_000, maxRestoreAfterMs: 900_000 };

/**
 * A group as the test sets it up: who hears whom on the VRRP segment (a group index per director),
 * each instance's priorities, and instances in FAULT for reasons of their own. The VRRP states are
 * what VRRP converges to in each group: the highest priority (then the higher address) is MASTER.
 */
interface Group {
  nodes: string[];
  /** Director → which VRRP group it is in. */
  hears: Record<string, number>;
  /** Instance name → director → priority. */
  priorities: Record<string, Record<string, number>>;
  faulty?: Set<string>;
}

const address = (g: Group, node: string) => `198.18.0.${g.nodes.indexOf(node) + 1}`;
const vridOf = (iname: string) => 50 + Number(iname.slice(3));

/** VRRP's own election within each group (RFC 5798: higher priority, then higher address). */
function converge(g: Group, demoted: ReadonlySet<string> = new Set()): Record<string, Record<string, VrrpState>> {
  const states: Record<string, Record<string, VrrpState>> = {};
  for (const [iname, priorities] of Object.entries(g.priorities)) {
    states[iname] = {};
    const down = (n: string) => g.faulty?.has(`${n}|${iname}`) || demoted.has(`${n}|${iname}`);
    for (const n of g.nodes) if (down(n)) states[iname][n] = 'FAULT';
    for (const component of new Set(Object.values(g.hears))) {
      const up = g.nodes.filter((n) => g.hears[n] === component && !down(n));
      up.sort((a, b) => priorities[b]! - priorities[a]! || g.nodes.indexOf(b) - g.nodes.indexOf(a));
      up.forEach((n, rank) => (states[iname]![n] = rank === 0 ? 'MASTER' : 'BACKUP'));
    }
  }
  return states;
}

function viewsOf(g: Group, states = converge(g)): PeerView[] {
  return g.nodes.map((node) => ({
    v: 1,
    node,
    keepalivedUp: true,
    instances: Object.keys(g.priorities).map((iname) => ({
      name: iname,
      vrid: vridOf(iname),
      state: states[iname]![node]!,
      effectivePriority: g.priorities[iname]![node]!,
      primaryAddress: address(g, node),
      vips: [],
    })),
  }));
}

function splitsOf(views: PeerView[]): SplitVerdict[] {
  const inames = [...new Set(views.flatMap((v) => v.instances.map((i) => i.name)))].sort();
  return inames.flatMap((iname) => {
    const masters = views.filter((v) => v.instances.some((i) => i.name === iname && i.state === 'MASTER')).map((v) => v.node).sort();
    return masters.length > 1 ? [{ kind: 'split-brain' as const, iname, vrid: vridOf(iname), masters, since: NOW - 5000, causes: [] }] : [];
  });
}

/** What each director decides to demote, past the hold-down, with this node's own view first as on a director. */
function demotionsBy(node: string, views: PeerView[], journal: JournalEntry[] = []): string[] {
  const own = views.find((v) => v.node === node)!;
  const decisions = decide({ node, now: NOW, verdicts: splitsOf(views), views: [own, ...views.filter((v) => v !== own)], journal, config: CONFIG });
  return decisions.flatMap((d) => (d.kind === 'demote' ? [d.iname] : []));
}

/** Whether each director decides to stop keepalived under policy stop, past the hold-down, with its own view first. */
function stopsBy(node: string, views: PeerView[]): boolean {
  const own = views.find((v) => v.node === node)!;
  const decisions = decide({ node, now: NOW, verdicts: splitsOf(views), views: [own, ...views.filter((v) => v !== own)], journal: [], config: { ...CONFIG, mode: 'stop' } });
  return decisions.some((d) => d.kind === 'stop');
}

/** The lab's group of three: each VRID has one owner and an order of backups. */
const TRIO = {
  nodes: ['lb1', 'lb2', 'lb3'],
  priorities: {
    VI_1: { lb1: 100, lb2: 90, lb3: 80 },
    VI_2: { lb1: 80, lb2: 100, lb3: 90 },
    VI_3: { lb1: 90, lb2: 80, lb3: 100 },
  },
};

describe('planSplits in a group of three', () => {
  it('isolating lb3 on VRRP: lb3 demotes what it does not own, and both of the others demote VI_3, so lb2 cannot take it from lb1', () => {
    const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    // lb1 took VI_3 over (90 beats lb2's 80): a demotion of lb1 alone would hand it to lb2, which cannot hear lb3 either.
    expect(splitsOf(views).map((s) => [s.iname, s.masters])).toEqual([['VI_1', ['lb1', 'lb3']], ['VI_2', ['lb2', 'lb3']], ['VI_3', ['lb1', 'lb3']]]);
    expect(vrrpGroups(views)).toEqual([['lb1', 'lb2'], ['lb3']]);
    expect(planSplits(splitsOf(views), views).vrids).toEqual([
      { iname: 'VI_1', vrid: 51, keeper: 'lb1', demote: ['lb3'] },
      { iname: 'VI_2', vrid: 52, keeper: 'lb2', demote: ['lb3'] },
      { iname: 'VI_3', vrid: 53, keeper: 'lb3', demote: ['lb1', 'lb2'] },
    ]);
    expect(Object.fromEntries(TRIO.nodes.map((n) => [n, demotionsBy(n, views)]))).toEqual({ lb1: ['VI_3'], lb2: ['VI_3'], lb3: ['VI_1', 'VI_2'] });
  });

  it('all three deaf to each other: each keeps its own VRID and demotes the two others', () => {
    const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 1, lb3: 2 } });
    expect(vrrpGroups(views)).toEqual([['lb1'], ['lb2'], ['lb3']]);
    expect(Object.fromEntries(TRIO.nodes.map((n) => [n, demotionsBy(n, views)]))).toEqual({ lb1: ['VI_2', 'VI_3'], lb2: ['VI_1', 'VI_3'], lb3: ['VI_1', 'VI_2'] });
  });

  it('leaves a BACKUP known to hear the keeper alone, and demotes one that the views cannot place', () => {
    // One VRID only: lb2 (70) is below both MASTERs, so it could be with either.
    const one = { nodes: TRIO.nodes, priorities: { VI_1: { lb1: 100, lb2: 70, lb3: 80 } } };
    const apart = viewsOf({ ...one, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    expect(vrrpGroups(apart)).toEqual([['lb1'], ['lb2'], ['lb3']]);
    expect(planSplits(splitsOf(apart), apart).vrids).toEqual([{ iname: 'VI_1', vrid: 51, keeper: 'lb1', demote: ['lb2', 'lb3'] }]);
    // A second VRID that lb1 and lb2 share without a split places lb2 with lb1.
    const two = { nodes: TRIO.nodes, priorities: { ...one.priorities, VI_2: { lb1: 50, lb2: 60, lb3: 40 } }, faulty: new Set(['lb3|VI_2']) };
    const placed = viewsOf({ ...two, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    expect(vrrpGroups(placed)).toEqual([['lb1', 'lb2'], ['lb3']]);
    expect(planSplits(splitsOf(placed), placed).vrids).toEqual([{ iname: 'VI_1', vrid: 51, keeper: 'lb1', demote: ['lb3'] }]);
  });

  it('has a BACKUP demoted by the plan wait quietly while the split lasts, and restore at once if the keeper goes', () => {
    const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    const journal: JournalEntry[] = [{ at: NOW - 100, action: 'demote', iname: 'VI_3', winner: 'lb3', reason: 'x', dryRun: false, restoreAfterMs: 30_000 }];
    const faultOnLb2 = views.map((v) => (v.node === 'lb2' ? { ...v, instances: v.instances.map((i) => (i.name === 'VI_3' ? { ...i, state: 'FAULT' as const } : i)) } : v));
    const lb2 = decide({ node: 'lb2', now: NOW, verdicts: splitsOf(views), views: faultOnLb2, journal, config: CONFIG });
    expect(lb2).toEqual([{ kind: 'wait', iname: 'VI_3', why: 'demoted', until: NOW + 29_900 }]);
    const keeperGone = faultOnLb2.filter((v) => v.node !== 'lb3');
    expect(decide({ node: 'lb2', now: NOW, verdicts: [], views: keeperGone, journal, config: CONFIG })).toEqual([expect.objectContaining({ kind: 'restore', iname: 'VI_3' })]);
  });
});

describe('one hold-down for the whole split', () => {
  const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 0, lb3: 1 } });
  /** The splits of the lb3 case, VI_2's beginning `lag` ms after the others (its MASTER's adverts run at another phase). */
  const lagging = (lag: number, first = NOW - 2000): SplitVerdict[] => splitsOf(views).map((s) => ({ ...s, since: s.iname === 'VI_2' ? first + lag : first }));
  const acted = (node: string, verdicts: SplitVerdict[]) => decide({ node, now: NOW, verdicts, views, journal: [], config: CONFIG }).flatMap((d) => (d.kind === 'demote' ? [d.iname] : []));

  it('acts on a VRID whose split began later with the first, once the first has lasted the hold-down', () => {
    expect(acted('lb3', lagging(900))).toEqual(['VI_1', 'VI_2']);
    // Not before the first one's hold-down is over.
    expect(acted('lb3', lagging(900, NOW - 1900))).toEqual([]);
  });

  it('gives a split that began more than a hold-down after an unresolved one a hold-down of its own', () => {
    expect(acted('lb3', lagging(2500, NOW - 4000))).toEqual(['VI_1']);
    expect(decide({ node: 'lb3', now: NOW, verdicts: lagging(2500, NOW - 4000), views, journal: [], config: CONFIG })).toContainEqual({ kind: 'wait', iname: 'VI_2', why: 'hold-down', until: NOW + 500 });
  });
});

// ---- properties ---------------------------------------------------------------------------------

/** Any group of 2 to 5 directors, any partition of the VRRP segment, 1 to 4 instances, any priorities, some instances in FAULT. */
const anyGroup: fc.Arbitrary<Group> = fc.integer({ min: 2, max: 5 }).chain((n) => {
  const nodes = Array.from({ length: n }, (_, i) => `d${i + 1}`);
  return fc.integer({ min: 1, max: 4 }).chain((k) => {
    const inames = Array.from({ length: k }, (_, i) => `VI_${i + 1}`);
    return fc.record({
      nodes: fc.constant(nodes),
      hears: fc.tuple(...nodes.map(() => fc.integer({ min: 0, max: n - 1 }))).map((g) => Object.fromEntries(nodes.map((d, i) => [d, g[i]!]))),
      priorities: fc.tuple(...inames.map(() => fc.tuple(...nodes.map(() => fc.integer({ min: 1, max: 254 }))))).map((ps) =>
        Object.fromEntries(inames.map((iname, i) => [iname, Object.fromEntries(nodes.map((d, j) => [d, ps[i]![j]!]))])),
      ),
      faulty: fc.subarray(nodes.flatMap((d) => inames.map((i) => `${d}|${i}`)), { maxLength: 2 }).map((f) => new Set(f)),
    });
  });
});

/** The views in another order: what a director receives depends on who answered first. */
const shuffled = <T>(list: readonly T[], keys: readonly number[]) => list.map((x, i) => [keys[i % keys.length]!, x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);

describe('planSplits, whatever the group', () => {
  it('is the same plan on every director, whatever order the views come in', () => {
    fc.assert(
      fc.property(anyGroup, fc.array(fc.double({ noNaN: true }), { minLength: 1, maxLength: 5 }), (g, keys) => {
        const views = viewsOf(g);
        const splits = splitsOf(views);
        expect(planSplits(shuffled(splits, keys), shuffled(views, keys))).toEqual(planSplits(splits, views));
        // And what each director decides for itself is its share of that plan.
        const plan = planSplits(splits, views);
        for (const node of g.nodes) {
          expect(demotionsBy(node, shuffled(views, keys))).toEqual(plan.vrids.filter((p) => p.demote.includes(node)).map((p) => p.iname));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('leaves exactly one MASTER per VRID after one round of demotions, the keeper, never demoted itself', () => {
    fc.assert(
      fc.property(anyGroup, (g) => {
        const views = viewsOf(g);
        const demoted = new Set(g.nodes.flatMap((node) => demotionsBy(node, views).map((iname) => `${node}|${iname}`)));
        const after = converge(g, demoted);
        const plan = planSplits(splitsOf(views), views);
        for (const iname of Object.keys(g.priorities)) {
          const masters = g.nodes.filter((n) => after[iname]![n] === 'MASTER');
          const before = g.nodes.filter((n) => converge(g)[iname]![n] === 'MASTER');
          expect(masters, `${iname}: MASTERs ${before.join(',')} before, ${masters.join(',')} after`).toHaveLength(Math.min(1, before.length));
          const keeper = plan.vrids.find((p) => p.iname === iname)?.keeper;
          if (keeper) expect(masters).toEqual([keeper]);
          if (keeper) expect(demoted.has(`${keeper}|${iname}`)).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('planStops', () => {
  const stopping = (views: PeerView[]) => Object.fromEntries(TRIO.nodes.map((n) => [n, stopsBy(n, views)]));

  it('isolating lb3 on VRRP: lb1 and lb2 win two of the three split VRIDs and keep running, lb3 alone stops', () => {
    const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    expect(planStops(splitsOf(views), views)).toEqual({
      sides: [{ nodes: ['lb1', 'lb2'], wins: ['VI_1', 'VI_2'], stop: false }, { nodes: ['lb3'], wins: ['VI_3'], stop: true }],
      unranked: [],
    });
    expect(stopping(views)).toEqual({ lb1: false, lb2: false, lb3: true });
  });

  it('all three deaf to each other: one keeps running (the higher address on equal wins and priorities), both others stop', () => {
    const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 1, lb3: 2 } });
    expect(planStops(splitsOf(views), views).sides.map((s) => [s.nodes, s.stop])).toEqual([[['lb3'], false], [['lb2'], true], [['lb1'], true]]);
    expect(stopping(views)).toEqual({ lb1: true, lb2: true, lb3: false });
  });

  it('keeps a side running when stopping it would leave one of its instances with no director, and says why in the decision', () => {
    // lb3 alone runs VI_4 (the others have it in FAULT): stopping lb3 would leave VI_4 without a MASTER.
    const g = { nodes: TRIO.nodes, hears: { lb1: 0, lb2: 0, lb3: 1 }, priorities: { ...TRIO.priorities, VI_4: { lb1: 10, lb2: 10, lb3: 10 } }, faulty: new Set(['lb1|VI_4', 'lb2|VI_4']) };
    const views = viewsOf(g);
    expect(planStops(splitsOf(views), views).sides.map((s) => [s.nodes, s.stop])).toEqual([[['lb1', 'lb2'], false], [['lb3'], false]]);
    expect(stopping(views)).toEqual({ lb1: false, lb2: false, lb3: false });
    const trio = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    const decision = decide({ node: 'lb3', now: NOW, verdicts: splitsOf(trio), views: trio, journal: [], config: { ...CONFIG, mode: 'stop' } });
    expect(decision).toEqual([{ kind: 'stop', iname: 'VI_1', vrid: 51, winner: 'lb1', reason: expect.stringContaining('lb1, lb2 win most of the split VRIDs (VI_1, VI_2)'), restoreAfterMs: 30_000 }]);
  });

  it('stops nobody while a director is stopping already: an instance in STOP, a MASTER whose VIPs are gone, a split no longer shown', () => {
    const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    const splits = splitsOf(views);
    const onLb3 = (change: (i: PeerView['instances'][number]) => PeerView['instances'][number]) => views.map((v) => (v.node === 'lb3' ? { ...v, instances: v.instances.map((i) => (i.name === 'VI_1' ? change(i) : i)) } : v));
    const stopped = (vs: PeerView[]) => planStops(splits, vs).sides.filter((s) => s.stop).flatMap((s) => s.nodes);
    expect(stopped(views)).toEqual(['lb3']);
    // lb3's keepalived stops instance by instance: VI_1 already STOP, the others still split.
    expect(stopped(onLb3((i) => ({ ...i, state: 'STOP' })))).toEqual([]);
    expect(stopped(onLb3((i) => ({ ...i, settingsKnown: true, vips: ['198.18.0.50'], vipsPresent: [] })))).toEqual([]);
    // VI_1 left MASTER on lb3 (BACKUP now), its split verdict not cleared yet: VI_2 and VI_3 alone would make lb3 the winner.
    expect(stopped(onLb3((i) => ({ ...i, state: 'BACKUP' })))).toEqual([]);
    for (const node of TRIO.nodes) expect(stopsBy(node, onLb3((i) => ({ ...i, state: 'STOP' })))).toBe(false);
  });

  it('waits one hold-down for the whole event, then stops once', () => {
    const views = viewsOf({ ...TRIO, hears: { lb1: 0, lb2: 0, lb3: 1 } });
    const fresh = splitsOf(views).map((s) => ({ ...s, since: NOW - 500 }));
    expect(decide({ node: 'lb3', now: NOW, verdicts: fresh, views, journal: [], config: { ...CONFIG, mode: 'stop' } })).toEqual(
      fresh.map((s) => ({ kind: 'wait', iname: s.iname, why: 'hold-down', until: NOW + 1500 })),
    );
    const stopped: JournalEntry[] = [{ at: NOW - 100, action: 'stop', iname: 'VI_1', reason: 'x', dryRun: false, restoreAfterMs: 30_000 }];
    expect(decide({ node: 'lb3', now: NOW, verdicts: splitsOf(views), views, journal: stopped, config: { ...CONFIG, mode: 'stop' } })).toEqual([{ kind: 'wait', iname: 'VI_1', why: 'cooldown', until: NOW - 100 + CONFIG.cooldownMs }]);
  });
});

describe('planStops, whatever the group', () => {
  /** The VRRP states once the directors the plan stops have stopped keepalived. */
  const afterStops = (g: Group, stopped: readonly string[]) => converge(g, new Set(stopped.flatMap((n) => Object.keys(g.priorities).map((i) => `${n}|${i}`))));
  const mastersOf = (states: Record<string, Record<string, VrrpState>>, g: Group, iname: string) => g.nodes.filter((n) => states[iname]![n] === 'MASTER');

  it('is the same plan on every director, whatever order the views come in, and each director stops exactly when its side does', () => {
    fc.assert(
      fc.property(anyGroup, fc.array(fc.double({ noNaN: true }), { minLength: 1, maxLength: 5 }), (g, keys) => {
        const views = viewsOf(g);
        const splits = splitsOf(views);
        const plan = planStops(splits, views);
        expect(planStops(shuffled(splits, keys), shuffled(views, keys))).toEqual(plan);
        const stopped = plan.sides.filter((s) => s.stop).flatMap((s) => s.nodes);
        for (const node of g.nodes) expect(stopsBy(node, shuffled(views, keys))).toBe(stopped.includes(node));
      }),
      { numRuns: 300 },
    );
  });

  it('never leaves a VRID without a MASTER, never stops the side that wins most, and ends the split in one round when the views place every director', () => {
    fc.assert(
      fc.property(anyGroup, (g) => {
        const views = viewsOf(g);
        const plan = planStops(splitsOf(views), views);
        const stopped = plan.sides.filter((s) => s.stop).flatMap((s) => s.nodes);
        const [before, after] = [converge(g), afterStops(g, stopped)];
        for (const iname of Object.keys(g.priorities)) {
          if (mastersOf(before, g, iname).length > 0) expect(mastersOf(after, g, iname).length, iname).toBeGreaterThan(0);
        }
        if (plan.sides.length > 0) expect(plan.sides[0]!.stop).toBe(false);
        // Every director placed as the partition really is, and only one side of the split left running.
        const truth = [...new Set(Object.values(g.hears))].map((c) => g.nodes.filter((n) => g.hears[n] === c)).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
        const placed = JSON.stringify([...vrrpGroups(views)].sort((a, b) => (a[0]! < b[0]! ? -1 : 1))) === JSON.stringify(truth);
        if (placed && plan.sides.filter((s) => !s.stop).length === 1) {
          for (const iname of Object.keys(g.priorities)) expect(mastersOf(after, g, iname).length, iname).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 500 },
    );
  });
});
