import { join } from 'node:path';
import type { Snapshot } from '../state/snapshot.js';
import { masterOf, type LabPlan } from './plan.js';
import type { LabInfo, LabNode } from './state.js';
import type { Probe } from '../core/wait.js';

/** What the lab's daemons say: their state, and who is MASTER of what. */

const HTTP_TIMEOUT_MS = 2000;

export async function fetchNodeState(node: Pick<LabNode, 'api'>): Promise<Snapshot> {
  const response = await fetch(`${node.api}/api/v1/state`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`${node.api}/api/v1/state answered ${response.status}`);
  return (await response.json()) as Snapshot;
}

/** Instance name → the nodes whose daemon reports it MASTER. */
function mastersByInstance(states: ReadonlyMap<string, Pick<Snapshot, 'instances'>>): Record<string, string[]> {
  const masters: Record<string, string[]> = {};
  for (const [node, snapshot] of states) {
    for (const [name, instance] of Object.entries(snapshot.instances)) {
      masters[name] ??= [];
      if (instance.state === 'MASTER') masters[name].push(node);
    }
  }
  return masters;
}

/** Asks every director's daemon; instance name → nodes that are MASTER (two of them during a split brain). */
export async function readMasters(lab: Pick<LabInfo, 'nodes'>): Promise<Record<string, string[]>> {
  const states = await Promise.all(lab.nodes.map(async (n) => [n.name, await fetchNodeState(n)] as const));
  return mastersByInstance(new Map(states));
}

/** Holds when every instance has exactly its intended MASTER; otherwise says who is MASTER of what. */
export function checkIntendedMasters(plan: Pick<LabPlan, 'instances'>, masters: Record<string, string[]>): Probe<void> {
  const wrong = plan.instances.filter((i) => (masters[i.name] ?? []).join() !== masterOf(i));
  if (wrong.length === 0) return { done: true, value: undefined };
  return { done: false, why: wrong.map((i) => `${i.name}: MASTER on [${(masters[i.name] ?? []).join(', ')}], want ${masterOf(i)}`).join('; ') };
}
