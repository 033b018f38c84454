import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
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
  beforeEach(({ onTestFailed }) => {
    const since = Date.now();
    onTestFailed(() => {
      if (handle.nodes) console.log(labLogsSince(handle.nodes, since));
    });
  });
  afterAll(async () => {
    await labDown({ prefix });
  });
  return handle;
}

/** Log lines printed for a failed test at most, the latest: enough for the seconds around a fault, small enough for a CI log. */
const MAX_DAEMON_LINES = 400;
const MAX_KEEPALIVED_LINES_PER_NODE = 60;

/**
 * What each director's daemon logged during a failed test, in time order across the directors,
 * and the end of each keepalived's own log: a lab failure in CI then shows what happened.
 */
export function labLogsSince(nodes: readonly LabNode[], since: number): string {
  const daemon: { at: number; text: string }[] = [];
  const keepalived: string[] = [];
  for (const node of nodes) {
    const paths = nodePaths(node.dir);
    for (const raw of readLines(paths.daemonLog)) {
      try {
        const { time, level, part, msg, pid: _pid, ...rest } = JSON.parse(raw) as Record<string, unknown>;
        const at = Date.parse(String(time));
        if (at >= since) daemon.push({ at, text: `${String(time)} ${node.name} ${String(level)} ${String(part ?? '-')}: ${String(msg)} ${JSON.stringify(rest)}` });
      } catch {
        // A line cut short by a daemon that was killed: nothing to diagnose in it.
      }
    }
    keepalived.push(...readLines(paths.keepalivedLog).slice(-MAX_KEEPALIVED_LINES_PER_NODE).map((l) => `${node.name}: ${l}`));
  }
  return [
    `--- the directors' kawatch logs since the test began (${new Date(since).toISOString()}) ---`,
    ...daemon.sort((a, b) => a.at - b.at).slice(-MAX_DAEMON_LINES).map((l) => l.text),
    "--- the end of each director's keepalived log ---",
    ...keepalived,
  ].join('\n');
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
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
