import { describe, expect, it } from 'vitest';
import type { PeerView } from '../../src/model/peer.js';
import { emptySnapshot, type Snapshot } from '../../src/state/snapshot.js';
import { diagnose, knownInstances, nextConfirmation } from '../../src/watchdog/diagnose.js';

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
    expect(run(s).map((v) => v.kind)).toEqual(['vip-on-several-nodes']);
    expect(nextConfirmation(s, OPTIONS)).toBe(NOW - 40 + 150);
    const later = diagnose(s, { ...OPTIONS, now: NOW + 110 });
    expect(later[0]).toEqual({ kind: 'split-brain', iname: 'VI_1', vrid: 51, masters: ['lb1', 'lb2'], since: NOW - 40, causes: [expect.any(String)] });
    expect(nextConfirmation(s, { ...OPTIONS, now: NOW + 110 })).toBeUndefined();
  });

  it('gives a preempting MASTER an advert interval to take over before calling it a split brain', () => {
    const base = withPeer(local('MASTER'), { ...peerView('MASTER'), instances: [{ ...peerView('MASTER').instances[0]!, effectivePriority: 80, stateSince: NOW - 60_000 }] }, 10);
    const preempting = { ...base, instances: { VI_1: { ...base.instances.VI_1!, effectivePriority: 100, advertInterval: 1, stateSince: NOW - 40 } } };
    expect(nextConfirmation(preempting, OPTIONS)).toBe(NOW - 40 + 150 + 1000);
    expect(diagnose(preempting, { ...OPTIONS, now: NOW + 500 }).map((v) => v.kind)).toEqual(['vip-on-several-nodes']);
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
