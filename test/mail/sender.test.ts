import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MailEvent } from '../../src/mail/event.js';
import { MAX_MAIL_ACKS } from '../../src/model/peer.js';
import { chooseSender, emptyLedger, eventId, involvedOf, recordSent, reviewHeld, sentSince, type HeldEvent, type SenderStanding } from '../../src/mail/sender.js';

const T0 = 1_800_000_000_000;

const splitOn = (masters: string[], node: string, at = T0, causes: string[] = []): MailEvent => ({
  kind: 'verdict',
  at,
  node,
  change: 'raised',
  vips: ['10.0.0.1'],
  verdict: { kind: 'split-brain', iname: 'VI_1', vrid: 51, masters, since: T0 - 100, causes },
});

const FINDINGS = [
  { kind: 'config-mismatch' as const, iname: 'VI_1', vrid: 51, field: 'advert_int' as const, values: { lb1: '1s', lb2: '2s' } },
  { kind: 'equal-priority' as const, iname: 'VI_2', vrid: 52, priority: 100, nodes: ['lb1', 'lb2'] },
];
const auditBy = (node: string, at = T0, findings = FINDINGS): MailEvent => ({ kind: 'audit', at, node, findings });

const directorName = fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/);

/** 1 to 7 distinct directors, cut into components: every director hears exactly the others of its own. */
const partitionedGroup = fc.uniqueArray(directorName, { minLength: 1, maxLength: 7 }).chain((names) =>
  fc.array(fc.nat({ max: 2 }), { minLength: names.length, maxLength: names.length }).map((side) => {
    const components = new Map<number, string[]>();
    names.forEach((n, i) => components.set(side[i]!, [...(components.get(side[i]!) ?? []), n]));
    return { names, components: [...components.values()] };
  }),
);

/** Any kind of group event about some of the directors (or about one outside the group). */
function groupEvent(names: string[]): fc.Arbitrary<MailEvent> {
  const someOf = fc.subarray(names, { minLength: 1 });
  const one = fc.oneof(fc.constantFrom(...names), directorName);
  return fc.oneof(
    someOf.map((masters) => splitOn(masters, masters[0]!)),
    one.map((node): MailEvent => ({ kind: 'verdict', at: T0, node, change: 'cleared', vips: [], verdict: { kind: 'vip-absent-on-master', iname: 'VI_2', address: '10.0.0.2', node } })),
    someOf.map((nodes): MailEvent => ({ kind: 'verdict', at: T0, node: nodes[0]!, change: 'raised', vips: [], verdict: { kind: 'config-mismatch', iname: 'VI_3', field: 'advert_int', values: Object.fromEntries(nodes.map((n, i) => [n, String(i)])) } })),
    one.map((peer): MailEvent => ({ kind: 'peer', at: T0, node: names[0]!, change: 'lost', peer })),
    one.map((node): MailEvent => ({ kind: 'transition', at: T0, node, scope: 'instance', name: 'VI_1', vips: [], from: 'BACKUP', to: 'MASTER', source: 'fifo' })),
    one.map((node): MailEvent => auditBy(node)),
  );
}

/** The directors of `component` that mail the event: those that choose themselves. */
function sendersIn(component: string[], e: MailEvent): string[] {
  return component.filter((self) => chooseSender(e, self, new Set(component.filter((d) => d !== self))) === self);
}

