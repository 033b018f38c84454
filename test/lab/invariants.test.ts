import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkDemotions,
  checkHealed,
  checkMail,
  checkVerdicts,
  describeViolation,
  expectedTransitions,
  loggedTransition,
  loggedVerdict,
  mailKey,
  maxCounts,
  miscounts,
  newMiscounts,
  parseKeepalivedLine,
  parseTransitionCounts,
  receivedKey,
  type RaisedVerdict,
  type Sample,
  type StateEvent,
} from '../../src/lab/invariants.js';

const T = 1_000_000;
const ev = (node: string, iname: string, state: StateEvent['state'], at: number): StateEvent => ({ node, iname, state, at: T + at });
const noStep = () => undefined;
const GROUNDING = { lookbackMs: 1500, slackMs: 1000 };

/** lb1 MASTER of VI_1 from 0; lb2 MASTER too from 5 s to 9 s (a split), BACKUP otherwise. */
const SPLIT: StateEvent[] = [ev('lb1', 'VI_1', 'BACKUP', 0), ev('lb1', 'VI_1', 'MASTER', 100), ev('lb2', 'VI_1', 'BACKUP', 0), ev('lb2', 'VI_1', 'MASTER', 5000), ev('lb2', 'VI_1', 'FAULT', 9000)];
const raised = (at: number, verdict: RaisedVerdict['verdict'], node = 'lb1'): RaisedVerdict => ({ node, at: T + at, verdict });

describe('ground truth from keepalived and kawatch', () => {
  it("reads the state keepalived enters from its console log, and nothing from other lines", () => {
    expect(parseKeepalivedLine('Wed Dec  2 03:24:57 2026: (VI_1) Entering BACKUP STATE (init)')).toEqual({ iname: 'VI_1', state: 'BACKUP' });
    expect(parseKeepalivedLine('(VI_2) Entering MASTER STATE')).toEqual({ iname: 'VI_2', state: 'MASTER' });
    expect(parseKeepalivedLine('(VI_1) Entering FAULT STATE')).toEqual({ iname: 'VI_1', state: 'FAULT' });
    expect(parseKeepalivedLine('(VI_1) sent 0 priority')).toBeUndefined();
    expect(parseKeepalivedLine('Stopping')).toBeUndefined();
  });

  it('reads the transition counters of an exposition', () => {
    const text = [
      '# TYPE keepalived_vrrp_transitions_total counter',
      'keepalived_vrrp_transitions_total{iname="VI_1",from="INIT",to="BACKUP"} 1',
      'keepalived_vrrp_transitions_total{iname="VI_1",from="BACKUP",to="MASTER"} 3',
      'keepalived_vrrp_state{iname="VI_1"} 2',
    ].join('\n');
    expect(parseTransitionCounts(text)).toEqual(new Map([['VI_1 INIT->BACKUP', 1], ['VI_1 BACKUP->MASTER', 3]]));
  });

  it('takes from a logged verdict only what it judges', () => {
    expect(loggedVerdict({ kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'], causes: [] })).toEqual({ kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'] });
    expect(loggedVerdict({ kind: 'peer-unreachable', peer: 'lb2' })).toEqual({ kind: 'other', was: 'peer-unreachable' });
    expect(loggedVerdict({ kind: 'split-brain', iname: 'VI_1' })).toEqual({ kind: 'other', was: 'split-brain' });
  });
});

describe('transition-counted-once', () => {
  it('expects each state change once, from INIT at the start, a stop and a restart included', () => {
    const events = [ev('lb1', 'VI_1', 'BACKUP', 0), ev('lb1', 'VI_1', 'MASTER', 1), ev('lb1', 'VI_1', 'STOP', 2), ev('lb1', 'VI_1', 'BACKUP', 3), ev('lb1', 'VI_1', 'MASTER', 4), ev('lb2', 'VI_1', 'BACKUP', 0)];
    expect(expectedTransitions(events, 'lb1')).toEqual(
      new Map([
        ['VI_1 INIT->BACKUP', 1],
        ['VI_1 BACKUP->MASTER', 2],
        ['VI_1 MASTER->STOP', 1],
        ['VI_1 STOP->BACKUP', 1],
      ]),
    );
  });

  it('finds a transition counted twice and one the restart invented, and reports each only when it appears or changes', () => {
    const expected = new Map([['VI_1 BACKUP->MASTER', 1]]);
    const counted = new Map([['VI_1 BACKUP->MASTER', 2], ['VI_1 INIT->MASTER', 1]]);
    const found = miscounts(expected, counted);
    expect(found).toEqual([
      { key: 'VI_1 BACKUP->MASTER', expected: 1, counted: 2 },
      { key: 'VI_1 INIT->MASTER', expected: 0, counted: 1 },
    ]);
    const reported = new Map<string, number>();
    expect(newMiscounts('lb2', found, reported)).toHaveLength(2);
    expect(newMiscounts('lb2', found, reported)).toEqual([]);
    expect(newMiscounts('lb2', [{ key: 'VI_1 INIT->MASTER', expected: 0, counted: 2 }], reported)).toHaveLength(1);
    expect(miscounts(expected, new Map(expected))).toEqual([]);
  });
});

