import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { quarantinedCounts } from '../../src/core/quarantine.js';
import { Outbox } from '../../src/mail/outbox.js';
import { addEvent, emptyPending, type PendingState } from '../../src/mail/schedule.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-outbox-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh outbox directory holding `content` as pending.json. */
function outboxWith(content: string): Outbox {
  const outboxDir = mkdtempSync(join(dir, 'o-'));
  mkdirSync(outboxDir, { recursive: true });
  writeFileSync(join(outboxDir, 'pending.json'), content);
  return new Outbox(outboxDir);
}

const transition = (name: string, at: number) => ({ kind: 'transition' as const, at, node: 'lb1', scope: 'instance' as const, name, vips: [], from: 'BACKUP' as const, to: 'MASTER' as const, source: 'fifo' as const });

describe('Outbox.load on whatever pending.json holds', () => {
  it('starts for any content, and what it keeps is always a usable state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.jsonValue().map((v) => JSON.stringify({ v: 1, batch: 1, mailTimes: [], group: v }))), async (content) => {
        const { pending } = await outboxWith(content).load();
        expect(Number.isInteger(pending.batch) && pending.batch >= 1).toBe(true);
        expect(pending.mailTimes.every((t) => Number.isInteger(t) && t <= Date.now() + 86_400_000)).toBe(true);
        if (pending.group) expect(pending.group.count).toBeGreaterThan(0);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps every good event and quarantines every bad record mixed in among them', async () => {
    const now = Date.now();
    const junk = fc.oneof(fc.anything(), fc.record({ kind: fc.constant('transition'), at: fc.oneof(fc.constant(1e20), fc.double(), fc.string()), name: fc.anything() }));
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.stringMatching(/^VI_[0-9]{1,3}$/), { minLength: 1, maxLength: 8 }), fc.array(junk, { minLength: 1, maxLength: 5 }), fc.nat(), async (names, bad, seed) => {
        let state: PendingState = emptyPending();
        for (const [i, name] of names.entries()) state = addEvent(state, transition(name, now - 1000 + i), now - 1000);
        const first = [...state.group!.first];
        for (const [i, b] of bad.entries()) first.splice((seed + i) % (first.length + 1), 0, b as never);
        const before = quarantinedCounts().get('pending.json') ?? 0;
        const outbox = outboxWith(JSON.stringify({ v: 1, ...state, group: { ...state.group, first } }));
        const { pending, problems } = await outbox.load();
        expect(pending.group?.count).toBe(names.length);
        expect(pending.group?.instances).toEqual(names);
        expect(quarantinedCounts().get('pending.json')).toBe(before + bad.length);
        expect(problems).toHaveLength(1);
        expect(readdirSync(outbox.dir).filter((n) => n.startsWith('pending.json.bad-'))).toHaveLength(1);
      }),
      { numRuns: 50 },
    );
  });
});

describe('Outbox.load of a resolution', () => {
  it('keeps where things stood when a verdict cleared, and loads one recorded without it', async () => {
    const now = Date.now();
    const verdict = { kind: 'vip-absent-on-master' as const, iname: 'VI_1', vrid: 51, address: '198.18.1.10', node: 'd3' };
    const resolved = { kind: 'verdict' as const, at: now - 10, node: 'd1', change: 'cleared' as const, verdict, vips: ['198.18.1.10'], standing: { masters: ['d2'], holders: ['d2'] } };
    const { standing: _dropped, ...older } = { ...resolved, at: now - 5 };
    const state = addEvent(addEvent(emptyPending(), resolved, now - 10), older, now - 5);
    const { pending, problems } = await outboxWith(JSON.stringify({ v: 1, ...state })).load();
    expect(problems).toEqual([]);
    expect(pending.group?.first).toEqual([resolved, older]);
  });
});
