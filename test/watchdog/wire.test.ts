import { describe, expect, it } from 'vitest';
import type { PeerInstance, PeerView, PeerWire } from '../../src/model/peer.js';
import { foreignSpeakers, hears, masterReach, wireCauses, wireConfirmsSplit } from '../../src/watchdog/wire.js';

const instance = (over: Partial<PeerInstance>): PeerInstance => ({ name: 'VI_1', vrid: 51, state: 'BACKUP', vips: ['198.18.0.100'], advertInterval: 1, ...over });
const wire = (speakers: { address: string; ageMs: number; priority?: number }[], listeningMs = 60_000): PeerWire => ({
  interfaces: [{ intf: 'pri0', listeningMs }],
  vrids: [{ intf: 'pri0', vrid: 51, overflow: 0, speakers: speakers.map((s) => ({ priority: 100, intervalMs: 1000, adverts: 10, ...s })) }],
});
const view = (node: string, i: PeerInstance, w?: PeerWire): PeerView => ({ v: 1, node, keepalivedUp: true, instances: [i], ...(w && { wire: w }) });

describe('foreign speakers', () => {
  it('a speaker of a group VRID that is none of its directors is foreign; the directors are not', () => {
    const views = [view('lb1', instance({ state: 'MASTER', primaryAddress: '198.18.0.1' }), wire([{ address: '198.18.0.2', ageMs: 100 }, { address: '198.18.0.9', ageMs: 200, priority: 50 }])), view('lb2', instance({ primaryAddress: '198.18.0.2' }))];
    expect(foreignSpeakers(views)).toEqual([{ intf: 'pri0', vrid: 51, address: '198.18.0.9', priority: 50, heardBy: 'lb1' }]);
  });

  it("says nothing while a director's advert address is unknown, nor of VRIDs the group does not run", () => {
    const heard = wire([{ address: '198.18.0.9', ageMs: 100 }]);
    expect(foreignSpeakers([view('lb1', instance({ primaryAddress: '198.18.0.1' }), heard), view('lb2', instance({}))])).toEqual([]);
    expect(foreignSpeakers([view('lb1', instance({ vrid: 60, primaryAddress: '198.18.0.1' }), heard)])).toEqual([]);
  });
});

describe("whether a MASTER's adverts reach the others", () => {
  it('heard within one and a half intervals; not heard once the observer listened that long; else unknown', () => {
    expect(hears(wire([{ address: '198.18.0.1', ageMs: 1499 }]), 51, '198.18.0.1', 1000)).toBe(true);
    expect(hears(wire([{ address: '198.18.0.1', ageMs: 1501 }]), 51, '198.18.0.1', 1000)).toBe(false);
    expect(hears(wire([]), 51, '198.18.0.1', 1000)).toBe(false);
    expect(hears(wire([], 1000), 51, '198.18.0.1', 1000)).toBeUndefined();
    expect(hears(undefined, 51, '198.18.0.1', 1000)).toBeUndefined();
  });

  it('a split: each MASTER unheard by the other, said as probable causes with the foreign speaker first', () => {
    const lb1 = view('lb1', instance({ state: 'MASTER', primaryAddress: '198.18.0.1' }), wire([{ address: '198.18.0.9', ageMs: 500, priority: 50 }]));
    const lb2 = view('lb2', instance({ state: 'MASTER', primaryAddress: '198.18.0.2' }), wire([{ address: '198.18.0.1', ageMs: 9000 }]));
    const accounts = [lb1, lb2].map((v) => ({ node: v.node, view: v, instance: v.instances[0]! }));
    expect(masterReach(accounts)).toEqual([
      { vrid: 51, master: 'lb1', address: '198.18.0.1', listener: 'lb2', heard: false },
      { vrid: 51, master: 'lb2', address: '198.18.0.2', listener: 'lb1', heard: false },
    ]);
    expect(wireCauses(accounts, 51)).toEqual([
      '198.18.0.9 (priority 50), not a director of this group, sends adverts for VRID 51 (heard by lb1 on pri0): another cluster or router reuses the VRID',
      'adverts from lb1 (198.18.0.1) for VRID 51 do not reach lb2: its observer hears none',
      'adverts from lb2 (198.18.0.2) for VRID 51 do not reach lb1: its observer hears none',
    ]);
  });
});

describe('wireConfirmsSplit', () => {
  const m = (node: string, address: string, w?: PeerWire) => {
    const v = view(node, instance({ state: 'MASTER', primaryAddress: address }), w);
    return { node, view: v, instance: v.instances[0]! };
  };
  it('only when every MASTER is known not to hear every other', () => {
    expect(wireConfirmsSplit([m('lb1', '198.18.0.1', wire([])), m('lb2', '198.18.0.2', wire([]))])).toBe(true);
    expect(wireConfirmsSplit([m('lb1', '198.18.0.1', wire([{ address: '198.18.0.2', ageMs: 10 }])), m('lb2', '198.18.0.2', wire([]))])).toBe(false);
    expect(wireConfirmsSplit([m('lb1', '198.18.0.1', wire([])), m('lb2', '198.18.0.2')])).toBe(false);
    expect(wireConfirmsSplit([m('lb1', '198.18.0.1', wire([]))])).toBe(false);
  });
});
