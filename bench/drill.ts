/**
 * Failover time of real drills on the lab (root, namespaces), next to keepalived's own bound:
 *
 *   npm run build && node dist/bench/drill.js [--drills N] [--mode track|stop] [--prefix LAB] [--json FILE]
 *
 * Each drill is `POST /api/v1/drill` on lb1 for VI_1, as `kawatch drill VI_1` sends it; the figure
 * is the report's failoverMs: from the MASTER stepping down (track file) or being stopped (mode
 * stop) to the new MASTER holding the VIP, seen by every director. The baseline is keepalived's
 * theoretical bound for the same move (RFC 5798 timers): one advert interval for a MASTER that
 * steps down, 3 × advert_int + skew for one that dies. The ratio says how close the drill's
 * observed failover comes to what VRRP itself allows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_TOKEN_FILE } from '../src/core/api-token.js';
import type { DrillsStatus } from '../src/drill/drills.js';
import type { DrillReport } from '../src/drill/journal.js';
import { labDown, labUp } from '../src/lab/lifecycle.js';
import { nodePaths } from '../src/lab/plan.js';
import type { LabNode } from '../src/lab/state.js';
import { BenchReport, checkOptions, countOption, option, percentile, type Poll, pollUntil, REPORT_OPTIONS } from './support.js';

const PREFIX = option('--prefix', 'kwdbench');
const DRILLS = countOption('--drills', 20);
const MODE = option('--mode', 'track');
const INSTANCE = 'VI_1';
const POLL: Poll = { timeoutMs: 120_000, intervalMs: 50 };

const until = <T>(what: string, probe: () => Promise<T | undefined>) => pollUntil(what, probe, POLL);

interface NodeState {
  verdicts: unknown[];
  drill?: unknown;
  instances: Record<string, { state: string; vrid?: number }>;
}
const stateOf = async (node: LabNode) => (await (await fetch(`${node.api}/api/v1/state`)).json()) as NodeState;

async function drill(lb1: LabNode, nodes: LabNode[]): Promise<DrillReport> {
  // A healthy group with lb1 MASTER and a dump of every director: what a drill starts from.
  await until('a healthy group, lb1 MASTER of VI_1', async () => {
    const states = await Promise.all(nodes.map(stateOf));
    const ok = states.every((s) => s.verdicts.length === 0 && s.drill === undefined && s.instances[INSTANCE]?.vrid !== undefined) && states[0]!.instances[INSTANCE]?.state === 'MASTER';
    return ok ? true : undefined;
  });
  const token = readFileSync(join(nodePaths(lb1.dir).stateDir, API_TOKEN_FILE), 'utf8').trim();
  const res = await fetch(`${lb1.api}/api/v1/drill`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ instances: [INSTANCE], mode: MODE }) });
  const answer = (await res.json()) as { status: string; id?: string; reasons?: string[] };
  if (answer.status !== 'started') throw new Error(`drill not started: ${JSON.stringify(answer)}`);
  return until(`the report of drill ${answer.id}`, async () => ((await (await fetch(`${lb1.api}/api/v1/drill`)).json()) as DrillsStatus).reports.find((r) => r.id === answer.id));
}

async function main(): Promise<void> {
  if (MODE !== 'track' && MODE !== 'stop') throw new Error(`--mode: expected track or stop, got "${MODE}"`);
  const report = new BenchReport('drill', { drills: DRILLS, mode: MODE, pollIntervalMs: POLL.intervalMs });
  await labDown({ prefix: PREFIX });
  const lab = await labUp({ prefix: PREFIX });
  try {
    const lb1 = lab.nodes[0]!;
    const failover: number[] = [];
    const failback: number[] = [];
    const bounds: number[] = [];
    for (let i = 0; i < DRILLS; i++) {
      const r = await drill(lb1, lab.nodes);
      if (r.outcome !== 'success' || r.failoverMs === undefined) throw new Error(`drill ${i + 1} did not succeed: ${JSON.stringify(r)}`);
      failover.push(r.failoverMs);
      if (r.failbackMs !== undefined) failback.push(r.failbackMs);
      bounds.push(r.boundMs);
      console.log(`drill ${i + 1}/${DRILLS}: ${r.from} → ${r.to} in ${r.failoverMs} ms (bound ${r.boundMs} ms), back in ${r.failbackMs} ms`);
    }
    const bound = Math.max(...bounds);
    const baseline = { name: MODE === 'track' ? 'advert_int' : '3×advert_int+skew', value: bound };
    report.note(`${DRILLS} drills of ${INSTANCE} (mode ${MODE}) on the lab; keepalived's bound for this move: ${bound} ms`);
    report.figure({ name: `MASTER ${MODE === 'track' ? 'steps down' : 'stopped'} → new MASTER holds the VIP, p50`, value: percentile(failover, 50), unit: 'ms', digits: 0, baseline });
    report.figure({ name: `MASTER ${MODE === 'track' ? 'steps down' : 'stopped'} → new MASTER holds the VIP, p95`, value: percentile(failover, 95), unit: 'ms', digits: 0, baseline, goal: 'drillFailover' });
    report.figure({ name: 'max', value: Math.max(...failover), unit: 'ms', digits: 0, baseline });
    // The way back waits for the preferred director's master-down timer (and, mode stop, for keepalived to start).
    report.figure({ name: 'the way back, p50', value: percentile(failback, 50), unit: 'ms', digits: 0 });
    report.write({ failoverMs: failover, failbackMs: failback, boundMs: bound });
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

checkOptions(...REPORT_OPTIONS);
await main();