describe('chooseSender', () => {
  it('gives every director of a group that hears itself whole the same sender, one of them', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(directorName, { minLength: 1, maxLength: 7 }).chain((names) => fc.tuple(fc.constant(names), groupEvent(names))),
        ([names, e]) => {
          const chosen = new Set(names.map((self) => chooseSender(e, self, new Set(names.filter((d) => d !== self)))));
          expect(chosen.size).toBe(1);
          expect(names).toContain([...chosen][0]);
        },
      ),
    );
  });

  it('leaves each side of a partition exactly one sender, so every side mails', () => {
    fc.assert(
      fc.property(
        partitionedGroup.chain((g) => fc.tuple(fc.constant(g), groupEvent(g.names))),
        ([{ components }, e]) => {
          for (const component of components) {
            // A peer event is not mailed by the peer it is about: a side of that peer alone has nobody to tell.
            const expected = e.kind === 'peer' && component.length === 1 && component[0] === e.peer ? 0 : 1;
            if (expected === 0) continue;
            expect(sendersIn(component, e)).toHaveLength(1);
          }
        },
      ),
    );
  });

  it('picks an involved director when one is heard, the first by name', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(directorName, { minLength: 2, maxLength: 7 }).chain((names) => fc.tuple(fc.constant(names), fc.subarray(names, { minLength: 1 }))),
        ([names, masters]) => {
          const e = splitOn(masters, masters[0]!);
          for (const self of names) expect(chooseSender(e, self, new Set(names))).toBe([...masters].sort()[0]);
        },
      ),
    );
  });

  it('never chooses the peer a peer event is about, and a director alone mails what it sees', () => {
    const lost: MailEvent = { kind: 'peer', at: T0, node: 'lb2', change: 'lost', peer: 'lb1' };
    expect(chooseSender(lost, 'lb2', new Set(['lb1', 'lb3']))).toBe('lb2');
    expect(chooseSender(lost, 'lb3', new Set(['lb2']))).toBe('lb2');
    expect(chooseSender(splitOn(['lb1', 'lb2'], 'lb2'), 'lb2', new Set())).toBe('lb2');
    // Nobody involved is heard: the first of those heard mails it.
    expect(chooseSender(splitOn(['lb1', 'lb2'], 'lb3'), 'lb4', new Set(['lb3']))).toBe('lb3');
  });
});

describe('eventId: the same group event, whoever reports it and whenever', () => {
  it('is the same for a verdict seen by two directors at different times with different causes', () => {
    expect(eventId(splitOn(['lb2', 'lb1'], 'lb1', T0, ['a']))).toBe(eventId(splitOn(['lb1', 'lb2'], 'lb2', T0 + 900, ['b'])));
    expect(involvedOf(splitOn(['lb2', 'lb1'], 'lb1'))).toEqual(['lb1', 'lb2']);
  });

  it('is the same for a split brain whose last MASTER each director dates differently', () => {
    const base = splitOn(['lb1', 'lb2'], 'lb1');
    const redated = { ...base, verdict: { ...(base as Extract<MailEvent, { kind: 'verdict' }>).verdict, since: T0 + 37 } } as MailEvent;
    expect(eventId(redated)).toBe(eventId(base));
  });

  it('differs with what happened: another instance, change or set of directors', () => {
    const base = splitOn(['lb1', 'lb2'], 'lb1');
    const others: MailEvent[] = [
      { ...base, change: 'cleared' } as MailEvent,
      splitOn(['lb1', 'lb3'], 'lb1'),
      { ...base, verdict: { ...(base as Extract<MailEvent, { kind: 'verdict' }>).verdict, iname: 'VI_2' } } as MailEvent,
    ];
    const ids = new Set([base, ...others].map(eventId));
    expect(ids.size).toBe(others.length + 1);
    expect([...ids].every((id) => /^[0-9a-f]{16}$/.test(id))).toBe(true);
  });

  it('tells a peer lost from the same peer back, and is the same from every director that lost it', () => {
    const from = (node: string, change: 'lost' | 'back'): MailEvent => ({ kind: 'peer', at: T0, node, change, peer: 'lb3' });
    expect(eventId(from('lb1', 'lost'))).toBe(eventId(from('lb2', 'lost')));
    expect(eventId(from('lb1', 'lost'))).not.toBe(eventId(from('lb1', 'back')));
  });
});

describe('eventId of the scheduled audit', () => {
  it('is the same for the audit of one slot from every director, whatever order it lists its findings in', () => {
    expect(eventId(auditBy('lb2', T0, [...FINDINGS].reverse()))).toBe(eventId(auditBy('lb1')));
    expect(involvedOf(auditBy('lb1'))).toBeUndefined();
  });

  it('differs for another slot, and for other findings', () => {
    expect(eventId(auditBy('lb1', T0 + 60_000))).not.toBe(eventId(auditBy('lb1')));
    expect(eventId(auditBy('lb1', T0, FINDINGS.slice(0, 1)))).not.toBe(eventId(auditBy('lb1')));
  });
});

