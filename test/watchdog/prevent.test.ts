import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WireView } from '../../src/model/wire.js';
import type { Statement } from '../../src/peer/heartbeat.js';
import { decidePrevent, HOLD_AFTER_INTERVALS, silentFor, type Hold, type PreventDecision, type PreventInput } from '../../src/watchdog/prevent.js';

const NOW = 1_800_000_000_000;
const BOUND = 300;
const LB1 = '198.18.0.1';

/** lb1's statement: MASTER of VI_1 (VRID 51), keepalived up, witness answering, unless told otherwise. */
const statement = (over: Partial<Statement> = {}, state: Statement['instances'][number]['state'] = 'MASTER'): Statement => ({
  v: 1,
  node: 'lb1',
  keepalivedUp: true,
  witnessAnswers: true,
  instances: [{ name: 'VI_1', vrid: 51, state, address: LB1 }],
  ...over,
});

/** lb2's observer, listening on pri0 for a minute, last heard lb1's adverts for VRID 51 `silentMs` ago (never, when undefined). */
const wire = (silentMs: number | undefined, listeningMs = 60_000): WireView => ({
  at: NOW,
  interfaces: [{ intf: 'pri0', up: true, since: NOW - listeningMs, malformed: {} }],
  vrids: silentMs === undefined ? [] : [{ intf: 'pri0', vrid: 51, overflow: 0, speakers: [{ address: LB1, version: 2, priority: 200, intervalMs: 1000, firstAdvert: NOW - 60_000, lastAdvert: NOW - silentMs, adverts: 60, gaps: 0, addresses: ['198.18.0.50'] }] }],
});

const SILENT = HOLD_AFTER_INTERVALS * 1000;

function input(over: Partial<PreventInput> = {}): PreventInput {
  return {
    now: NOW,
    boundMs: BOUND,
    instances: [{ name: 'VI_1', vrid: 51, state: 'BACKUP', intf: 'pri0', advertIntervalMs: 1000 }],
    statements: [{ peer: 'lb1', sentAt: NOW - 50, statement: statement() }],
    wire: wire(SILENT),
    held: new Map(),
    holdsLastHour: 0,
    maxHoldsPerHour: 60,
    ...over,
  };
}

const held = (since = NOW - 1000): Map<string, Hold> => new Map([['VI_1', { since, master: 'lb1', address: LB1 }]]);
const kinds = (d: PreventDecision[]) => d.map((x) => `${x.kind} ${x.iname}`);

