import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseView, PeerRejected } from '../../src/peer/protocol.js';
import { PEER_NAME } from '../../src/model/peer.js';
import { buildView } from '../../src/peer/view.js';
import { SAME_TRANSITION_MS } from '../../src/state/identity.js';
import { reduce } from '../../src/state/reduce.js';
import { emptySnapshot, type Update } from '../../src/state/snapshot.js';

const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__'];

/** Any JSON a peer might send as its view: well-formed, nearly so, or hostile. */
const name = fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES), fc.string({ maxLength: 140 }), fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/));
const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(1e308, -1, 2 ** 64, Number.MAX_SAFE_INTEGER + 2));
const instance = fc.record(
  {
    name,
    vrid: fc.oneof(fc.integer({ min: 1, max: 255 }), number),
    state: fc.constantFrom('MASTER', 'BACKUP', 'FAULT', 'BOSS'),
    stateSince: number,
    advertSent: number,
    vips: fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 50 })), { maxLength: 3 }),
  },
  { requiredKeys: ['name', 'state', 'vips'] },
);
const hostileKeys = fc.dictionary(fc.constantFrom(...PROTOTYPE_NAMES), fc.jsonValue(), { maxKeys: 2 });
const view = fc.tuple(fc.record({ v: fc.constant(1), node: fc.constant('lb2'), keepalivedUp: fc.boolean(), instances: fc.array(instance, { maxLength: 5 }) }), hostileKeys).map(([v, extra]) => ({ ...extra, ...v }));