describe('the ledger of mailed event ids', () => {
  it('stays bounded, counts every id, and tells which came after a given count', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.stringMatching(/^[0-9a-f]{16}$/), { maxLength: 300 }), { maxLength: 8 }), fc.nat({ max: 3000 }), (batches, after) => {
        const ledger = batches.reduce(recordSent, emptyLedger());
        const all = batches.flat();
        expect(ledger.seq).toBe(all.length);
        expect(ledger.ids.length).toBeLessThanOrEqual(MAX_MAIL_ACKS);
        expect(ledger.ids).toEqual(all.slice(-MAX_MAIL_ACKS));
        // Number n (from 1) is all[n - 1]; the ledger still knows the newest MAX_MAIL_ACKS of them.
        expect(sentSince(ledger, after)).toEqual(new Set(all.filter((_, i) => i >= after && i >= all.length - MAX_MAIL_ACKS)));
      }),
    );
  });
});

describe('reviewHeld', () => {
  const held = (id: string, sender = 'lb1', heldAt = T0, after = 0): HeldEvent => ({ id, event: splitOn(['lb1', 'lb2'], 'lb2'), sender, heldAt, after });
  const heardWith = (ids: string[], seq = ids.length): SenderStanding => ({ lost: false, ledger: { seq, ids } });
  const BOUND = 60_000;

  it('drops what the sender confirmed after the hold began, keeps the rest until the bound', () => {
    const review = reviewHeld([held('aaaaaaaaaaaaaaaa'), held('bbbbbbbbbbbbbbbb')], T0 + 1000, BOUND, () => heardWith(['aaaaaaaaaaaaaaaa']));
    expect(review.confirmed.map((h) => h.id)).toEqual(['aaaaaaaaaaaaaaaa']);
    expect(review.keep.map((h) => h.id)).toEqual(['bbbbbbbbbbbbbbbb']);
    expect(review.released).toEqual([]);
    expect(review.nextAt).toBe(T0 + BOUND);
  });

  it('does not take the confirmation of an earlier occurrence for this one', () => {
    // The sender mailed this id as number 3, before the hold began with its ledger at 5.
    const review = reviewHeld([held('aaaaaaaaaaaaaaaa', 'lb1', T0, 5)], T0 + 1000, BOUND, () => heardWith(['cccccccccccccccc', 'aaaaaaaaaaaaaaaa', 'dddddddddddddddd'], 5));
    expect(review.confirmed).toEqual([]);
    expect(review.keep).toHaveLength(1);
  });

  it('mails here what a lost sender holds, and what a heard one did not confirm in time', () => {
    const lost = reviewHeld([held('aaaaaaaaaaaaaaaa')], T0 + 10, BOUND, () => ({ lost: true }));
    expect(lost.released.map((r) => r.why)).toEqual(['sender-lost']);
    const late = reviewHeld([held('aaaaaaaaaaaaaaaa')], T0 + BOUND, BOUND, () => heardWith([]));
    expect(late.released.map((r) => r.why)).toEqual(['unconfirmed']);
    expect(late.nextAt).toBeUndefined();
  });

  it('accounts for every held event exactly once, whatever the senders say', () => {
    const id = fc.constantFrom('aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb', 'cccccccccccccccc');
    const standing = fc.record({ lost: fc.boolean(), ledger: fc.option(fc.array(id, { maxLength: 5 }).map((ids) => ({ seq: ids.length + 2, ids })), { nil: undefined }) });
    fc.assert(
      fc.property(
        fc.array(fc.record({ id, sender: fc.constantFrom('lb1', 'lb3'), heldAt: fc.integer({ min: T0 - 2 * BOUND, max: T0 }), after: fc.nat({ max: 8 }) }), { maxLength: 20 }),
        fc.record({ lb1: standing, lb3: standing }),
        (records, standings) => {
          const all = records.map((r) => ({ ...r, event: splitOn(['lb1', 'lb2'], 'lb2') }));
          const review = reviewHeld(all, T0, BOUND, (s) => standings[s as 'lb1' | 'lb3']);
          expect(review.keep.length + review.confirmed.length + review.released.length).toBe(all.length);
          for (const h of review.keep) expect(T0).toBeLessThan(h.heldAt + BOUND);
          for (const h of review.confirmed) expect(standings[h.sender as 'lb1' | 'lb3'].ledger?.ids).toContain(h.id);
        },
      ),
    );
  });
});
