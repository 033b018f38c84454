import { reduce } from '../../src/state/reduce.js';
import { emptySnapshot, type Change, type Snapshot, type Update } from '../../src/state/snapshot.js';

/** Applies the updates in order, as the store does: the last snapshot and every change on the way. */
export function reduceAll(updates: readonly Update[], start: Snapshot = emptySnapshot('lb1')): { s: Snapshot; changes: Change[] } {
  let s = start;
  const changes: Change[] = [];
  for (const u of updates) {
    const r = reduce(s, u);
    s = r.snapshot;
    changes.push(...r.changes);
  }
  return { s, changes };
}
