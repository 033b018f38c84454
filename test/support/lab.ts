import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { nodePaths, type LabDirectorCount, type LabPolicy } from '../../src/lab/plan.js';
import { type LabInfo, type LabNode } from '../../src/lab/state.js';
import { labDown, labUp } from '../../src/lab/lifecycle.js';
import { fetchNodeState } from '../../src/lab/observe.js';
import type { Snapshot } from '../../src/state/snapshot.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';
import type { JournalEntry } from '../../src/watchdog/journal.js';

export interface LabHandle {
  info: LabInfo;
  /** Every director, in the plan's order (lb1, lb2, ...). */
  nodes: LabNode[];
  lb1: LabNode;
  lb2: LabNode;
}

export interface UseLabOptions {
  /** 2 (default) or 3. */
  directors?: LabDirectorCount;
}

/**
 * A lab for the enclosing suite: taken down first (a crashed run may have left one), built in
 * beforeAll, and removed in afterAll whatever the tests did. Use a prefix no other suite uses.
 */
export function useLab(prefix: string, policy?: LabPolicy, options: UseLabOptions = {}): LabHandle {
  const handle = {} as LabHandle;
  beforeAll(async () => {
    await labDown({ prefix });
    handle.info = await labUp({ prefix, policy, directors: options.directors });
    handle.nodes = handle.info.nodes;
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

/** The director's action journal as it is on disk (empty before the first action). */
export function journalOf(node: LabNode): JournalEntry[] {
  try {
    return readFileSync(join(nodePaths(node.dir).stateDir, 'actions.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalEntry);
  } catch {
    return [];
  }
}
