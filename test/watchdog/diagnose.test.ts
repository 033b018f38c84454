import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dictFrom } from '../../src/core/dict.js';
import type { PeerView } from '../../src/model/peer.js';
import type { DumpInstance } from '../../src/model/vrrp.js';
import { buildView } from '../../src/peer/view.js';
import { reduce } from '../../src/state/reduce.js';
import { emptySnapshot, type Snapshot, type Update } from '../../src/state/snapshot.js';
import { SAME_TRANSITION_MS } from '../../src/state/identity.js';
import { diagnose, heldVerdicts, knownInstances, nextConfirmation, reportLags, type DiagnoseOptions } from '../../src/watchdog/diagnose.js';

const NOW = 1_800_000_000_000;
const vip = (address: string) => ({ address, prefix: 24, dev: 'pri0' });

/** lb1's own state: VI_1 in `state`, holding its VIP when MASTER. */
function local(state: 'MASTER' | 'BACKUP', opts: { keepalivedUp?: boolean; vipPresent?: boolean } = {}): Snapshot {
  const s = emptySnapshot('lb1');
  const present = opts.vipPresent ?? state === 'MASTER';
  return {
    ...s,
    keepalived: { up: opts.keepalivedUp ?? true },
    instances: { VI_1: { name: 'VI_1', vrid: 51, interface: 'pri0', state, vips: [vip('198.18.0.50')], lowerPriorityAdverts: 0 } },
    addresses: [{ address: '198.18.0.1', prefix: 24, ifname: 'pri0', family: 4 }, ...(present ? [{ address: '198.18.0.50', prefix: 24, ifname: 'pri0', family: 4 as const }] : [])],
  };
}

function peerView(state: 'MASTER' | 'BACKUP' | 'STOP', opts: { keepalivedUp?: boolean; vipPresent?: boolean } = {}): PeerView {
  const present = opts.vipPresent ?? state === 'MASTER';
  return {
    v: 1,
    node: 'lb2',
    keepalivedUp: opts.keepalivedUp ?? true,
    instances: [{ name: 'VI_1', vrid: 51, state, vips: ['198.18.0.50'], vipsPresent: present ? ['198.18.0.50'] : [] }],
  };
}

function withPeer(s: Snapshot, view: PeerView | undefined, heardMsAgo = 100): Snapshot {
  return { ...s, peers: { lb2: { name: 'lb2', address: '198.18.1.2:9651', view, lastExchange: view ? NOW - heardMsAgo : undefined, errors: 0 } } };
}

const OPTIONS = { now: NOW, unreachableAfterMs: 3500, confirmAfterMs: 150 };
const run = (s: Snapshot) => diagnose(s, OPTIONS);

