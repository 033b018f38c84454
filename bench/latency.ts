/**
 * Latency from a real keepalived transition to the metric changing, through the hook path and
 * through the FIFO path, plus the daemon's idle footprint. Runs the lab (root, namespaces).
 *
 *   npm run build && node dist/bench/latency.js [--transitions N] [--idle-seconds S] [--prefix LAB] [--json FILE]
 *
 * Each transition is a real VRRP one: `lab split` makes lb2 MASTER of VI_1, `lab heal` makes it
 * BACKUP again. The start of a transition is keepalived's own `last_transition` (microseconds,
 * read from a dump taken afterwards); its end, judged by the goal, is when the daemon applied it:
 * /metrics renders the daemon's state at each scrape, so from that moment every scrape shows it.
 * The first scrape of lb2's /metrics that shows the new state is printed beside it, as the check
 * that the metric did change: /metrics is polled with a 2 ms pause between scrapes, so that
 * figure adds the polling's resolution (the scrape time printed) and the load of the polling
 * itself. Only one source is on per run, and the dump source does not follow transitions, so
 * each figure is that path's alone.
 *
 * Each transition is also cut into stages, so the p95 says where the milliseconds go. The daemon
 * logs every change it applies (`instance VI_1: BACKUP -> MASTER`, with pino's `time`): that is
 * the moment the state changed. The hook path has two earlier marks: the spool file's name is the
 * wall clock in ns when `kawatch notify` began (keepalived's fork and exec before it), and a watch
 * on the spool directory here sees the file renamed into place. Stages, per path:
 *   hook: transition → notify began → spool file in place → applied → metric seen
 *   fifo: transition → line read → applied → metric seen
 * The FIFO's "line read" is the `at` of the applied change: a FIFO line carries no time, so the
 * source stamps it when the line arrives; "line read → applied" is then the daemon's own parse and
 * reduce, and what waited before them on its event loop.
 * All marks are this host's wall clock (the lab's namespaces share it).
 */
import { execFile } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type LabNode } from '../src/lab/state.js';
import { labDown, labUp } from '../src/lab/lifecycle.js';
import { labHeal, labSplit } from '../src/lab/split.js';
import { reconfigureDaemon } from '../src/lab/directors.js';
import { nodePaths } from '../src/lab/plan.js';
import { BenchReport, checkOptions, countOption, type Figure, type GoalName, keepalivedTransitionTime, loggedAt, logSince, option, percentile, pollUntil, REPORT_OPTIONS } from './support.js';

const run = promisify(execFile);
const PREFIX = option('--prefix', 'kwbench');
const TRANSITIONS = countOption('--transitions', 20);
const IDLE_SECONDS = countOption('--idle-seconds', 20);
const NOTIFY_CALLS = 20;
const METRICS_POLL = { timeoutMs: 20_000, intervalMs: 2 };
const GOAL_OF_PATH: Record<'hook' | 'fifo', GoalName> = { hook: 'hookLatency', fifo: 'fifoLatency' };

/** Scrapes lb2's /metrics until VI_1 shows `want`; returns when it first did, and keeps the scrape times. */
function firstSeen(node: LabNode, want: number, scrapes: number[]): Promise<number> {
  const pattern = /^keepalived_vrrp_instance_state\{iname="VI_1"[^}]*\} (\d+)$/m;
  return pollUntil(
    `lb2 to show VI_1 = ${want}`,
    async () => {
      const started = performance.now();
      const text = await (await fetch(`${node.api}/metrics`)).text();
      scrapes.push(performance.now() - started);
      return Number(pattern.exec(text)?.[1]) === want ? Date.now() : undefined;
    },
    METRICS_POLL,
  );
}