describe('peer views at the boundary', () => {
  it('either refuses a view as malformed or returns one whose names can be shown and numbers are exact', () => {
    fc.assert(
      fc.property(fc.oneof(view, fc.jsonValue()), (doc) => {
        // Keys such as __proto__ must reach the parser as own properties, as they would off the wire.
        const body = Buffer.from(JSON.stringify(doc));
        let parsed;
        try {
          parsed = parseView(body, 'lb2');
        } catch (err) {
          expect(err).toBeInstanceOf(PeerRejected);
          expect((err as PeerRejected).reason).toBe('malformed');
          return;
        }
        expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
        expect(Object.keys(parsed).sort()).toEqual(['instances', 'keepalivedUp', 'node', 'v']);
        for (const i of parsed.instances) {
          expect(i.name).toMatch(PEER_NAME);
          for (const n of [i.stateSince, i.advertSent, i.advertReceived]) if (n !== undefined) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
        }
        expect(new Set(parsed.instances.map((i) => i.name)).size).toBe(parsed.instances.length);
      }),
      { numRuns: 500 },
    );
    // Nothing above may have reached Object.prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });

  it('takes instances named after Object.prototype as plain names', () => {
    const instances = PROTOTYPE_NAMES.map((n) => ({ name: n, state: 'BACKUP', vips: [] }));
    const parsed = parseView(Buffer.from(JSON.stringify({ v: 1, node: 'lb2', keepalivedUp: true, instances })), 'lb2');
    expect(parsed.instances.map((i) => i.name)).toEqual(PROTOTYPE_NAMES);
  });

  it('clamps counters past what a number holds exactly instead of refusing the view', () => {
    const parsed = parseView(Buffer.from(`{"v":1,"node":"lb2","keepalivedUp":true,"instances":[{"name":"VI_1","state":"MASTER","vips":[],"advertSent":18446744073709551615,"stateSince":-5}]}`), 'lb2');
    expect(parsed.instances[0]).toMatchObject({ advertSent: Number.MAX_SAFE_INTEGER, stateSince: 0 });
  });

  it('refuses a view that lists an instance twice', () => {
    const twice = { v: 1, node: 'lb2', keepalivedUp: true, instances: [{ name: 'VI_1', state: 'MASTER', vips: [] }, { name: 'VI_1', state: 'BACKUP', vips: [] }] };
    expect(() => parseView(Buffer.from(JSON.stringify(twice)), 'lb2')).toThrow(/listed twice/);
  });
});

describe('buildView', () => {
  const fifoBackup: Update = { type: 'report', source: 'fifo', at: 1_800_000_000_000, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'BACKUP', priority: 90 } };
  const addresses: Update = { type: 'addresses', at: 1_800_000_000_000, addresses: [{ address: '198.18.0.2', prefix: 24, ifname: 'pri0', family: 4 }] };
  const dump: Update = { type: 'dump', at: 1_800_000_000_100, instances: [{ name: 'VI_1', vrid: 51, state: 'BACKUP', interface: 'pri0', vips: [{ address: '198.18.0.50', prefix: 24, dev: 'pri0' }] }] };
  const apply = (updates: Update[]) => updates.reduce((s, u) => reduce(s, u).snapshot, emptySnapshot('lb2'));

  it('marks an instance known from the FIFO alone as without settings, and says nothing of its VIPs', () => {
    expect(buildView(apply([addresses, fifoBackup])).instances).toEqual([expect.objectContaining({ name: 'VI_1', settingsKnown: false, vips: [], vipsPresent: undefined })]);
    expect(buildView(apply([addresses, fifoBackup, dump])).instances).toEqual([expect.objectContaining({ name: 'VI_1', vrid: 51, settingsKnown: true, vips: ['198.18.0.50'], vipsPresent: [] })]);
  });

  it('sends the mark on the wire, and still takes views from directors that do not send it', () => {
    const view = buildView(apply([addresses, fifoBackup]));
    expect(parseView(Buffer.from(JSON.stringify(view)), 'lb2').instances[0]?.settingsKnown).toBe(false);
    const { settingsKnown: _notSent, ...older } = view.instances[0]!;
    expect(parseView(Buffer.from(JSON.stringify({ ...view, instances: [older] })), 'lb2').instances[0]).not.toHaveProperty('settingsKnown');
  });

  it('takes a view from a newer version, dropping the fields it does not know', () => {
    const view = { ...buildView(apply([addresses, fifoBackup, dump])), comesLater: { a: 1 } };
    const newer = { ...view, instances: view.instances.map((i) => ({ ...i, alsoLater: true })) };
    const parsed = parseView(Buffer.from(JSON.stringify(newer)), 'lb2');
    expect(parsed).not.toHaveProperty('comesLater');
    expect(parsed.instances[0]).not.toHaveProperty('alsoLater');
    expect(parsed.instances[0]).toMatchObject({ name: 'VI_1', vrid: 51, state: 'BACKUP' });
  });

  it('tells how late this director learns of its transitions: the hook bound until the FIFO has told one, none after', () => {
    const fifoOn: Update = { type: 'source-enabled', source: 'fifo', enabled: true };
    expect(buildView(apply([addresses, dump])).reportLagMs).toBe(SAME_TRANSITION_MS);
    expect(buildView(apply([fifoOn, addresses, dump])).reportLagMs).toBe(SAME_TRANSITION_MS);
    const told = buildView(apply([fifoOn, addresses, fifoBackup, dump]));
    expect(told.reportLagMs).toBe(0);
    expect(parseView(Buffer.from(JSON.stringify(told)), 'lb2').reportLagMs).toBe(0);
    // An older director does not say: it is waited for no longer than before.
    const { reportLagMs: _notSent, ...older } = told;
    expect(parseView(Buffer.from(JSON.stringify(older)), 'lb2')).not.toHaveProperty('reportLagMs');
  });
});

describe('the mail confirmations a view carries', () => {
  const withAck = (mailSent: unknown) => Buffer.from(JSON.stringify({ v: 1, node: 'lb2', keepalivedUp: true, instances: [], mailSent }));
  const id = (i: number) => i.toString(16).padStart(16, '0');

  it('travels from the mailer\'s ledger to the peer unchanged', () => {
    const ledger = { seq: 7, ids: [id(1), id(2)] };
    const wire = Buffer.from(JSON.stringify(buildView(emptySnapshot('lb2'), ledger)));
    expect(parseView(wire, 'lb2').mailSent).toEqual(ledger);
    expect(parseView(Buffer.from(JSON.stringify(buildView(emptySnapshot('lb2')))), 'lb2').mailSent).toBeUndefined();
  });

  it.each([
    ['an id that is not 16 hex digits', { seq: 1, ids: ['not-an-id'] }],
    ['more ids than the bound', { seq: 10_000, ids: Array.from({ length: 513 }, (_, i) => id(i)) }],
    ['more ids than were ever sent', { seq: 1, ids: [id(1), id(2)] }],
    ['a key the schema does not know', { seq: 1, ids: [id(1)], extra: true }],
    ['no count', { ids: [] }],
  ])('refuses %s as malformed', (_what, mailSent) => {
    expect(() => parseView(withAck(mailSent), 'lb2')).toThrow(expect.objectContaining({ reason: 'malformed', message: expect.stringMatching(/mailSent/) }));
  });

  it('clamps a count beyond what a number holds exactly', () => {
    expect(parseView(withAck({ seq: 1e300, ids: [id(1)] }), 'lb2').mailSent?.seq).toBe(Number.MAX_SAFE_INTEGER);
  });
});
