import { describe, expect, it } from 'vitest';
import type { PeerView, PeerWire } from '../../src/model/peer.js';
import { emptySnapshot, type Snapshot } from '../../src/state/snapshot.js';
import { diagnose } from '../../src/watchdog/diagnose.js';

const NOW = 1_800_000_000_000;
const vip = { address: '198.18.0.50', prefix: 24, dev: 'pri0' };

/** lb1 MASTER of VI_1 for long, lb2 MASTER for `lb2MasterMs`; each with the wire view given (or none). */
function pair(lb2MasterMs: number, wire: { lb1?: PeerWire; lb2?: PeerWire }): { s: Snapshot; wire?: PeerWire } {
  const s = emptySnapshot('lb1');
  const lb2: PeerView = {
    v: 1,
    node: 'lb2',
    keepalivedUp: true,
    instances: [{ name: 'VI_1', vrid: 51, state: 'MASTER', stateSince: NOW - lb2MasterMs, advertInterval: 1, primaryAddress: '198.18.0.2', vips: ['198.18.0.50'], vipsPresent: ['198.18.0.50'] }],
    ...(wire.lb2 && { wire: wire.lb2 }),
  };
  return {
    s: {
      ...s,
      keepalived: { up: true },
      instances: { VI_1: { name: 'VI_1', vrid: 51, interface: 'pri0', state: 'MASTER', stateSince: NOW - 60_000, advertInterval: 1, vips: [vip], lowerPriorityAdverts: 0 } },
      addresses: [{ address: '198.18.0.1', prefix: 24, ifname: 'pri0', family: 4 }, { address: '198.18.0.50', prefix: 24, ifname: 'pri0', family: 4 }],
      peers: { lb2: { name: 'lb2', address: '198.18.1.2:9651', view: lb2, lastExchange: NOW - 1, errors: 0 } },
    },
    wire: wire.lb1,
  };
}

const hearing = (speakers: { address: string; ageMs: number }[]): PeerWire => ({ interfaces: [{ intf: 'pri0', listeningMs: 60_000 }], vrids: [{ intf: 'pri0', vrid: 51, overflow: 0, speakers: speakers.map((s) => ({ ...s, priority: 100, intervalMs: 1000, adverts: 9 })) }] });
const splitBrain = ({ s, wire }: ReturnType<typeof pair>) => diagnose(s, { now: NOW, unreachableAfterMs: 3500, confirmAfterMs: 150, wire }).filter((v) => v.kind === 'split-brain');

describe('a dual MASTER confirmed from the wire', () => {
  it('is a split brain at once when neither MASTER hears the other, without waiting confirm_after', () => {
    const found = splitBrain(pair(5, { lb1: hearing([]), lb2: hearing([{ address: '198.18.0.1', ageMs: 3700 }]) }));
    expect(found).toHaveLength(1);
    expect(found[0]!.kind === 'split-brain' && found[0]!.causes.slice(0, 2)).toEqual([
      'adverts from lb1 (198.18.0.1) for VRID 51 do not reach lb2: its observer hears none',
      'adverts from lb2 (198.18.0.2) for VRID 51 do not reach lb1: its observer hears none',
    ]);
  });

  it('waits confirm_after as before without wire views, or when one cannot tell yet', () => {
    expect(splitBrain(pair(5, {}))).toEqual([]);
    const young = { interfaces: [{ intf: 'pri0', listeningMs: 500 }], vrids: [] };
    expect(splitBrain(pair(5, { lb1: young, lb2: hearing([]) }))).toEqual([]);
    expect(splitBrain(pair(200, { lb1: young, lb2: hearing([]) }))).toHaveLength(1);
  });

  it('is no split when the newcomer hears the MASTER it takes over from (a preemption), until VRRP had its time', () => {
    const preempting = { lb1: hearing([]), lb2: hearing([{ address: '198.18.0.1', ageMs: 300 }]) };
    expect(splitBrain(pair(5, preempting))).toEqual([]);
  });
});