describe("a stopped daemon's lifetime", () => {
  // A line of a daemon's log in a chaos run, where the transition was counted 13 ms before the
  // reconfigure's SIGTERM and after the observer's last scrape of that process.
  const COUNTED_AT_THE_STOP =
    '{"level":"info","time":"2026-12-03T09:33:14.773Z","pid":18668,"part":"state","type":"transition","scope":"instance","name":"VI_2","vrid":55,"from":"BACKUP","to":"FAULT","at":1796290394772,"source":"fifo","msg":"instance VI_2: BACKUP -> FAULT"}';

  it('reads the instance transitions a daemon logged, with its pid, and nothing else', () => {
    expect(loggedTransition(JSON.parse(COUNTED_AT_THE_STOP))).toEqual({ pid: 18668, key: 'VI_2 BACKUP->FAULT' });
    expect(loggedTransition({ type: 'transition', scope: 'group', pid: 1, name: 'G', from: 'BACKUP', to: 'MASTER' })).toBeUndefined();
    expect(loggedTransition({ type: 'transition', scope: 'instance', name: 'VI_1', from: 'BACKUP', to: 'MASTER' })).toBeUndefined();
    expect(loggedTransition(JSON.parse('{"msg":"verdict raised","pid":1}'))).toBeUndefined();
  });

  it('counts the larger of its last scrape and its log, per transition, so the one counted after the scrape is not missed', () => {
    const scraped = new Map([['VI_2 INIT->BACKUP', 1], ['VI_2 BACKUP->MASTER', 1]]);
    const logged = new Map([['VI_2 BACKUP->MASTER', 1], ['VI_2 BACKUP->FAULT', 1]]);
    expect(maxCounts(scraped, logged)).toEqual(new Map([['VI_2 INIT->BACKUP', 1], ['VI_2 BACKUP->MASTER', 1], ['VI_2 BACKUP->FAULT', 1]]));
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.nat(5)), fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.nat(5)), (x, y) => {
        const a = new Map(Object.entries(x));
        const b = new Map(Object.entries(y));
        const max = maxCounts(a, b);
        for (const key of new Set([...a.keys(), ...b.keys()])) expect(max.get(key)).toBe(Math.max(a.get(key) ?? 0, b.get(key) ?? 0));
        expect(maxCounts(b, a)).toEqual(max);
      }),
    );
  });
});

