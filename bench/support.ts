import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { LabNode } from '../src/lab/lab.js';
import { nodePaths } from '../src/lab/plan.js';

const run = promisify(execFile);
const DUMP_TIMEOUT_MS = 5000;

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const formatMs = (ms: number, digits = 1) => `${ms.toFixed(digits)} ms`;

interface DumpEntry {
  data: { iname: string; state: number; last_transition: number };
}

/**
 * keepalived's own time (epoch ms) of an instance's last transition on a lab node, from a dump
 * signalled now; `wantState` (keepalived's numeric state) waits for a dump showing that state.
 */
export async function keepalivedTransitionTime(node: LabNode, iname: string, wantState?: number): Promise<number> {
  const paths = nodePaths(node.dir);
  const pid = Number((await readFile(paths.keepalivedPid, 'utf8')).trim());
  const dump = join(paths.keepalivedTmp, 'keepalived.json');
  const version = () => stat(dump, { bigint: true }).then((s) => s.mtimeNs, () => undefined);
  const before = await version();
  process.kill(pid, Number((await run('keepalived', ['--signum=JSON'])).stdout.trim()));
  const deadline = Date.now() + DUMP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(5);
    const now = await version();
    if (now === undefined || now === before) continue;
    let entry: DumpEntry['data'] | undefined;
    try {
      entry = (JSON.parse(await readFile(dump, 'utf8')) as DumpEntry[]).find((e) => e.data.iname === iname)?.data;
    } catch {
      continue; // partially written; poll again
    }
    if (entry && (wantState === undefined || entry.state === wantState)) return entry.last_transition * 1000;
  }
  throw new Error(`keepalived on ${node.name} wrote no dump showing ${iname}${wantState === undefined ? '' : ` in state ${wantState}`} within ${DUMP_TIMEOUT_MS} ms`);
}