describe('policy prevent: when a BACKUP holds its instance', () => {
  it("holds once the MASTER's adverts are missing for 2.5 intervals while its fresh statement says MASTER, keepalived up, witness answering", () => {
    const [d] = decidePrevent(input());
    expect(d).toMatchObject({ kind: 'hold', iname: 'VI_1', vrid: 51, master: 'lb1', address: LB1 });
    expect(d?.kind === 'hold' && d.reason).toBe(`no advert from lb1 (${LB1}) for VRID 51 in ${SILENT} ms, while lb1 says, 50 ms ago, it is MASTER with keepalived up and its witness answering`);
  });

  it('never for one advert lost: the next is due before the threshold', () => {
    expect(decidePrevent(input({ wire: wire(SILENT - 1) }))).toEqual([]);
    expect(decidePrevent(input({ wire: wire(1900) }))).toEqual([]);
  });

  it.each<[string, Partial<PreventInput>]>([
    ['the statement is older than the bound (the secondary link is cut, or the MASTER host died)', { statements: [{ peer: 'lb1', sentAt: NOW - BOUND - 1, statement: statement() }] }],
    ['no statement at all', { statements: [] }],
    ['the MASTER says its keepalived is down', { statements: [{ peer: 'lb1', sentAt: NOW - 50, statement: statement({ keepalivedUp: false }) }] }],
    ['the MASTER says its witness does not answer (its primary link is the broken one)', { statements: [{ peer: 'lb1', sentAt: NOW - 50, statement: statement({ witnessAnswers: false }) }] }],
    ['the peer says BACKUP (nobody is MASTER: keepalived must elect one)', { statements: [{ peer: 'lb1', sentAt: NOW - 50, statement: statement({}, 'BACKUP') }] }],
    ['the MASTER has no advert address to look for', { statements: [{ peer: 'lb1', sentAt: NOW - 50, statement: statement({ instances: [{ name: 'VI_1', vrid: 51, state: 'MASTER' }] }) }] }],
    ['two peers say MASTER (a split already, or a hand-over)', { statements: [{ peer: 'lb1', sentAt: NOW - 50, statement: statement() }, { peer: 'lb3', sentAt: NOW - 50, statement: { ...statement(), node: 'lb3', instances: [{ name: 'VI_1', vrid: 51, state: 'MASTER', address: '198.18.0.3' }] } }] }],
    ['the observer does not listen (nothing says the adverts are missing)', { wire: undefined }],
    ['the observer has listened less than the threshold and never heard the MASTER', { wire: wire(undefined, SILENT - 1) }],
    ['this instance is MASTER itself', { instances: [{ name: 'VI_1', vrid: 51, state: 'MASTER', intf: 'pri0', advertIntervalMs: 1000 }] }],
    ['its VRID is unknown (no dump yet)', { instances: [{ name: 'VI_1', state: 'BACKUP', advertIntervalMs: 1000 }] }],
  ])('not when %s', (_why, over) => {
    expect(decidePrevent(input(over))).toEqual([]);
  });

  it('holds a MASTER never heard here once the observer has listened long enough', () => {
    expect(kinds(decidePrevent(input({ wire: wire(undefined, SILENT) })))).toEqual(['hold VI_1']);
  });

  it('scales with the advert interval (VRRPv3 centiseconds)', () => {
    const instances = [{ name: 'VI_1', vrid: 51, state: 'BACKUP' as const, intf: 'pri0', advertIntervalMs: 200 }];
    expect(decidePrevent(input({ instances, wire: wire(499) }))).toEqual([]);
    expect(kinds(decidePrevent(input({ instances, wire: wire(500) })))).toEqual(['hold VI_1']);
  });

  it('is capped per hour; the cap counts the holds of this review too', () => {
    expect(decidePrevent(input({ holdsLastHour: 60 }))).toEqual([{ kind: 'wait', iname: 'VI_1', why: '60 holds in the last hour, the cap is 60: keepalived decides alone' }]);
    const two = input({
      instances: [
        { name: 'VI_1', vrid: 51, state: 'BACKUP', intf: 'pri0', advertIntervalMs: 1000 },
        { name: 'VI_9', vrid: 51, state: 'BACKUP', advertIntervalMs: 1000 },
      ],
      holdsLastHour: 59,
    });
    expect(kinds(decidePrevent(two))).toEqual(['hold VI_1', 'wait VI_9']);
  });
});

describe('policy prevent: when a hold is released', () => {
  it('keeps it while the MASTER confirms and stays unheard, until its statement would go stale', () => {
    expect(decidePrevent(input({ held: held(), instances: [{ name: 'VI_1', vrid: 51, state: 'FAULT', intf: 'pri0', advertIntervalMs: 1000 }] }))).toEqual([{ kind: 'keep', iname: 'VI_1', master: 'lb1', until: NOW - 50 + BOUND }]);
  });

  it.each<[string, Partial<PreventInput>, string]>([
    ['adverts arrive again', { wire: wire(10) }, 'adverts from lb1 arrive again'],
    ['the statement goes past the bound', { statements: [{ peer: 'lb1', sentAt: NOW - 301, statement: statement() }] }, 'lb1 stopped confirming: its last statement is 301 ms old (bound 300 ms)'],
    ['the MASTER says keepalived is down', { statements: [{ peer: 'lb1', sentAt: NOW - 5, statement: statement({ keepalivedUp: false }) }] }, 'lb1 says its keepalived is down'],
    ['the MASTER loses its witness', { statements: [{ peer: 'lb1', sentAt: NOW - 5, statement: statement({ witnessAnswers: false }) }] }, 'lb1 says its witness does not answer'],
    ['the MASTER is no longer MASTER', { statements: [{ peer: 'lb1', sentAt: NOW - 5, statement: statement({}, 'FAULT') }] }, 'lb1 no longer says it is MASTER of VRID 51'],
    ['the observer stops listening', { wire: undefined }, 'the VRRP observer no longer listens'],
    ['the instance is gone from keepalived', { instances: [] }, 'VI_1 is no longer configured here'],
  ])('at once when %s', (_why, over, reason) => {
    expect(decidePrevent(input({ held: held(), ...over }))).toEqual([{ kind: 'release', iname: 'VI_1', vrid: over.instances ? undefined : 51, master: 'lb1', reason }]);
  });

  it('is never capped: a release goes through past the cap of holds', () => {
    expect(kinds(decidePrevent(input({ held: held(), wire: wire(10), holdsLastHour: 1000 })))).toEqual(['release VI_1']);
  });
});

