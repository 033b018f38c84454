import fc from 'fast-check';
import type { Vip } from '../../src/model/vrrp.js';
import { VRRP_STATES } from '../../src/model/vrrp.js';
import { REJECT_REASONS } from '../../src/model/peer.js';
import type { PeerInstance } from '../../src/model/peer.js';
import type { Update } from '../../src/state/snapshot.js';

/** Names an ordinary object already "has": each must behave as a name like any other. */
export const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];

/** A name as keepalived, its hook, its FIFO or a peer may send it: prototype members, empty, long, any unicode. */
export const outsideName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...PROTOTYPE_NAMES, '', 'VI_1'),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ minLength: 300, maxLength: 2000 }),
);

/** Any number where a time is expected, most of them times no clock shows (NaN, Infinity, 1e20 s as ms, negative). */
export const anyTime: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e20, 1e23, -1, 8.64e15 + 1),
  fc.double(),
  fc.integer({ min: 0, max: 4_000_000_000_000 }),
);

const vrrpState = fc.constantFrom(...VRRP_STATES);
const peerInstance: fc.Arbitrary<PeerInstance> = fc.record(
  { name: outsideName, state: vrrpState, stateSince: anyTime, vips: fc.constant([]), vrid: fc.integer({ min: 1, max: 255 }) },
  { requiredKeys: ['name', 'state', 'vips'] },
);

/**
 * Any update a source could hand the store, with outside names and times everywhere (past what
 * the parsers let through: the consumers must not depend on them).
 */
export const anyUpdate: fc.Arbitrary<Update> = fc.oneof(
  fc.record({
    type: fc.constant('report' as const),
    source: fc.constantFrom('hook' as const, 'fifo' as const),
    at: anyTime,
    report: fc.oneof(
      fc.record({ kind: fc.constant('state' as const), scope: fc.constantFrom('instance' as const, 'group' as const), name: outsideName, state: vrrpState, priority: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }) }),
      fc.record({ kind: fc.constant('master-rx-lower-priority' as const), name: outsideName, priority: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('priority' as const), name: outsideName, state: fc.constantFrom('MASTER' as const, 'BACKUP' as const), priority: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('checker' as const), virtualServer: outsideName, realServer: fc.option(outsideName, { nil: undefined }), up: fc.boolean() }),
    ),
  }),
  fc.record({
    type: fc.constant('dump' as const),
    at: anyTime,
    instances: fc.array(fc.record({ name: outsideName, state: vrrpState, vrid: fc.integer({ min: 1, max: 255 }), vips: fc.constant<Vip[]>([]), lastTransition: fc.option(fc.double(), { nil: undefined }) }), { maxLength: 4 }),
    takenAfter: fc.option(anyTime, { nil: undefined }),
    groups: fc.option(fc.array(fc.record({ name: outsideName, state: vrrpState, members: fc.array(outsideName, { maxLength: 2 }) }), { maxLength: 3 }), { nil: undefined }),
  }),
  fc.record({ type: fc.constant('process' as const), at: anyTime, up: fc.boolean(), pid: fc.option(fc.nat(), { nil: undefined }) }),
  fc.record({ type: fc.constant('peers-configured' as const), peers: fc.array(fc.record({ name: outsideName, address: fc.constant('10.0.0.2:9651') }), { maxLength: 3 }) }),
  fc.record({
    type: fc.constant('peer-view' as const),
    at: anyTime,
    peer: outsideName,
    view: fc.record({ v: fc.constant(1 as const), node: outsideName, keepalivedUp: fc.boolean(), instances: fc.array(peerInstance, { maxLength: 3 }) }),
    rttMs: fc.option(fc.double(), { nil: undefined }),
  }),
  fc.record({ type: fc.constant('peer-error' as const), at: anyTime, peer: outsideName, error: fc.string() }),
  fc.record({ type: fc.constant('peer-rejected' as const), at: anyTime, reason: fc.constantFrom(...REJECT_REASONS) }),
  fc.record({ type: fc.constant('witness' as const), at: anyTime, target: outsideName, error: fc.option(fc.string(), { nil: undefined }) }),
);
