/**
 * Split-brain detection and fencing latency on the lab (root, namespaces), over N real splits:
 *
 *   npm run build && node dist/bench/split.js [--splits N] [--json FILE]
 *
 * 1. detection: from the second director becoming MASTER of VI_1 (keepalived's own
 *    last_transition on lb2, read from a dump) to both daemons reporting kawatch_split_brain 1;
 * 2. fencing, policy demote: from the same onset to a single MASTER per VRID again (lb2's VI_1 in
 *    FAULT by its track file, as lb2 saw it). The goal is the hold-down plus one second.
 *
 * Between splits the lab heals and the demoted instances are restored, with a short restore wait
 * and no cooldown or hourly cap, so that N splits take minutes rather than hours. The probes
 * sleep between looks (POLL), so that the benchmark does not take the CPU from the daemons it times;
 * the interval bounds the resolution of the figures.
 */
import { type LabNode } from '../src/lab/state.js';
import { labDown, labUp } from '../src/lab/lifecycle.js';
import { labHeal, labSplit } from '../src/lab/split.js';
import { reconfigureDaemon } from '../src/lab/directors.js';
import { BenchReport, checkOptions, countOption, keepalivedTransitionTime, percentile, type Poll, pollUntil, REPORT_OPTIONS, SPLIT_HOLD_DOWN_MS } from './support.js';

const PREFIX = 'kwbsplit';
const SPLITS = countOption('--splits', 20);
const POLL: Poll = { timeoutMs: 30_000, intervalMs: 10 };
const MASTER = 2;

const until = <T>(what: string, probe: () => Promise<T | undefined>) => pollUntil(what, probe, POLL);

const metricIs = async (node: LabNode, pattern: RegExp) => pattern.test(await (await fetch(`${node.api}/metrics`)).text());
const instanceState = async (node: LabNode, iname: string) =>
  ((await (await fetch(`${node.api}/api/v1/state`)).json()) as { instances: Record<string, { state: string }> }).instances[iname]?.state;

/** Fast cycles for the benchmark: short hold-down and restore, no cooldown or cap. */
async function benchConfig(node: LabNode): Promise<void> {
  await reconfigureDaemon(node, (config) => {
    for (const [key, value] of [['hold_down', `${SPLIT_HOLD_DOWN_MS}ms`], ['cooldown', '0s'], ['max_actions_per_hour', 1000], ['restore_after', '1s']] as const) {
      config.setIn(['watchdog', key], value);
    }
  });
}

async function main(): Promise<void> {
  const report = new BenchReport('split', { splits: SPLITS, holdDownMs: SPLIT_HOLD_DOWN_MS, pollIntervalMs: POLL.intervalMs });
  await labDown({ prefix: PREFIX });
  const lab = await labUp({ prefix: PREFIX, policy: 'demote' });
  try {
    const [lb1, lb2] = lab.nodes as [LabNode, LabNode];
    await Promise.all([benchConfig(lb1), benchConfig(lb2)]);
    const detection: number[] = [];
    const fencing: number[] = [];
    for (let i = 0; i < SPLITS; i++) {
      await until('VI_1 on lb1 only', async () => ((await instanceState(lb1, 'VI_1')) === 'MASTER' && (await instanceState(lb2, 'VI_1')) === 'BACKUP' ? true : undefined));
      await labSplit({ prefix: PREFIX });
      const splitSeen = /^kawatch_split_brain\{iname="VI_1"[^}]*\} 1$/m;
      // Concurrently: watch for both daemons' verdict, and read keepalived's own time of lb2's
      // MASTER transition before the demotion replaces it with FAULT's.
      const [masterAt, detected, fenced] = await Promise.all([
        until('lb2 MASTER of VI_1', async () => ((await instanceState(lb2, 'VI_1')) === 'MASTER' ? true : undefined)).then(() => keepalivedTransitionTime(lb2, 'VI_1', MASTER)),
        until('both daemons report the split', async () => ((await metricIs(lb1, splitSeen)) && (await metricIs(lb2, splitSeen)) ? Date.now() : undefined)),
        until('lb2 demotes VI_1', async () => ((await instanceState(lb2, 'VI_1')) === 'FAULT' ? Date.now() : undefined)),
      ]);
      detection.push(detected - masterAt);
      fencing.push(fenced - masterAt);
      console.log(`split ${i + 1}/${SPLITS}: detected ${(detected - masterAt).toFixed(0)} ms, single MASTER ${(fenced - masterAt).toFixed(0)} ms`);
      await labHeal({ prefix: PREFIX });
    }
    report.note(`split-brain detection and fencing over ${SPLITS} real splits (lab split/heal, VI_1), probes every ${POLL.intervalMs} ms`);
    report.figure({ name: 'second MASTER → both report split brain, p50', value: percentile(detection, 50), unit: 'ms', digits: 0 });
    report.figure({ name: 'second MASTER → both report split brain, p95', value: percentile(detection, 95), unit: 'ms', digits: 0, goal: 'splitDetection' });
    report.figure({ name: 'second MASTER → both report split brain, max', value: Math.max(...detection), unit: 'ms', digits: 0 });
    report.figure({ name: `onset → one MASTER per VRID (demote), p50`, value: percentile(fencing, 50), unit: 'ms', digits: 0 });
    report.figure({ name: `onset → one MASTER per VRID (demote), p95`, value: percentile(fencing, 95), unit: 'ms', digits: 0, goal: 'splitFencing' });
    report.figure({ name: `onset → one MASTER per VRID (demote), max`, value: Math.max(...fencing), unit: 'ms', digits: 0 });
    report.write({ detectionMs: detection, fencingMs: fencing });
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

checkOptions(...REPORT_OPTIONS);
await main();