describe('split-brain-needs-dual-master and verdict-from-fresh-view', () => {
  it('accepts a split-brain verdict raised while both were MASTER', () => {
    expect(checkVerdicts([raised(5400, { kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'] })], SPLIT, [], GROUNDING, noStep)).toEqual([]);
  });

  it('accepts one raised just before ground truth is read (truth is read in rounds)', () => {
    expect(checkVerdicts([raised(4500, { kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'] })], SPLIT, [], GROUNDING, noStep)).toEqual([]);
  });

  it('flags a split-brain verdict without a dual MASTER, with its step and both sides', () => {
    const [v, ...rest] = checkVerdicts([raised(2000, { kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'] })], SPLIT, [], GROUNDING, () => 3);
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ invariant: 'split-brain-needs-dual-master', step: 3, node: 'lb1' });
    expect(v!.seen).toContain('lb1 MASTER, lb2 BACKUP');
    expect(describeViolation(v!, 99)).toMatch(/^\[split-brain-needs-dual-master\] seed 99, step 3, lb1, .*expected lb1 and lb2 MASTER of VI_1 together/);
  });

  it('flags a verdict drawn from a view that stopped holding well before it', () => {
    const late = raised(12_000, { kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'] });
    expect(checkVerdicts([late], SPLIT, [], GROUNDING, noStep)).toHaveLength(1);
  });

  it('grounds a VIP on several nodes in the namespaces, and flags one that was not there', () => {
    const samples: Sample[] = [
      { at: T + 1000, vips: { '198.18.0.50': ['lb1'] }, demoted: {} },
      { at: T + 6000, vips: { '198.18.0.50': ['lb1', 'lb2'] }, demoted: {} },
    ];
    const vip = { kind: 'vip-on-several-nodes' as const, iname: 'VI_1', address: '198.18.0.50', nodes: ['lb1', 'lb2'] };
    expect(checkVerdicts([raised(6100, vip)], [], samples, GROUNDING, noStep)).toEqual([]);
    const [stale] = checkVerdicts([raised(3000, vip)], [], samples, GROUNDING, noStep);
    expect(stale).toMatchObject({ invariant: 'verdict-from-fresh-view' });
    expect(stale!.seen).toContain('198.18.0.50 on [lb1]');
  });

  it('grounds no-master in nobody being MASTER', () => {
    const events = [ev('lb1', 'VI_1', 'MASTER', 0), ev('lb1', 'VI_1', 'FAULT', 5000), ev('lb2', 'VI_1', 'BACKUP', 0)];
    expect(checkVerdicts([raised(8000, { kind: 'no-master', iname: 'VI_1' })], events, [], GROUNDING, noStep)).toEqual([]);
    expect(checkVerdicts([raised(2000, { kind: 'no-master', iname: 'VI_1' })], events, [], GROUNDING, noStep)).toHaveLength(1);
  });

  it('never flags a split-brain verdict raised while its MASTERs were MASTER together', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 100 }), (start, length, at) => {
        const events = [ev('lb1', 'VI_1', 'MASTER', 0), ev('lb2', 'VI_1', 'MASTER', start), ev('lb2', 'VI_1', 'BACKUP', start + length)];
        const when = start + Math.floor((length * at) / 101);
        expect(checkVerdicts([raised(when, { kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'] })], events, [], GROUNDING, noStep)).toEqual([]);
      }),
    );
  });
});

describe('demotion-keeps-a-master and no-fault-after-heal', () => {
  const demotedSamples = (from: number, to: number, every: number): Sample[] =>
    Array.from({ length: Math.floor((to - from) / every) + 1 }, (_, i) => ({ at: T + from + i * every, vips: {}, demoted: { VI_1: ['lb2'] } }));

  it('flags a demotion left in place with nobody MASTER, once per episode', () => {
    const events = [ev('lb1', 'VI_1', 'MASTER', 0), ev('lb1', 'VI_1', 'STOP', 1000), ev('lb2', 'VI_1', 'FAULT', 0)];
    const found = checkDemotions(demotedSamples(0, 20_000, 250), events, ['VI_1'], 8000, () => 4);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ invariant: 'demotion-keeps-a-master', step: 4, node: 'lb2', at: T + 1000 });
  });

  it('accepts a demotion while the winner is MASTER, and a short gap of an election', () => {
    const events = [ev('lb1', 'VI_1', 'MASTER', 0), ev('lb1', 'VI_1', 'BACKUP', 5000), ev('lb1', 'VI_1', 'MASTER', 9000)];
    expect(checkDemotions(demotedSamples(0, 20_000, 250), events, ['VI_1'], 8000, noStep)).toEqual([]);
  });

  it('flags an instance left in FAULT or a track file still set at the end', () => {
    const events = [ev('lb1', 'VI_1', 'MASTER', 0), ev('lb2', 'VI_1', 'FAULT', 100), ev('lb2', 'VI_2', 'MASTER', 0)];
    const found = checkHealed(events, { at: T + 1000, vips: {}, demoted: { VI_1: ['lb2'] } }, ['VI_1', 'VI_2'], 7);
    expect(found.map((v) => [v.invariant, v.node, v.step])).toEqual([
      ['no-fault-after-heal', 'lb2', 7],
      ['no-fault-after-heal', 'lb2', 7],
    ]);
    expect(checkHealed([ev('lb2', 'VI_1', 'BACKUP', 0)], { at: T + 1000, vips: {}, demoted: {} }, ['VI_1'])).toEqual([]);
  });
});

describe('mail-delivered-once', () => {
  it("ties a received Message-ID to the outbox id and node it was made from (src/mail/smtp.ts)", () => {
    expect(receivedKey('<000042-1a2b.lb1@lb1.kwchaos.test>')).toBe(mailKey('000042-1a2b', 'lb1'));
  });

  it('flags a mail never received and one received twice, and accepts one received once', () => {
    const queued = [
      { node: 'lb1', id: 'a', at: T, subject: 'SPLIT BRAIN' },
      { node: 'lb1', id: 'b', at: T + 1 },
      { node: 'lb2', id: 'a', at: T + 2 },
    ];
    const received = [
      { messageId: '<a.lb1@lb1.x.test>', at: T + 10 },
      { messageId: '<b.lb1@lb1.x.test>', at: T + 11 },
      { messageId: '<b.lb1@lb1.x.test>', at: T + 12 },
    ];
    const found = checkMail(queued, received, T + 100, (at) => (at >= T + 1 ? 1 : 0));
    expect(found.map((v) => [v.node, v.seen.split(' ')[0], v.step])).toEqual([
      ['lb1', 'received', 1],
      ['lb2', 'never', 1],
    ]);
  });
});
