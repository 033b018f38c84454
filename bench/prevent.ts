/**
 * watchdog.policy prevent against alert and demote, on the lab (root, namespaces), over N real
 * splits each (lab split/heal of lb2 on the primary segment):
 *
 *   npm run build && node dist/bench/prevent.js [--splits N] [--json FILE]
 *
 * 1. the dual-MASTER window per split: how long an instance's VIP was on two directors, by the
 *    ground truth (`ip addr` in each namespace) polled every POLL ms from the split to its heal;
 * 2. failover after keepalived of the MASTER is killed (SIGKILL: no priority-0 advert), from the
 *    kill to the VIP on the successor, under alert and under prevent.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { reconfigureDaemon, startKeepalived, stopKeepalived } from '../src/lab/directors.js';
import { labDown, labUp } from '../src/lab/lifecycle.js';
import { PRIMARY_IFNAME } from '../src/lab/plan.js';
import { labHeal, labSplit } from '../src/lab/split.js';
import type { LabInfo, LabNode } from '../src/lab/state.js';
import { BenchReport, checkOptions, countOption, percentile, type Poll, pollUntil, REPORT_OPTIONS } from './support.js';

const execFileP = promisify(execFile);
const PREFIX = 'kwprevb';
const SPLITS = countOption('--splits', 20);
const POLL_MS = 20;
const WAIT: Poll = { timeoutMs: 30_000, intervalMs: 50 };
/** Past keepalived's master-down time (under 4 s at advert_int 1) and a demote hold-down, with room. */
const SPLIT_MS = 6000;
const KILLS = 5;

async function vipNodes(lab: LabInfo, iname: string): Promise<string[]> {
  const vip = lab.vips[iname]!;
  const out = await Promise.all(lab.nodes.map(async (n) => ((await execFileP('ip', ['-n', n.netns, '-o', '-4', 'addr', 'show', 'dev', PRIMARY_IFNAME])).stdout.includes(` ${vip}/`) ? [n.name] : [])));
  return out.flat();
}

const onOwners = async (lab: LabInfo) => ((await vipNodes(lab, 'VI_1')).join() === 'lb1' && (await vipNodes(lab, 'VI_2')).join() === 'lb2' ? true : undefined);

/** One split of lb2 for SPLIT_MS: the longest time either VIP was on two directors, in ms (0: never seen). */
async function dualWindow(lab: LabInfo): Promise<number> {
  await pollUntil('each VIP on its owner only', () => onOwners(lab), WAIT);
  await labSplit({ prefix: PREFIX, node: 'lb2' });
  const start = Date.now();
  const since = new Map<string, number>();
  let longest = 0;
  while (Date.now() - start < SPLIT_MS) {
    const t = Date.now();
    for (const iname of ['VI_1', 'VI_2']) {
      if ((await vipNodes(lab, iname)).length > 1) since.set(iname, since.get(iname) ?? t);
      else since.delete(iname);
      longest = Math.max(longest, ...[...since.values()].map((s) => t - s + POLL_MS));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, POLL_MS - (Date.now() - t))));
  }
  await labHeal({ prefix: PREFIX });
  return longest;
}

async function failovers(lab: LabInfo, lb1: LabNode): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < KILLS; i++) {
    await pollUntil('each VIP on its owner only', () => onOwners(lab), WAIT);
    const killedAt = Date.now();
    await stopKeepalived(lb1, { signal: 'SIGKILL' });
    // A killed keepalived leaves its VIP behind: the successor carrying it is the failover.
    out.push(await pollUntil('VI_1 on lb2', async () => ((await vipNodes(lab, 'VI_1')).includes('lb2') ? Date.now() - killedAt : undefined), { timeoutMs: 15_000, intervalMs: POLL_MS }));
    await startKeepalived(lb1);
  }
  return out;
}

async function underPolicy(lab: LabInfo, policy: string): Promise<number[]> {
  await Promise.all(lab.nodes.map((n) => reconfigureDaemon(n, (c) => c.setIn(['watchdog', 'policy'], policy))));
  const windows: number[] = [];
  for (let i = 0; i < SPLITS; i++) {
    windows.push(await dualWindow(lab));
    console.log(`${policy} split ${i + 1}/${SPLITS}: dual MASTER for ${windows.at(-1)} ms`);
  }
  return windows;
}

async function main(): Promise<void> {
  const report = new BenchReport('prevent', { splits: SPLITS, pollIntervalMs: POLL_MS, kills: KILLS });
  await labDown({ prefix: PREFIX });
  const lab = await labUp({ prefix: PREFIX, policy: 'alert' });
  try {
    const [lb1] = lab.nodes as [LabNode, LabNode];
    const windows: Record<string, number[]> = {};
    for (const policy of ['alert', 'demote', 'prevent']) windows[policy] = await underPolicy(lab, policy);
    const killPrevent = await failovers(lab, lb1);
    await Promise.all(lab.nodes.map((n) => reconfigureDaemon(n, (c) => c.setIn(['watchdog', 'policy'], 'alert'))));
    const killAlert = await failovers(lab, lb1);
    report.note(`dual-MASTER window per split (VIP on two directors, ground truth every ${POLL_MS} ms) over ${SPLITS} splits per policy; failover after a SIGKILL of the MASTER's keepalived over ${KILLS} kills`);
    for (const policy of ['alert', 'demote', 'prevent']) {
      const w = windows[policy]!;
      report.figure({ name: `${policy}: dual-MASTER window, p50`, value: percentile(w, 50), unit: 'ms', digits: 0 });
      report.figure({ name: `${policy}: dual-MASTER window, max`, value: Math.max(...w), unit: 'ms', digits: 0 });
      report.figure({ name: `${policy}: splits with a dual MASTER`, value: w.filter((x) => x > 0).length, unit: `of ${SPLITS}`, digits: 0 });
    }
    report.figure({ name: 'failover after a MASTER kill, alert, p50', value: percentile(killAlert, 50), unit: 'ms', digits: 0 });
    report.figure({ name: 'failover after a MASTER kill, prevent, p50', value: percentile(killPrevent, 50), unit: 'ms', digits: 0, baseline: { name: 'alert', value: percentile(killAlert, 50) } });
    report.figure({ name: 'failover after a MASTER kill, prevent, max', value: Math.max(...killPrevent), unit: 'ms', digits: 0, baseline: { name: 'alert', value: Math.max(...killAlert) } });
    report.write({ windows, killPreventMs: killPrevent, killAlertMs: killAlert });
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

checkOptions(...REPORT_OPTIONS);
await main();
