import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_WIRE_SPEAKERS, MAX_WIRE_VRIDS } from '../../src/model/peer.js';
import type { WireSpeaker, WireView } from '../../src/model/wire.js';
import { parseView, PeerRejected } from '../../src/peer/protocol.js';
import { buildView, wireSummary } from '../../src/peer/view.js';
import { emptySnapshot } from '../../src/state/snapshot.js';

const speaker = (address: string, lastAdvert: number): WireSpeaker => ({ address, version: 2, priority: 100, intervalMs: 1000, firstAdvert: 0, lastAdvert, adverts: 5, gaps: 1, addresses: ['198.18.0.100'], auth: 'simple', authMatches: true });

describe("the wire summary in a director's view", () => {
  it('tells ages, not times, and is bounded: extra speakers are counted as overflow', () => {
    const many = Array.from({ length: MAX_WIRE_SPEAKERS + 3 }, (_, i) => speaker(`10.0.0.${i + 1}`, 9000 - i));
    const view: WireView = { at: 10_000, interfaces: [{ intf: 'pri0', up: true, since: 4000, malformed: { ttl: 2 } }], vrids: [{ intf: 'pri0', vrid: 51, speakers: many, overflow: 2 }] };
    const summary = wireSummary(view);
    expect(summary.interfaces).toEqual([{ intf: 'pri0', listeningMs: 6000 }]);
    expect(summary.vrids[0]!.speakers).toHaveLength(MAX_WIRE_SPEAKERS);
    expect(summary.vrids[0]!.speakers[0]).toEqual({ address: '10.0.0.1', priority: 100, intervalMs: 1000, ageMs: 1000, adverts: 5 });
    expect(summary.vrids[0]!.overflow).toBe(5);
    // Authentication stays on the host, even whether it matched.
    expect(JSON.stringify(summary)).not.toMatch(/auth/);
    const body = Buffer.from(JSON.stringify(buildView(emptySnapshot('lb2'), undefined, summary)));
    expect(parseView(body, 'lb2').wire).toEqual(summary);
  });

  it('refuses a hostile wire summary as malformed', () => {
    const base = { v: 1, node: 'lb2', keepalivedUp: true, instances: [] };
    const vrid = (over: object) => ({ intf: 'pri0', vrid: 51, overflow: 0, speakers: [], ...over });
    const hostile = [
      { interfaces: [], vrids: [vrid({ speakers: [{ address: 'not-an-ip', priority: 1, intervalMs: 1000, ageMs: 0, adverts: 1 }] })] },
      { interfaces: [], vrids: [vrid({ vrid: 0 })] },
      { interfaces: [{ intf: 'a"b' }], vrids: [] },
      { interfaces: [], vrids: Array.from({ length: MAX_WIRE_VRIDS + 1 }, () => vrid({})) },
      { interfaces: [], vrids: [vrid({ speakers: Array.from({ length: MAX_WIRE_SPEAKERS + 1 }, () => ({ address: '10.0.0.1', priority: 1, intervalMs: 1000, ageMs: 0, adverts: 1 })) })] },
      { interfaces: [], vrids: [vrid({ password: 'x' })] },
    ];
    for (const wire of hostile) {
      expect(() => parseView(Buffer.from(JSON.stringify({ ...base, wire })), 'lb2')).toThrow(PeerRejected);
    }
  });

  it('any wire summary either is refused as malformed or comes out with bounded numbers', () => {
    const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 64, -1));
    const sp = fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), priority: num, intervalMs: num, ageMs: num, adverts: num });
    const wire = fc.record({ interfaces: fc.array(fc.record({ intf: fc.string({ maxLength: 20 }), listeningMs: num }), { maxLength: 3 }), vrids: fc.array(fc.record({ intf: fc.string({ maxLength: 20 }), vrid: num, overflow: num, speakers: fc.array(sp, { maxLength: 3 }) }), { maxLength: 3 }) });
    fc.assert(
      fc.property(wire, (w) => {
        let parsed;
        try {
          parsed = parseView(Buffer.from(JSON.stringify({ v: 1, node: 'lb2', keepalivedUp: true, instances: [], wire: w })), 'lb2');
        } catch (err) {
          expect((err as PeerRejected).reason).toBe('malformed');
          return;
        }
        for (const v of parsed.wire!.vrids) {
          expect(Number.isSafeInteger(v.overflow) && v.overflow >= 0).toBe(true);
          for (const s of v.speakers) expect(Number.isSafeInteger(s.ageMs) && Number.isSafeInteger(s.adverts)).toBe(true);
        }
      }),
      { seed: 54, numRuns: 500 },
    );
  });
});