describe('diagnose', () => {
  it('finds nothing wrong in a healthy pair', () => {
    expect(run(withPeer(local('MASTER'), peerView('BACKUP')))).toEqual([]);
  });

  it('reports a split brain when both views say MASTER, with the VIP on both', () => {
    expect(run(withPeer(local('MASTER'), peerView('MASTER')))).toEqual([
      { kind: 'split-brain', iname: 'VI_1', vrid: 51, masters: ['lb1', 'lb2'], causes: [expect.stringContaining('IP protocol 112')] },
      { kind: 'vip-on-several-nodes', iname: 'VI_1', vrid: 51, address: '198.18.0.50', nodes: ['lb1', 'lb2'] },
    ]);
  });

  it('waits out a VRRP hand-over before calling two MASTERs a split brain', () => {
    const justPreempted = withPeer(local('MASTER'), peerView('MASTER'), 10);
    const lb1 = justPreempted.instances.VI_1!;
    const s = { ...justPreempted, instances: { VI_1: { ...lb1, stateSince: NOW - 40 } } };
    // The VIP on both is the same hand-over: it counts when the dual MASTER does.
    expect(run(s)).toEqual([]);
    expect(nextConfirmation(s, OPTIONS)).toBe(NOW - 40 + 150);
    const later = diagnose(s, { ...OPTIONS, now: NOW + 110 });
    expect(later).toEqual([
      { kind: 'split-brain', iname: 'VI_1', vrid: 51, masters: ['lb1', 'lb2'], since: NOW - 40, causes: [expect.any(String)] },
      { kind: 'vip-on-several-nodes', iname: 'VI_1', vrid: 51, address: '198.18.0.50', nodes: ['lb1', 'lb2'] },
    ]);
    expect(nextConfirmation(s, { ...OPTIONS, now: NOW + 110 })).toBeUndefined();
  });

  it('gives a preempting MASTER an advert interval to take over before calling it a split brain', () => {
    const base = withPeer(local('MASTER'), { ...peerView('MASTER'), instances: [{ ...peerView('MASTER').instances[0]!, effectivePriority: 80, stateSince: NOW - 60_000 }] }, 10);
    const preempting = { ...base, instances: { VI_1: { ...base.instances.VI_1!, effectivePriority: 100, advertInterval: 1, stateSince: NOW - 40 } } };
    expect(nextConfirmation(preempting, OPTIONS)).toBe(NOW - 40 + 150 + 1000);
    expect(diagnose(preempting, { ...OPTIONS, now: NOW + 500 })).toEqual([]);
    // The newcomer with the lower priority became MASTER because it hears nobody: no extra wait.
    const deaf = { ...base, instances: { VI_1: { ...base.instances.VI_1!, effectivePriority: 50, advertInterval: 1, stateSince: NOW - 40 } } };
    expect(nextConfirmation(deaf, OPTIONS)).toBe(NOW - 40 + 150);
  });

  it('takes no view from before the second MASTER appeared as a confirmation', () => {
    const s = withPeer(local('MASTER'), peerView('MASTER'), 1000);
    const lateMaster = { ...s, instances: { VI_1: { ...s.instances.VI_1!, stateSince: NOW - 500 } } };
    expect(run(lateMaster).map((v) => v.kind)).not.toContain('split-brain');
  });

  it('never concludes a split brain from a peer it has not heard lately', () => {
    const verdicts = run(withPeer(local('MASTER'), peerView('MASTER'), 10_000));
    expect(verdicts.map((v) => v.kind)).toEqual(['peer-unreachable']);
    expect(run(withPeer(local('MASTER'), undefined)).map((v) => v.kind)).toEqual(['peer-unreachable']);
  });

  it('reports no MASTER only when every director is heard and runs keepalived', () => {
    expect(run(withPeer(local('BACKUP'), peerView('BACKUP')))).toEqual([{ kind: 'no-master', iname: 'VI_1', vrid: 51, nodes: ['lb1', 'lb2'] }]);
    expect(run(withPeer(local('BACKUP'), peerView('STOP', { keepalivedUp: false })))).toEqual([]);
    expect(run(withPeer(local('BACKUP'), peerView('BACKUP'), 10_000)).map((v) => v.kind)).toEqual(['peer-unreachable']);
  });

  it('reports a MASTER without its VIP', () => {
    expect(run(withPeer(local('MASTER', { vipPresent: false }), peerView('BACKUP')))).toEqual([
      { kind: 'vip-absent-on-master', iname: 'VI_1', vrid: 51, address: '198.18.0.50', node: 'lb1' },
    ]);
  });

  it('gives the same verdicts from either side of the pair', () => {
    const fromLb1 = run(withPeer(local('MASTER'), peerView('MASTER')));
    const lb2 = emptySnapshot('lb2');
    const lb2Snapshot: Snapshot = {
      ...lb2,
      keepalived: { up: true },
      instances: { VI_1: { name: 'VI_1', vrid: 51, interface: 'pri0', state: 'MASTER', vips: [vip('198.18.0.50')], lowerPriorityAdverts: 0 } },
      addresses: [{ address: '198.18.0.50', prefix: 24, ifname: 'pri0', family: 4 }],
      peers: { lb1: { name: 'lb1', address: 'x:1', view: { ...peerView('MASTER'), node: 'lb1' }, lastExchange: NOW, errors: 0 } },
    };
    expect(run(lb2Snapshot)).toEqual(fromLb1);
  });

  it('names a configuration mismatch as the probable cause, without revealing the authentication', () => {
    const lb1 = local('MASTER');
    const s: Snapshot = { ...lb1, instances: { VI_1: { ...lb1.instances.VI_1!, authDigest: '0123456789abcdef', advertInterval: 1 } } };
    const peer = peerView('MASTER');
    const other = { ...peer, instances: [{ ...peer.instances[0]!, vrid: 52, authDigest: 'fedcba9876543210', advertInterval: 1 }] };
    const verdicts = run(withPeer(s, other));
    expect(verdicts.filter((v) => v.kind === 'config-mismatch')).toEqual([
      { kind: 'config-mismatch', iname: 'VI_1', vrid: 51, field: 'virtual_router_id', values: { lb1: '51', lb2: '52' } },
      { kind: 'config-mismatch', iname: 'VI_1', vrid: 51, field: 'authentication', values: { lb1: 'differs', lb2: 'differs' } },
    ]);
    const split = verdicts.find((v) => v.kind === 'split-brain');
    expect(split?.kind === 'split-brain' && split.causes).toEqual([expect.stringContaining('virtual_router_id differs'), expect.stringContaining('authentication differs')]);
    expect(JSON.stringify(verdicts)).not.toContain('0123456789abcdef');
  });

  it('keeps a mismatch between directors named like members of Object.prototype', () => {
    const lb1 = { ...local('MASTER'), node: '__proto__' };
    const other = { ...peerView('BACKUP'), node: 'constructor', instances: [{ ...peerView('BACKUP').instances[0]!, vrid: 52 }] };
    const s: Snapshot = { ...lb1, peers: { constructor: { name: 'constructor', address: '198.18.1.2:9651', view: other, lastExchange: NOW - 100, errors: 0 } } };
    const mismatch = run(s).find((v) => v.kind === 'config-mismatch');
    expect(mismatch?.kind === 'config-mismatch' && Object.entries(mismatch.values)).toEqual([['__proto__', '51'], ['constructor', '52']]);
  });

  it('reports equal priorities, and an instance left away from its preferred director', () => {
    const withPriority = (s: Snapshot, p: number) => ({ ...s, instances: { VI_1: { ...s.instances.VI_1!, basePriority: p } } });
    const peerWith = (state: 'MASTER' | 'BACKUP', p: number) => ({ ...peerView(state), instances: [{ ...peerView(state).instances[0]!, basePriority: p }] });
    expect(run(withPeer(withPriority(local('MASTER'), 100), peerWith('BACKUP', 100)))).toEqual([{ kind: 'equal-priority', iname: 'VI_1', vrid: 51, priority: 100, nodes: ['lb1', 'lb2'] }]);
    expect(run(withPeer(withPriority(local('BACKUP'), 100), peerWith('MASTER', 80)))).toEqual([{ kind: 'not-on-preferred-owner', iname: 'VI_1', vrid: 51, preferred: 'lb1', master: 'lb2' }]);
    expect(run(withPeer(withPriority(local('MASTER'), 100), peerWith('BACKUP', 80)))).toEqual([]);
  });

  it('knows instances reported by peers only', () => {
    const s = withPeer(emptySnapshot('lb1'), { ...peerView('MASTER'), instances: [{ name: 'VI_9', vrid: 99, state: 'MASTER', vips: [] }] });
    expect([...knownInstances(s)]).toEqual([['VI_9', 99]]);
  });
});

