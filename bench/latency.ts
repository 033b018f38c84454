/**
 * Latency from a real keepalived transition to the metric changing, through the hook path and
 * through the FIFO path, plus the daemon's idle footprint. Runs the lab (root, namespaces).
 *
 *   npm run build && node dist/bench/latency.js [--transitions N] [--idle-seconds S]
 *
 * Each transition is a real VRRP one: `lab split` makes lb2 MASTER of VI_1, `lab heal` makes it
 * BACKUP again. The start of a transition is keepalived's own `last_transition` (microseconds,
 * read from a dump taken afterwards); its end is the first scrape of lb2's /metrics that shows
 * the new state. Only one source is on per run, and the dump source does not follow transitions,
 * so each figure is that path's alone.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { labDown, labHeal, labSplit, labUp, reconfigureDaemon, type LabNode } from '../src/lab/lab.js';
import { nodePaths } from '../src/lab/plan.js';
import { formatMs, keepalivedTransitionTime, percentile } from './support.js';

const run = promisify(execFile);
const PREFIX = 'kwbench';
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const TRANSITIONS = option('--transitions', 20);
const IDLE_SECONDS = option('--idle-seconds', 20);
const STEP_TIMEOUT_MS = 20_000;

const fmt = (ms: number) => formatMs(ms);

/** Polls lb2's /metrics as fast as it answers until VI_1 shows `want`; returns when it first did, and the scrape times. */
async function firstSeen(node: LabNode, want: number, scrapes: number[]): Promise<number> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  const pattern = /^keepalived_vrrp_instance_state\{iname="VI_1"[^}]*\} (\d+)$/m;
  while (Date.now() < deadline) {
    const started = performance.now();
    const text = await (await fetch(`${node.api}/metrics`)).text();
    scrapes.push(performance.now() - started);
    if (Number(pattern.exec(text)?.[1]) === want) return Date.now();
  }
  throw new Error(`lb2 did not show VI_1 = ${want} within ${STEP_TIMEOUT_MS} ms`);
}

/** Restarts the node's daemon with only one event source on, and no dump on transitions. */
function onlySource(node: LabNode, source: 'hook' | 'fifo'): Promise<number> {
  return reconfigureDaemon(node, (config) => {
    config.setIn(['sources', 'hook', 'enabled'], source === 'hook');
    config.setIn(['sources', 'fifo', 'enabled'], source === 'fifo');
    config.setIn(['sources', 'dump', 'on_transition'], false);
    config.setIn(['sources', 'dump', 'interval'], '1h');
  });
}

async function measurePath(lb2: LabNode, source: 'hook' | 'fifo'): Promise<{ latencies: number[]; scrapes: number[] }> {
  await onlySource(lb2, source);
  const latencies: number[] = [];
  const scrapes: number[] = [];
  for (let i = 0; latencies.length < TRANSITIONS; i++) {
    const split = i % 2 === 0;
    if (split) await labSplit({ prefix: PREFIX });
    else await labHeal({ prefix: PREFIX });
    const seen = await firstSeen(lb2, split ? 2 : 1, scrapes);
    latencies.push(seen - (await keepalivedTransitionTime(lb2, 'VI_1')));
  }
  await labHeal({ prefix: PREFIX });
  await firstSeen(lb2, 1, []);
  return { latencies, scrapes };
}

async function idleFootprint(pid: number): Promise<{ rssMb: number; cpuPercent: number }> {
  const ticks = async () => {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
  };
  const hz = Number((await run('getconf', ['CLK_TCK'])).stdout.trim());
  const t0 = await ticks();
  const started = Date.now();
  await sleep(IDLE_SECONDS * 1000);
  const cpuSeconds = ((await ticks()) - t0) / hz;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]);
  return { rssMb: rssKb / 1024, cpuPercent: (100 * cpuSeconds) / ((Date.now() - started) / 1000) };
}

async function hookCost(node: LabNode): Promise<number[]> {
  const launcher = new URL('../../bin/kawatch', import.meta.url).pathname;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await run('ip', ['netns', 'exec', node.netns, launcher, 'notify', '--spool', nodePaths(node.dir).spool, 'INSTANCE', 'VI_BENCH', 'BACKUP', '1']);
    times.push(performance.now() - started);
  }
  return times;
}

async function main(): Promise<void> {
  await labDown({ prefix: PREFIX });
  const lab = await labUp({ prefix: PREFIX });
  try {
    const lb2 = lab.nodes.find((n) => n.name === 'lb2')!;
    console.log(`kawatch transition-to-metric latency, ${TRANSITIONS} real VRRP transitions per path (lab split/heal on lb2, VI_1)`);
    const report: string[] = [];
    for (const source of ['hook', 'fifo'] as const) {
      const { latencies, scrapes } = await measurePath(lb2, source);
      report.push(
        `${source.padEnd(5)} p50 ${fmt(percentile(latencies, 50))}  p95 ${fmt(percentile(latencies, 95))}  max ${fmt(Math.max(...latencies))}` +
          `   (scrape p50 ${fmt(percentile(scrapes, 50))}: the resolution of the measurement)`,
      );
      console.log(report.at(-1));
    }
    const costs = await hookCost(lb2);
    console.log(`hook  one \`kawatch notify\` call: p50 ${fmt(percentile(costs, 50))}  p95 ${fmt(percentile(costs, 95))} (process start to exit)`);
    // Back to the lab's configuration: every source on, as the figure says.
    const pid = await reconfigureDaemon(lb2, (config) => {
      config.setIn(['sources', 'hook', 'enabled'], true);
      config.setIn(['sources', 'fifo', 'enabled'], true);
      config.setIn(['sources', 'dump', 'on_transition'], true);
      config.setIn(['sources', 'dump', 'interval'], '15s');
    });
    const idle = await idleFootprint(pid);
    console.log(`idle  daemon with every source on: RSS ${idle.rssMb.toFixed(1)} MB, CPU ${idle.cpuPercent.toFixed(2)} % over ${IDLE_SECONDS} s`);
    console.log('goals: p95 < 50 ms on both paths; idle RSS < 80 MB');
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

await main();
