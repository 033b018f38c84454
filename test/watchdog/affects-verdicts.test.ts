import { describe, expect, it } from 'vitest';
import { emptySnapshot, type Snapshot, type Update } from '../../src/state/snapshot.js';
import { reduce } from '../../src/state/reduce.js';
import { affectsVerdicts } from '../../src/watchdog/watchdog.js';

const base: Snapshot = reduce(emptySnapshot('lb1'), {
  type: 'report',
  source: 'fifo',
  at: 1000,
  report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'BACKUP', priority: 100 },
}).snapshot;

const after = (u: Update) => reduce(base, u).snapshot;

describe('affectsVerdicts', () => {
  it('skips updates that only touch source health or the process poll time', () => {
    expect(affectsVerdicts(base, after({ type: 'source-ok', source: 'dump', at: 2000 }))).toBe(false);
    expect(affectsVerdicts(base, after({ type: 'source-error', source: 'fifo', at: 2000, error: 'gone' }))).toBe(false);
    const up = after({ type: 'process', up: true, pid: 42, at: 2000 });
    expect(affectsVerdicts(up, reduce(up, { type: 'process', up: true, pid: 42, at: 3000 }).snapshot)).toBe(false);
  });

  it('reviews on a transition, an address change and keepalived stopping', () => {
    const master: Update = { type: 'report', source: 'hook', at: 2000, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'MASTER', priority: 100 } };
    expect(affectsVerdicts(base, after(master))).toBe(true);
    expect(affectsVerdicts(base, after({ type: 'addresses', at: 2000, addresses: [] }))).toBe(true);
    const up = after({ type: 'process', up: true, pid: 42, at: 2000 });
    expect(affectsVerdicts(up, reduce(up, { type: 'process', up: false, at: 3000 }).snapshot)).toBe(true);
  });
});