/** p50, p95 (judged by the goal, if any) and max of a set of times. */
function spread(report: BenchReport, name: string, times: number[], goal?: GoalName): void {
  const row = (what: string, value: number, withGoal?: GoalName): Figure => ({ name: `${name} ${what}`, value, unit: 'ms', ...(withGoal ? { goal: withGoal } : {}) });
  report.figure(row('p50', percentile(times, 50)));
  report.figure(row('p95', percentile(times, 95), goal));
  report.figure(row('max', Math.max(...times)));
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

/** The stages of one path, in order; each is the time from the mark before it. */
const STAGES = {
  hook: ['transition → notify began', 'notify began → spool file in place', 'spool file in place → applied', 'applied → metric seen'],
  fifo: ['transition → line read', 'line read → applied', 'applied → metric seen'],
} as const;

/**
 * When the daemon applied VI_1's change to `to` from `source`, from its log (pino's `time`: epoch ms
 * or ISO text), and the change's own `at` (for a FIFO line, when it was read).
 */
function appliedAt(entries: Record<string, unknown>[], to: string, source: string): { applied?: number; at?: number } {
  const entry = entries.find((e) => e.type === 'transition' && e.scope === 'instance' && e.name === 'VI_1' && e.to === to && e.source === source);
  return { applied: loggedAt(entry), at: typeof entry?.at === 'number' && Number.isFinite(entry.at) ? entry.at : undefined };
}

/** Spool files as they are renamed into place: the name's ns (when notify began) and when this watch saw it. */
function watchSpool(dir: string): { files: { beganMs: number; inPlaceMs: number }[]; watcher: FSWatcher } {
  const files: { beganMs: number; inPlaceMs: number }[] = [];
  const watcher = watch(dir, (_event, name) => {
    const m = name && /^(\d{20})-\d+\.event$/.exec(name);
    if (m && !files.some((f) => f.beganMs === Number(BigInt(m[1]!) / 1000n) / 1000)) files.push({ beganMs: Number(BigInt(m[1]!) / 1000n) / 1000, inPlaceMs: Date.now() });
  });
  return { files, watcher };
}

interface PathRun {
  /** Transition → applied (the metric changed), for each transition whose log line was found. */
  changed: number[];
  /** Transition → the first scrape showing it. */
  latencies: number[];
  scrapes: number[];
  /** Per stage (STAGES[source]), its times; a transition whose marks were not all found is left out here. */
  stages: number[][];
  /** Transitions whose stage marks were not all found. */
  unmarked: number;
}

async function measurePath(lb2: LabNode, source: 'hook' | 'fifo'): Promise<PathRun> {
  await onlySource(lb2, source);
  const paths = nodePaths(lb2.dir);
  const spool = source === 'hook' ? watchSpool(paths.spool) : undefined;
  const run: PathRun = { changed: [], latencies: [], scrapes: [], stages: STAGES[source].map(() => []), unmarked: 0 };
  let logOffset = (await logSince(paths.daemonLog, 0)).end;
  try {
    for (let i = 0; run.latencies.length < TRANSITIONS; i++) {
      const split = i % 2 === 0;
      if (split) await labSplit({ prefix: PREFIX });
      else await labHeal({ prefix: PREFIX });
      const seen = await firstSeen(lb2, split ? 2 : 1, run.scrapes);
      const transition = await keepalivedTransitionTime(lb2, 'VI_1');
      run.latencies.push(seen - transition);
      const log = await logSince(paths.daemonLog, logOffset);
      logOffset = log.end;
      const { applied, at } = appliedAt(log.entries, split ? 'MASTER' : 'BACKUP', source);
      if (applied !== undefined) run.changed.push(applied - transition);
      // The hook keepalived ran for this transition: the first spool file begun after it (less 1 ms of rounding).
      const file = spool?.files.find((f) => f.beganMs >= transition - 1);
      if (spool) spool.files.splice(0, spool.files.indexOf(file!) + 1);
      const marks = source === 'hook' ? [transition, file?.beganMs, file?.inPlaceMs, applied, seen] : [transition, at, applied, seen];
      if (marks.some((m) => m === undefined)) {
        run.unmarked++;
        continue;
      }
      marks.slice(1).forEach((mark, s) => run.stages[s]!.push(mark! - marks[s]!));
    }
  } finally {
    spool?.watcher.close();
  }
  await labHeal({ prefix: PREFIX });
  await firstSeen(lb2, 1, []);
  return run;
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
  for (let i = 0; i < NOTIFY_CALLS; i++) {
    const started = performance.now();
    await run('ip', ['netns', 'exec', node.netns, launcher, 'notify', '--spool', nodePaths(node.dir).spool, 'INSTANCE', 'VI_BENCH', 'BACKUP', '1']);
    times.push(performance.now() - started);
  }
  return times;
}

async function main(): Promise<void> {
  const report = new BenchReport('latency', { transitions: TRANSITIONS, idleSeconds: IDLE_SECONDS, notifyCalls: NOTIFY_CALLS, metricsPollIntervalMs: METRICS_POLL.intervalMs });
  await labDown({ prefix: PREFIX });
  const lab = await labUp({ prefix: PREFIX });
  try {
    const lb2 = lab.nodes.find((n) => n.name === 'lb2')!;
    report.note(`kawatch transition-to-metric latency, ${TRANSITIONS} real VRRP transitions per path (lab split/heal on lb2, VI_1)`);
    const raw: Record<string, number[]> = {};
    for (const source of ['hook', 'fifo'] as const) {
      const { changed, latencies, scrapes, stages, unmarked } = await measurePath(lb2, source);
      spread(report, `transition → metric changed (applied), ${source} path,`, changed, GOAL_OF_PATH[source]);
      spread(report, `  transition → first scrape showing it, ${source} path,`, latencies);
      report.figure({ name: `  /metrics scrape p50 (resolution), ${source} run`, value: percentile(scrapes, 50), unit: 'ms' });
      STAGES[source].forEach((stage, s) => {
        const times = stages[s]!;
        if (times.length === 0) return;
        report.figure({ name: `  ${source}: ${stage} p50`, value: percentile(times, 50), unit: 'ms' });
        report.figure({ name: `  ${source}: ${stage} p95`, value: percentile(times, 95), unit: 'ms' });
      });
      if (unmarked > 0) report.note(`  ${source}: ${unmarked} of ${latencies.length} transitions had a stage mark missing (log line or spool file), left out of the stages`);
      raw[`${source}ChangedMs`] = changed;
      raw[`${source}LatencyMs`] = latencies;
      STAGES[source].forEach((stage, s) => (raw[`${source}: ${stage}`] = stages[s]!));
    }
    const costs = await hookCost(lb2);
    report.figure({ name: 'one `kawatch notify` call (start to exit), p50', value: percentile(costs, 50), unit: 'ms' });
    report.figure({ name: 'one `kawatch notify` call (start to exit), p95', value: percentile(costs, 95), unit: 'ms' });
    // Back to the lab's configuration: every source on, as the footprint goal says.
    const pid = await reconfigureDaemon(lb2, (config) => {
      config.setIn(['sources', 'hook', 'enabled'], true);
      config.setIn(['sources', 'fifo', 'enabled'], true);
      config.setIn(['sources', 'dump', 'on_transition'], true);
      config.setIn(['sources', 'dump', 'interval'], '15s');
    });
    const idle = await idleFootprint(pid);
    report.figure({ name: `daemon idle, every source on: RSS`, value: idle.rssMb, unit: 'MB', goal: 'idleRss' });
    report.figure({ name: `daemon idle, every source on: CPU over ${IDLE_SECONDS} s`, value: idle.cpuPercent, unit: '%', digits: 2, goal: 'idleCpu' });
    report.write(raw);
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

checkOptions(...REPORT_OPTIONS);
await main();
