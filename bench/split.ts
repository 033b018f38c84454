/**
 * Split-brain detection and fencing latency on the lab (root, namespaces), over N real splits:
 *
 *   npm run build && node dist/bench/split.js [--splits N]
 *
 * 1. detection: from the second director becoming MASTER of VI_1 (keepalived's own
 *    last_transition on lb2, read from a dump) to both daemons reporting kawatch_split_brain 1;
 * 2. fencing, policy demote: from the same onset to a single MASTER per VRID again (lb2's VI_1 in
 *    FAULT by its track file, as lb2 saw it). The goal is the hold-down plus one second.
 *
 * Between splits the lab heals and the demoted instances are restored, with a short restore wait
 * and no cooldown or hourly cap, so that N splits take minutes rather than hours.
 */
import { labDown, labHeal, labSplit, labUp, reconfigureDaemon, type LabNode } from '../src/lab/lab.js';
import { formatMs, keepalivedTransitionTime, percentile } from './support.js';

const PREFIX = 'kwbsplit';
const at = process.argv.indexOf('--splits');
const SPLITS = at >= 0 ? Number(process.argv[at + 1]) : 20;
const HOLD_DOWN_MS = 1000;
const STEP_TIMEOUT_MS = 30_000;

const fmt = (ms: number) => formatMs(ms, 0);
const MASTER = 2;

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

const metricIs = async (node: LabNode, pattern: RegExp) => pattern.test(await (await fetch(`${node.api}/metrics`)).text());
const instanceState = async (node: LabNode, iname: string) =>
  ((await (await fetch(`${node.api}/api/v1/state`)).json()) as { instances: Record<string, { state: string }> }).instances[iname]?.state;

/** Fast cycles for the benchmark: short hold-down and restore, no cooldown or cap. */
async function benchConfig(node: LabNode): Promise<void> {
  await reconfigureDaemon(node, (config) => {
    for (const [key, value] of [['hold_down', `${HOLD_DOWN_MS}ms`], ['cooldown', '0s'], ['max_actions_per_hour', 1000], ['restore_after', '1s']] as const) {
      config.setIn(['watchdog', key], value);
    }
  });
}

async function main(): Promise<void> {
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
      process.stdout.write(`split ${i + 1}/${SPLITS}: detected ${fmt(detected - masterAt)}, single MASTER ${fmt(fenced - masterAt)}\n`);
      await labHeal({ prefix: PREFIX });
    }
    console.log(`split-brain detection (second MASTER → both daemons report it), ${SPLITS} splits: p50 ${fmt(percentile(detection, 50))}  p95 ${fmt(percentile(detection, 95))}  max ${fmt(Math.max(...detection))}   goal p95 < 200 ms`);
    console.log(`fencing, policy demote (onset → one MASTER per VRID), hold-down ${HOLD_DOWN_MS} ms: p50 ${fmt(percentile(fencing, 50))}  p95 ${fmt(percentile(fencing, 95))}  max ${fmt(Math.max(...fencing))}   goal ≤ hold-down + 1 s = ${fmt(HOLD_DOWN_MS + 1000)}`);
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

await main();