describe('policy prevent: a dead MASTER', () => {
  /**
   * The MASTER dies at `death`: every statement sent after it says keepalived is down, or none
   * comes at all (the host died with it). Whatever this director held before, and whatever it
   * heard, no hold outlives death + bound: the MASTER is replaced at most one bound later than
   * keepalived alone would replace it.
   */
  it('is never held longer than the bound, whatever statements, adverts and holds came before', () => {
    const arbitraryStatement = fc.record({
      keepalivedUp: fc.boolean(),
      witnessAnswers: fc.boolean(),
      state: fc.constantFrom('MASTER', 'BACKUP', 'FAULT') as fc.Arbitrary<'MASTER' | 'BACKUP' | 'FAULT'>,
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 50, max: 2000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(fc.record({ offset: fc.integer({ min: -5000, max: 5000 }), s: arbitraryStatement }), { maxLength: 6 }),
        fc.boolean(),
        fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
        fc.integer({ min: 1, max: 5000 }),
        (bound, death, sent, diedWithHost, silent, after) => {
          // Statements sent before the death say what they like; after it, keepalived is down, unless the host died too (then none).
          const statements = sent
            .map(({ offset, s }) => ({ sentAt: NOW + death + offset, s }))
            .filter(({ sentAt }) => sentAt <= NOW + death || !diedWithHost)
            .map(({ sentAt, s }) => ({ peer: 'lb1', sentAt, statement: statement({ keepalivedUp: sentAt > NOW + death ? false : s.keepalivedUp, witnessAnswers: s.witnessAnswers }, s.state) }))
            .sort((a, b) => b.sentAt - a.sentAt)
            .slice(0, 1);
          const now = NOW + death + bound + after;
          const decisions = decidePrevent({
            now,
            boundMs: bound,
            instances: [{ name: 'VI_1', vrid: 51, state: 'BACKUP', intf: 'pri0', advertIntervalMs: 1000 }],
            statements: statements.filter((s) => s.sentAt <= now),
            wire: silent === undefined ? undefined : { ...wire(undefined), at: now, vrids: wire(0).vrids.map((v) => ({ ...v, speakers: v.speakers.map((sp) => ({ ...sp, lastAdvert: now - silent })) })) },
            held: held(NOW),
            holdsLastHour: 0,
            maxHoldsPerHour: 60,
          });
          expect(decisions.filter((d) => d.kind === 'hold' || d.kind === 'keep')).toEqual([]);
          expect(kinds(decisions)).toEqual(['release VI_1']);
        },
      ),
    );
  });
});

describe('silentFor', () => {
  it('counts from the last advert, or from when the observer began listening, on the instance interface only', () => {
    expect(silentFor(wire(700), NOW, 51, LB1)).toBe(700);
    expect(silentFor(wire(undefined, 4000), NOW, 51, LB1)).toBe(4000);
    expect(silentFor(wire(700), NOW, 51, LB1, 'eth9')).toBeUndefined();
    expect(silentFor({ ...wire(700), interfaces: [{ intf: 'pri0', up: false, malformed: {} }] }, NOW, 51, LB1)).toBeUndefined();
  });
});