/**
 * Directors built the way the daemon builds them: each snapshot is reduced from the updates its
 * sources emit (FIFO lines, keepalived's dump, netlink address events), and a peer's view is what
 * that director's buildView() sends.
 */
const VIP = '198.18.0.50';
const pri = (address: string) => ({ address, prefix: 24, ifname: 'pri0', family: 4 as const });
const fifo = (at: number, state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP', priority?: number): Update => ({ type: 'report', source: 'fifo', at, report: { kind: 'state', scope: 'instance', name: 'VI_1', state, priority } });
const dump = (at: number, over: Partial<DumpInstance> = {}): Update => ({
  type: 'dump',
  at,
  instances: [{ name: 'VI_1', vrid: 51, state: 'BACKUP', interface: 'pri0', basePriority: 100, advertInterval: 1, vips: [vip(VIP)], ...over }],
});
const netlink = (at: number, primary: string, withVip: boolean): Update => ({ type: 'addresses', at, addresses: [pri(primary), ...(withVip ? [pri(VIP)] : [])] });
const vipEvent = (at: number, op: 'add' | 'del'): Update => ({ type: 'address', at, op, address: pri(VIP) });

function director(node: string, updates: Update[]): Snapshot {
  return updates.reduce((s, u) => reduce(s, u).snapshot, { ...emptySnapshot(node), keepalived: { up: true, pid: 1 } } as Snapshot);
}

/** `self` hearing each peer director's view at `heardAt`. */
function group(self: Snapshot, peers: { of: Snapshot; heardAt: number }[]): Snapshot {
  return { ...self, peers: dictFrom(peers.map(({ of, heardAt }) => [of.node, { name: of.node, address: `${of.node}:9651`, view: buildView(of), lastExchange: heardAt, errors: 0 }])) };
}

const kindsAt = (s: Snapshot, now: number, extra: Partial<DiagnoseOptions> = {}) => diagnose(s, { ...OPTIONS, now, ...extra }).map((v) => v.kind);
const LONG_AGO = NOW - 600_000;

describe('no verdict from a benign situation that resembles it', () => {
  it('config-mismatch: compares no settings with a director before its first dump, from either side', () => {
    // d2's keepalived has started and its FIFO said BACKUP, but its first dump has not come yet: it knows no VIPs.
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })]);
    const d2 = director('d2', [netlink(NOW - 50, '198.18.0.2', false), fifo(NOW - 40, 'BACKUP', 90)]);
    const d3 = director('d3', [netlink(NOW - 50, '198.18.0.3', false), fifo(NOW - 30, 'BACKUP', 80)]);
    expect(buildView(d2).instances[0]).toMatchObject({ settingsKnown: false, vips: [], vipsPresent: undefined });
    for (const [self, others] of [[d1, [d2, d3]], [d2, [d1, d3]], [d3, [d1, d2]]] as const) {
      const s = group(self, others.map((of) => ({ of, heardAt: NOW - 10 })));
      expect(kindsAt(s, NOW)).toEqual([]);
    }
    // Once its dump told its settings, a real difference is reported.
    const d2Dumped = director('d2', [netlink(NOW - 50, '198.18.0.2', false), fifo(NOW - 40, 'BACKUP', 90), dump(NOW - 20, { vips: [vip('198.18.0.51')], basePriority: 90 })]);
    expect(diagnose(group(d1, [{ of: d2Dumped, heardAt: NOW - 10 }]), OPTIONS)).toContainEqual({ kind: 'config-mismatch', iname: 'VI_1', vrid: 51, field: 'virtual_ipaddress', values: { d1: VIP, d2: '198.18.0.51' } });
  });

  it('config-mismatch: a view from a director that predates the completeness mark counts as complete when it tells its vrid', () => {
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })]);
    const old = (instance: PeerView['instances'][number]): Snapshot => ({ ...d1, peers: { d2: { name: 'd2', address: 'd2:9651', view: { v: 1, node: 'd2', keepalivedUp: true, instances: [instance] }, lastExchange: NOW - 10, errors: 0 } } });
    expect(kindsAt(old({ name: 'VI_1', state: 'BACKUP', vips: [] }), NOW)).toEqual([]);
    // d1 owes only the VIPs of its own configuration: the other list is the mismatch, not a VIP missing on d1.
    expect(diagnose(old({ name: 'VI_1', vrid: 51, state: 'BACKUP', vips: ['198.18.0.51'] }), OPTIONS)).toEqual([{ kind: 'config-mismatch', iname: 'VI_1', vrid: 51, field: 'virtual_ipaddress', values: { d1: VIP, d2: '198.18.0.51' } }]);
  });

  it('vip-absent-on-master: a MASTER leaving its state removes the VIP just before the FIFO says so', () => {
    const leaving: ('BACKUP' | 'FAULT' | 'STOP')[] = ['BACKUP', 'FAULT', 'STOP'];
    fc.assert(
      fc.property(fc.constantFrom(...leaving), fc.integer({ min: 0, max: OPTIONS.confirmAfterMs - 1 }), fc.array(fc.integer({ min: 0, max: OPTIONS.confirmAfterMs - 1 }), { maxLength: 5 }), (to, fifoDelay, looks) => {
        const before = [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })];
        const removed = director('d1', [...before, vipEvent(NOW, 'del')]);
        const reported = director('d1', [...before, vipEvent(NOW, 'del'), fifo(NOW + fifoDelay, to)]);
        // The watchdog diagnoses on each update and whenever it looks again in between.
        const reviews = [...looks.filter((l) => l < fifoDelay).map((l) => ({ at: NOW + l, s: removed })), { at: NOW + fifoDelay, s: reported }].sort((a, b) => a.at - b.at);
        let seen = new Map<string, number>();
        for (const { at, s } of [{ at: NOW, s: removed }, ...reviews]) {
          const held = heldVerdicts(diagnose(s, { ...OPTIONS, now: at }), seen, { ...OPTIONS, now: at });
          expect(held.verdicts).toEqual([]);
          seen = held.seenSince;
        }
        expect(seen.size).toBe(0);
      }),
    );
  });

  it('vip-absent-on-master: still reported once the MASTER has been without its VIP for the bound', () => {
    const s = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' }), vipEvent(NOW, 'del')]);
    const first = heldVerdicts(diagnose(s, OPTIONS), new Map(), OPTIONS);
    expect(first.verdicts).toEqual([]);
    expect(first.nextAt).toBe(NOW + OPTIONS.confirmAfterMs);
    const later = { ...OPTIONS, now: NOW + OPTIONS.confirmAfterMs };
    expect(heldVerdicts(diagnose(s, later), first.seenSince, later).verdicts).toEqual([{ kind: 'vip-absent-on-master', iname: 'VI_1', vrid: 51, address: VIP, node: 'd1' }]);
  });

  it('vip-on-several-nodes: the VIP on the old and the new MASTER during a preemption, and on a MASTER that just left', () => {
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER', basePriority: 80, effectivePriority: 80 })]);
    const d2 = director('d2', [netlink(LONG_AGO, '198.18.0.2', false), dump(LONG_AGO, { basePriority: 100, effectivePriority: 100 }), fifo(NOW - 40, 'MASTER', 100), vipEvent(NOW - 39, 'add')]);
    const preempting = group(d1, [{ of: d2, heardAt: NOW - 30 }]);
    expect(kindsAt(preempting, NOW)).toEqual([]);
    // d1 has left MASTER (its FIFO line came first), the address event is still on its way.
    const released = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER', basePriority: 80 }), fifo(NOW - 10, 'BACKUP', 80)]);
    const handedOver = group(released, [{ of: d2, heardAt: NOW - 5 }]);
    expect(kindsAt(handedOver, NOW)).toEqual([]);
    expect(nextConfirmation(handedOver, OPTIONS)).toBe(NOW - 10 + OPTIONS.confirmAfterMs);
    // Left behind for longer, it is a VIP on two directors.
    expect(kindsAt(handedOver, NOW - 10 + OPTIONS.confirmAfterMs)).toEqual(['vip-on-several-nodes']);
  });

  it('vip-on-several-nodes, split-brain: nothing from a peer view older than the transition it would be compared with (both links cut)', () => {
    // d1 was MASTER with the VIP when both links went down; d2 hears no adverts and becomes MASTER.
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })]);
    const d2 = director('d2', [netlink(LONG_AGO, '198.18.0.2', false), dump(LONG_AGO, { basePriority: 90 }), fifo(NOW - 500, 'MASTER', 90), vipEvent(NOW - 499, 'add')]);
    // d1's last view reached d2 before the cut: still within unreachableAfterMs, but older than d2's transition.
    const s = group(d2, [{ of: d1, heardAt: NOW - 1000 }]);
    expect(kindsAt(s, NOW)).toEqual([]);
    expect(kindsAt(s, NOW + OPTIONS.unreachableAfterMs)).toEqual(['peer-unreachable']);
  });

  it('vip-on-several-nodes: a director becoming MASTER adds the VIP just before the FIFO says so, whatever peer view is still fresh', () => {
    // d2 hears no adverts any more and takes VI_1 over: keepalived adds the VIP, then writes the FIFO
    // line. d1's view is the last one heard (before both links were cut, or just now during a preemption).
    fc.assert(
      fc.property(fc.integer({ min: 0, max: OPTIONS.confirmAfterMs - 1 }), fc.array(fc.integer({ min: 0, max: OPTIONS.confirmAfterMs - 1 }), { maxLength: 5 }), fc.integer({ min: 0, max: 3000 }), (fifoDelay, looks, heardAgo) => {
        const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })]);
        const before = [netlink(LONG_AGO, '198.18.0.2', false), dump(LONG_AGO, { basePriority: 90 })];
        const added = group(director('d2', [...before, vipEvent(NOW, 'add')]), [{ of: d1, heardAt: NOW - heardAgo }]);
        const reported = group(director('d2', [...before, vipEvent(NOW, 'add'), fifo(NOW + fifoDelay, 'MASTER', 90)]), [{ of: d1, heardAt: NOW - heardAgo }]);
        const reviews = [{ at: NOW, s: added }, ...looks.filter((l) => l < fifoDelay).map((l) => ({ at: NOW + l, s: added })), { at: NOW + fifoDelay, s: reported }].sort((a, b) => a.at - b.at);
        let seen = new Map<string, number>();
        for (const { at, s } of reviews) {
          const held = heldVerdicts(diagnose(s, { ...OPTIONS, now: at }), seen, { ...OPTIONS, now: at });
          expect(held.verdicts.map((v) => v.kind).filter((k) => k === 'vip-on-several-nodes')).toEqual([]);
          seen = held.seenSince;
        }
      }),
    );
  });

  it('vip-on-several-nodes: a VIP that stays on a BACKUP beside its MASTER is reported once it has held for the bound', () => {
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })]);
    const d2 = group(director('d2', [netlink(LONG_AGO, '198.18.0.2', false), dump(LONG_AGO, { basePriority: 90 }), vipEvent(NOW, 'add')]), [{ of: d1, heardAt: NOW - 10 }]);
    const first = heldVerdicts(diagnose(d2, OPTIONS), new Map(), OPTIONS);
    expect(first.verdicts).toEqual([]);
    expect(first.nextAt).toBe(NOW + OPTIONS.confirmAfterMs);
    const later = { ...OPTIONS, now: NOW + OPTIONS.confirmAfterMs };
    expect(heldVerdicts(diagnose(d2, later), first.seenSince, later).verdicts).toEqual([{ kind: 'vip-on-several-nodes', iname: 'VI_1', vrid: 51, address: VIP, nodes: ['d1', 'd2'] }]);
  });

  it('vip-on-several-nodes: on the MASTERs of a split brain, raised with the split, not after it', () => {
    const split = withPeer(local('MASTER'), peerView('MASTER'));
    expect(heldVerdicts(diagnose(split, OPTIONS), new Map(), OPTIONS).verdicts.map((v) => v.kind)).toEqual(['split-brain', 'vip-on-several-nodes']);
  });

  it('compares no views heard before the latest transition among them, whatever the states (property)', () => {
    const STATES = ['MASTER', 'BACKUP', 'FAULT'] as const;
    const side = fc.record({ state: fc.constantFrom(...STATES), sinceAgo: fc.integer({ min: 0, max: 60_000 }), priority: fc.integer({ min: 1, max: 254 }), vip: fc.boolean() });
    fc.assert(
      fc.property(side, side, fc.integer({ min: 0, max: OPTIONS.unreachableAfterMs }), (a, b, heardAgo) => {
        const build = (node: string, primary: string, x: typeof a) =>
          director(node, [netlink(LONG_AGO, primary, x.vip), dump(LONG_AGO, { basePriority: x.priority, effectivePriority: x.priority }), fifo(NOW - x.sinceAgo, x.state, x.priority)]);
        const [d1, d2] = [build('d1', '198.18.0.1', a), build('d2', '198.18.0.2', b)];
        const s = group(d1, [{ of: d2, heardAt: NOW - heardAgo }]);
        fc.pre(NOW - heardAgo < Math.max(d1.instances.VI_1!.stateSince!, d2.instances.VI_1!.stateSince!));
        const comparing = ['split-brain', 'vip-on-several-nodes', 'no-master', 'not-on-preferred-owner'];
        expect(kindsAt(s, NOW).filter((k) => comparing.includes(k))).toEqual([]);
      }),
    );
  });

  it('peer-unreachable: a peer not heard yet while this director has just started listening', () => {
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })]);
    const s: Snapshot = { ...d1, peers: { d2: { name: 'd2', address: 'd2:9651', errors: 1, lastError: 'connect ECONNREFUSED' } } };
    expect(kindsAt(s, NOW, { listeningSince: NOW - 1000 })).toEqual([]);
    expect(kindsAt(s, NOW, { listeningSince: NOW - OPTIONS.unreachableAfterMs - 1 })).toEqual(['peer-unreachable']);
    // A peer that was heard and went silent is unreachable whenever this director started.
    const silent: Snapshot = { ...s, peers: { d2: { ...s.peers.d2!, view: buildView(d1), lastExchange: NOW - OPTIONS.unreachableAfterMs - 1 } } };
    expect(kindsAt(silent, NOW, { listeningSince: NOW - 1000 })).toEqual(['peer-unreachable']);
  });

  it('no-master: never from the director\'s own view alone while a peer has not been heard since it started', () => {
    // Just restarted: keepalived is BACKUP here, the peer (MASTER) not heard yet, within the start-up grace.
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', false), dump(LONG_AGO, { state: 'BACKUP' })]);
    const s: Snapshot = { ...d1, peers: { d2: { name: 'd2', address: 'd2:9651', errors: 0 } } };
    expect(kindsAt(s, NOW + 10_000, { listeningSince: NOW + 9000 })).toEqual([]);
  });

  it('no-master: every director BACKUP during an election', () => {
    // d1 has just given MASTER up (its VIP gone); d2 has not taken over yet.
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', false), dump(LONG_AGO, { state: 'MASTER' }), fifo(NOW - 1000, 'BACKUP', 100)]);
    const d2 = director('d2', [netlink(LONG_AGO, '198.18.0.2', false), dump(LONG_AGO, { basePriority: 90 })]);
    const s = group(d1, [{ of: d2, heardAt: NOW - 10 }]);
    expect(kindsAt(s, NOW)).toEqual([]);
    expect(nextConfirmation(s, OPTIONS)).toBe(NOW - 1000 + 4000);
    expect(kindsAt({ ...s, peers: { d2: { ...s.peers.d2!, lastExchange: NOW + 2990 } } }, NOW + 3000)).toEqual(['no-master']);
  });

  it('not-on-preferred-owner: the preferred director just back in BACKUP, about to take over', () => {
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', false), dump(LONG_AGO, { state: 'STOP' }), fifo(NOW - 500, 'BACKUP', 100)]);
    const d2 = director('d2', [netlink(LONG_AGO, '198.18.0.2', true), dump(LONG_AGO, { state: 'MASTER', basePriority: 90 })]);
    const s = group(d1, [{ of: d2, heardAt: NOW - 10 }]);
    expect(kindsAt(s, NOW)).toEqual([]);
    expect(nextConfirmation(s, OPTIONS)).toBe(NOW - 500 + 4000);
    expect(kindsAt({ ...s, peers: { d2: { ...s.peers.d2!, lastExchange: NOW + 3490 } } }, NOW + 3500)).toEqual(['not-on-preferred-owner']);
  });

  it('equal-priority: a director whose priority is not known yet', () => {
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER' })]);
    const d2 = director('d2', [netlink(LONG_AGO, '198.18.0.2', false), fifo(NOW - 40, 'BACKUP', 100)]);
    expect(kindsAt(group(d1, [{ of: d2, heardAt: NOW - 10 }]), NOW)).toEqual([]);
  });

  it('split-brain: a preempting MASTER overlapping the one it replaces', () => {
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER', basePriority: 100, effectivePriority: 100 })]);
    const d2 = director('d2', [netlink(LONG_AGO, '198.18.0.2', false), dump(LONG_AGO, { basePriority: 90, effectivePriority: 90 }), fifo(NOW - 100, 'MASTER', 110), vipEvent(NOW - 99, 'add')]);
    const s = group(d1, [{ of: d2, heardAt: NOW - 50 }]);
    expect(kindsAt(s, NOW)).toEqual([]);
    expect(kindsAt(s, NOW - 100 + OPTIONS.confirmAfterMs + 1000)).toEqual(['split-brain', 'vip-on-several-nodes']);
  });
});

