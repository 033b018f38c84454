import { afterAll, beforeAll } from 'vitest';
import { type LabPolicy } from '../../src/lab/plan.js';
import { type LabInfo, type LabNode } from '../../src/lab/state.js';
import { labDown, labUp } from '../../src/lab/lifecycle.js';
import { fetchNodeState } from '../../src/lab/observe.js';
import type { Snapshot } from '../../src/state/snapshot.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';
import type { JournalEntry } from '../../src/watchdog/journal.js';

export interface LabHandle {
  info: LabInfo;
  lb1: LabNode;
  lb2: LabNode;
}

/**
 * A lab for the enclosing suite: taken down first (a crashed run may have left one), built in
 * beforeAll, and removed in afterAll whatever the tests did. Use a prefix no other suite uses.
 */
export function useLab(prefix: string, policy?: LabPolicy): LabHandle {
  const handle = {} as LabHandle;
  beforeAll(async () => {
    await labDown({ prefix });
    handle.info = await labUp({ prefix, policy });
    [handle.lb1, handle.lb2] = handle.info.nodes as [LabNode, LabNode];
  });
  afterAll(async () => {
    await labDown({ prefix });
  });
  return handle;
}

/** A daemon's /api/v1/state answer. */
export type NodeState = Snapshot & { verdicts: Verdict[]; actions: JournalEntry[] };

export async function nodeState(node: LabNode): Promise<NodeState> {
  return (await fetchNodeState(node)) as NodeState;
}