describe('a MASTER leaving (its VIPs gone, its FIFO line or hook not read yet) is no contender', () => {
  const LEAVING = ['BACKUP', 'FAULT', 'STOP'] as const;
  type Reporter = 'fifo' | 'hook';
  /** How long after keepalived's transition each kind of director may tell it: the FIFO at once, the hook after a fork and an exec. */
  const boundOf = (by: Reporter) => OPTIONS.confirmAfterMs + (by === 'hook' ? SAME_TRANSITION_MS : 0);
  const told = (by: Reporter, at: number, state: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP', priority: number): Update =>
    by === 'fifo' ? fifo(at, state, priority) : { type: 'report', source: 'hook', at, report: { kind: 'state', scope: 'instance', name: 'VI_1', state, priority } };
  /**
   * d1 (priority 100) leaves MASTER for `to`: keepalived removes the VIP at NOW and the director
   * learns of it `reportDelay` later; d2 (90) takes over `takeover` after NOW, adding the VIP
   * `addDelay` before it learns of its own MASTER; d3 (80) stays BACKUP. Every director learns by
   * `by` (with the FIFO, one it has read lines from before). Each director hears each peer's view
   * `lag` ms after it was built, and reviews at every event it sees and in between, with the
   * report lags the views tell, as the watchdog does.
   */
  function reviewsOfLeaving(by: Reporter, to: (typeof LEAVING)[number], reportDelay: number, takeover: number, addDelay: number, lag: number, looks: number[]) {
    const base = (primary: string, priority: number, master: boolean): Update[] => [
      ...(by === 'fifo' ? [{ type: 'source-enabled', source: 'fifo', enabled: true } as const, fifo(LONG_AGO, master ? 'MASTER' : 'BACKUP', priority)] : []),
      netlink(LONG_AGO, primary, master),
      dump(LONG_AGO, { state: master ? 'MASTER' : 'BACKUP', basePriority: priority, effectivePriority: priority }),
    ];
    const timelines: Record<string, Update[]> = {
      d1: [...base('198.18.0.1', 100, true), vipEvent(NOW, 'del'), told(by, NOW + reportDelay, to, 100)],
      d2: [...base('198.18.0.2', 90, false), vipEvent(NOW + takeover, 'add'), told(by, NOW + takeover + addDelay, 'MASTER', 90)],
      d3: base('198.18.0.3', 80, false),
    };
    const stamp = (u: Update) => ('at' in u ? u.at : -Infinity);
    const at = (node: string, t: number) => director(node, timelines[node]!.filter((u) => stamp(u) <= t));
    const events = Object.values(timelines).flat().map(stamp).filter((t) => t >= NOW);
    const end = Math.max(...events) + lag + 2 * boundOf(by);
    const times = [...new Set([...events, ...events.map((t) => t + lag), ...looks.map((l) => NOW + (l % (end - NOW))), end])].sort((a, b) => a - b);
    const raised: { by: string; at: number; kind: string; about: string }[] = [];
    for (const self of ['d1', 'd2', 'd3']) {
      let seen = new Map<string, number>();
      // As the watchdog does, it also looks again when a verdict held back falls due.
      const queue = [...times];
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
        const peers = ['d1', 'd2', 'd3'].filter((n) => n !== self).map((n) => ({ of: at(n, t - lag), heardAt: t - lag }));
        const s = group(at(self, t), peers);
        const held = heldVerdicts(diagnose(s, { ...OPTIONS, now: t }), seen, { ...OPTIONS, now: t, reportLagMs: reportLags(s) });
        seen = held.seenSince;
        if (held.nextAt !== undefined && held.nextAt <= end && !queue.includes(held.nextAt)) {
          queue.push(held.nextAt);
          queue.sort((a, b) => a - b);
        }
        // d1 gone for good leaves VI_1 off its preferred owner: a verdict of its own, due seconds after the hand-over.
        for (const v of held.verdicts) if (v.kind !== 'not-on-preferred-owner') raised.push({ by: self, at: t, kind: v.kind, about: v.kind === 'vip-absent-on-master' ? v.node : '' });
      }
    }
    return raised;
  }
  const args = (by: Reporter) => [fc.constantFrom(...LEAVING), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: boundOf(by) - 1 }), fc.integer({ min: 0, max: 100 }), fc.array(fc.nat(), { maxLength: 6 })] as const;

  it.each(['fifo', 'hook'] as const)('raises no verdict of any kind on any director while the %s tells the transition within its bound', (by) => {
    fc.assert(
      fc.property(...args(by), fc.integer({ min: 0, max: boundOf(by) - 1 }), (to, takeover, addDelay, lag, looks, reportDelay) => {
        expect(reviewsOfLeaving(by, to, reportDelay, takeover, addDelay, lag, looks)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it.each(['fifo', 'hook'] as const)('draws no split brain nor any other comparison from it however late the %s tells it: only the VIP missing on d1, once past the bound', (by) => {
    fc.assert(
      fc.property(...args(by), fc.integer({ min: boundOf(by) + 1, max: boundOf(by) + 3000 }), (to, takeover, addDelay, lag, looks, reportDelay) => {
        const raised = reviewsOfLeaving(by, to, reportDelay, takeover, addDelay, lag, looks);
        expect(raised.filter((r) => r.kind !== 'vip-absent-on-master' || r.about !== 'd1')).toEqual([]);
        expect(raised.some((r) => r.by === 'd1')).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('a split brain through later readings of its onset', () => {
  const hook = (at: number, state: 'MASTER' | 'BACKUP', priority: number): Update => ({ type: 'report', source: 'hook', at, report: { kind: 'state', scope: 'instance', name: 'VI_1', state, priority } });

  it('stands when the hook, run after the FIFO line was read and the peer last heard, stamps the same transition', () => {
    // d1 the MASTER all along; d2 went MASTER hearing nobody: its FIFO line read at NOW - 1000, d1's
    // view heard at NOW - 990, then the hook keepalived ran stamps the transition at NOW - 989.
    const d1 = director('d1', [netlink(LONG_AGO, '198.18.0.1', true), dump(LONG_AGO, { state: 'MASTER', basePriority: 100, effectivePriority: 100 })]);
    const before = [netlink(LONG_AGO, '198.18.0.2', true), dump(LONG_AGO, { basePriority: 80, effectivePriority: 80 }), fifo(NOW - 1000, 'MASTER', 80)];
    const fifoOnly = group(director('d2', before), [{ of: d1, heardAt: NOW - 990 }]);
    const withHook = group(director('d2', [...before, hook(NOW - 989, 'MASTER', 80)]), [{ of: d1, heardAt: NOW - 990 }]);
    expect(kindsAt(fifoOnly, NOW)).toContain('split-brain');
    expect(withHook.instances.VI_1!.stateSince).toBe(NOW - 1000);
    expect(kindsAt(withHook, NOW)).toContain('split-brain');
  });
});
