import { waitForValue } from '../src/core/wait.js';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { arch, cpus, release } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { LabNode } from '../src/lab/state.js';
import { nodePaths } from '../src/lab/plan.js';

const run = promisify(execFile);
const DUMP_TIMEOUT_MS = 5000;
const CHECKOUT = new URL('../../', import.meta.url).pathname;

/** A bound one figure must meet: on its value, or on its ratio to the baseline it was measured against. */
export interface Goal {
  /** What is bounded, in words. */
  what: string;
  on: 'value' | 'ratio';
  comparison: '<' | '<=';
  limit: number;
  /** The limit's unit as printed: `ms`, `MB`, `%`, or `× node_exporter` for a ratio. */
  unit: string;
  /** Where the goal is stated. */
  source: string;
}

/** The hold-down the split benchmark configures: the fencing goal is stated relative to it. */
export const SPLIT_HOLD_DOWN_MS = 1000;
/** The IPVS goals are stated for this table size; other sizes are printed for information. */
export const IPVS_GOAL_BACKENDS = 100_000;

/** Every benchmark's goals, in one place. */
export const GOALS = {
  ipvsScrapeTime: {
    what: `IPVS scrape p50 at ${IPVS_GOAL_BACKENDS} real servers, against node_exporter's on the same table`,
    on: 'ratio',
    comparison: '<=',
    limit: 0.1,
    unit: '× node_exporter',
    source: 'project goals (IPVS exporter)',
  },
  ipvsPeakRss: {
    what: `IPVS exporter peak RSS at ${IPVS_GOAL_BACKENDS} real servers, against node_exporter's`,
    on: 'ratio',
    comparison: '<=',
    limit: 0.25,
    unit: '× node_exporter',
    source: 'project goals (IPVS exporter)',
  },
  ipvsLinearGrowth: {
    what: 'IPVS scrape time and peak RSS per added real server between the two largest sizes, against the same between the two sizes below',
    on: 'value',
    comparison: '<=',
    limit: 1.5,
    unit: '×',
    source: 'project goals (IPVS exporter: time and memory grow linearly)',
  },
  hookLatency: {
    what: "p95 from keepalived's transition to the metric, hook path",
    on: 'value',
    comparison: '<',
    limit: 30,
    unit: 'ms',
    source: 'project goals (event sources)',
  },
  fifoLatency: {
    what: "p95 from keepalived's transition to the metric, FIFO path",
    on: 'value',
    comparison: '<',
    limit: 10,
    unit: 'ms',
    source: 'project goals (event sources)',
  },
  idleRss: {
    what: 'RSS of the full daemon (every source, peers, watchdog, mail, jobs) at idle',
    on: 'value',
    comparison: '<=',
    limit: 60,
    unit: 'MB',
    source: 'project goals (footprint)',
  },
  idleCpu: {
    what: 'CPU of the full daemon at idle',
    on: 'value',
    comparison: '<=',
    limit: 1,
    unit: '%',
    source: 'project goals (footprint)',
  },
  splitDetection: {
    what: 'p95 from a second MASTER to both daemons reporting the split brain',
    on: 'value',
    comparison: '<',
    limit: 200,
    unit: 'ms',
    source: 'README, Measured here',
  },
  wireSplitDetection: {
    what: 'p95 from a second MASTER to both daemons reporting the split brain, confirmed from the wire views',
    on: 'value',
    comparison: '<',
    limit: 50,
    unit: 'ms',
    source: 'project goals (VRRP on the wire)',
  },
  splitFencing: {
    what: `p95 from split onset to one MASTER per VRID (policy demote): the hold-down (${SPLIT_HOLD_DOWN_MS} ms) plus 1 s`,
    on: 'value',
    comparison: '<=',
    limit: SPLIT_HOLD_DOWN_MS + 1000,
    unit: 'ms',
    source: 'README, Measured here',
  },
  drillFailover: {
    what: "p95 of a drill's failover (the new MASTER holds the VIP, seen by every director) against keepalived's own bound for the move",
    on: 'ratio',
    comparison: '<=',
    limit: 1,
    unit: '× keepalived bound',
    source: 'README, Failover drills: one advert interval for a MASTER that steps down, 3 × advert_int + skew for one that dies',
  },
  lintWallTime: {
    what: '`kawatch lint` wall time p50, as a pre-commit hook runs it',
    on: 'value',
    comparison: '<=',
    limit: 1000,
    unit: 'ms',
    source: 'set by bench/support.ts (the README states none): a pre-commit hook (README, Lint) should finish within a second',
  },
} as const satisfies Record<string, Goal>;

export type GoalName = keyof typeof GOALS;

export type Verdict = 'PASS' | 'FAIL' | 'info';

/** Whether a measured number meets a goal. */
export function meets(goal: Goal, measured: number): boolean {
  return goal.comparison === '<' ? measured < goal.limit : measured <= goal.limit;
}

export interface Baseline {
  name: string;
  value: number;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: Baseline;
  /** The goal this figure is judged by; without one (or with `goalNote`) the row is for information. */
  goal?: GoalName;
  /** Why the goal is printed but not applied here (another table size, for instance). */
  goalNote?: string;
  /** Decimals to print; by default 1 below 100 and none above. */
  digits?: number;
}

export interface FigureResult {
  name: string;
  value: number;
  unit: string;
  baseline?: Baseline;
  ratio?: number;
  goal?: Goal & { name: GoalName; note?: string };
  verdict: Verdict;
}

/** A figure judged by its goal: the ratio is value / baseline. Pure. */
export function judge(figure: Figure): FigureResult {
  const ratio = figure.baseline ? figure.value / figure.baseline.value : undefined;
  const result: FigureResult = { name: figure.name, value: figure.value, unit: figure.unit, verdict: 'info' };
  if (figure.baseline) Object.assign(result, { baseline: figure.baseline, ratio });
  if (!figure.goal) return result;
  const goal = GOALS[figure.goal];
  result.goal = { ...goal, name: figure.goal, ...(figure.goalNote === undefined ? {} : { note: figure.goalNote }) };
  if (figure.goalNote !== undefined) return result;
  const measured = goal.on === 'ratio' ? ratio : figure.value;
  if (measured === undefined) throw new Error(`figure "${figure.name}": goal ${figure.goal} bounds a ratio, but the figure has no baseline`);
  result.verdict = meets(goal, measured) ? 'PASS' : 'FAIL';
  return result;
}

export const formatMs = (ms: number, digits = 1) => `${ms.toFixed(digits)} ms`;

const number = (value: number, digits?: number) => value.toFixed(digits ?? (Math.abs(value) < 100 ? 1 : 0));

/** One printed row: name, value, baseline, ratio, goal, verdict. Pure. */
export function formatRow(result: FigureResult, digits?: number): string {
  const value = `${number(result.value, digits)} ${result.unit}`;
  const baseline = result.baseline ? `${result.baseline.name} ${number(result.baseline.value, digits)} ${result.unit}` : '';
  // Three digits, so that a ratio just over its goal (0.102 against 0.1) does not print as meeting it.
  const ratio = result.ratio === undefined ? '' : `×${result.ratio.toPrecision(3)}`;
  const goal = result.goal ? `goal ${result.goal.on === 'ratio' ? 'ratio ' : ''}${result.goal.comparison} ${result.goal.limit} ${result.goal.unit}${result.goal.note ? ` (${result.goal.note})` : ''}` : 'no goal';
  return `  ${result.name.padEnd(46)} ${value.padStart(11)}  ${baseline.padEnd(26)} ${ratio.padStart(6)}  ${goal.padEnd(52)} ${result.verdict}`;
}

/** The options a benchmark asked for, and whether each takes a value: what `checkOptions` accepts. */
const asked = new Map<string, boolean>();

/** Command-line options of a benchmark: `--name value`. */
export function option(name: string, fallback: string): string {
  asked.set(name, true);
  const args = process.argv.slice(2);
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = args[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value (default: ${fallback})`);
  return value;
}

/** An option whose value may itself begin with `--` (flags for Node); undefined when not given. */
export function rawOption(name: string): string | undefined {
  asked.set(name, true);
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
}

/** A switch without a value: `--name`. */
export function flag(name: string): boolean {
  asked.set(name, false);
  return process.argv.slice(2).includes(name);
}

/** What BenchReport reads when it is made (`--json FILE`): benchmarks that write one accept it. */
export const REPORT_OPTIONS = ['--json'];

/**
 * Called once the options are read: an argument no option asked for is an error that lists the
 * options, before the benchmark starts anything (namespaces, VMs, daemons); `--help` lists them.
 */
export function checkOptions(...alsoTaking: string[]): void {
  for (const name of alsoTaking) asked.set(name, true);
  const list = [...asked].map(([name, takesValue]) => (takesValue ? `${name} VALUE` : name)).join(', ');
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') {
      console.log(`options: ${list || 'none'} (see the comment at the top of bench/${basename(process.argv[1] ?? '', '.js')}.ts)`);
      process.exit(0);
      return;
    }
    const takesValue = asked.get(arg);
    if (takesValue === undefined) throw new Error(`unknown argument ${JSON.stringify(arg)}; options: ${list || 'none'}`);
    if (takesValue) i++;
  }
}

/** A positive integer option; anything else is an error that names the option and what it got. */
export function countOption(name: string, fallback: number): number {
  return parseCount(name, option(name, String(fallback)));
}

/** A comma-separated list of positive integers. */
export function countsOption(name: string, fallback: number[]): number[] {
  return option(name, fallback.join(',')).split(',').map((v) => parseCount(name, v));
}

function parseCount(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name}: expected a positive integer, got "${text}"`);
  return value;
}

/**
 * The figures of one benchmark run: each is printed as it comes, with its goal and verdict, and all
 * of them are written as JSON at the end (`--json FILE`, by default bench-results/NAME.json).
 */
export class BenchReport {
  private readonly figures: FigureResult[] = [];
  private readonly notes: string[] = [];
  private readonly startedAt = new Date();
  readonly jsonPath: string;

  constructor(
    readonly benchmark: string,
    private readonly settings: Record<string, unknown>,
  ) {
    this.jsonPath = resolve(option('--json', join(CHECKOUT, 'bench-results', `${benchmark}.json`)));
  }

  /** A line of context (what was measured, how), printed and kept in the JSON. */
  note(text: string): void {
    this.notes.push(text);
    console.log(text);
  }

  figure(figure: Figure): FigureResult {
    const result = judge(figure);
    this.figures.push(result);
    console.log(formatRow(result, figure.digits));
    return result;
  }

  /** Prints how many goals were met and writes the JSON file; returns its path. */
  write(extra: Record<string, unknown> = {}): string {
    const judged = this.figures.filter((f) => f.verdict !== 'info');
    const failed = judged.filter((f) => f.verdict === 'FAIL');
    console.log(`goals: ${judged.length - failed.length} of ${judged.length} met${failed.length ? `; missed: ${failed.map((f) => f.name).join('; ')}` : ''}`);
    mkdirSync(dirname(this.jsonPath), { recursive: true });
    const json = {
      benchmark: this.benchmark,
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, arch: arch(), kernel: release(), node: process.version },
      settings: this.settings,
      notes: this.notes,
      figures: this.figures,
      goalsMet: judged.length - failed.length,
      goalsJudged: judged.length,
      ...extra,
    };
    writeFileSync(this.jsonPath, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`results: ${this.jsonPath}`);
    return this.jsonPath;
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error(`percentile ${p} of no values`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Poll {
  /** Longest total wait. */
  timeoutMs: number;
  /** Sleep between two looks, so that the poller does not load the machine it measures. */
  intervalMs: number;
}

/**
 * Looks at a condition until it gives a value, sleeping `intervalMs` between looks, for at most
 * `timeoutMs`; a look that throws counts as "not yet" and its error is kept for the timeout's message.
 */
export function pollUntil<T>(what: string, probe: () => Promise<T | undefined>, poll: Poll): Promise<T> {
  return waitForValue(what, probe, poll);
}

/**
 * Runs a command to its end and returns its wall time (start to exit). An exit code outside
 * `acceptedExitCodes`, a signal, or a failure to start is an error: the time of a run that went
 * wrong is not a figure.
 */
export function timedRun(command: string, argv: string[], acceptedExitCodes: readonly number[] = [0]): Promise<number> {
  const start = performance.now();
  return new Promise((resolvePromise, reject) => {
    execFile(command, argv, { maxBuffer: 1 << 26 }, (err, _stdout, stderr) => {
      const elapsed = performance.now() - start;
      if (!err) {
        if (acceptedExitCodes.includes(0)) resolvePromise(elapsed);
        else reject(new Error(`${command} ${argv.join(' ')}: exited 0, expected one of ${acceptedExitCodes.join(', ')}`));
        return;
      }
      const { code, signal } = err as NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null };
      if (typeof code === 'number' && acceptedExitCodes.includes(code)) resolvePromise(elapsed);
      else {
        const how = typeof code === 'number' ? `exited ${code}` : signal ? `was killed by ${signal}` : `could not run (${err.message})`;
        reject(new Error(`${command} ${argv.join(' ')}: ${how}, expected exit ${acceptedExitCodes.join(' or ')}${stderr ? `\n${String(stderr).trim().slice(0, 2000)}` : ''}`));
      }
    });
  });
}

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
  return pollUntil(
    `keepalived on ${node.name} to write a dump showing ${iname}${wantState === undefined ? '' : ` in state ${wantState}`}`,
    async () => {
      const now = await version();
      if (now === undefined || now === before) return undefined;
      let entry: DumpEntry['data'] | undefined;
      try {
        entry = (JSON.parse(await readFile(dump, 'utf8')) as DumpEntry[]).find((e) => e.data.iname === iname)?.data;
      } catch {
        return undefined; // partially written; look again
      }
      return entry && (wantState === undefined || entry.state === wantState) ? entry.last_transition * 1000 : undefined;
    },
    { timeoutMs: DUMP_TIMEOUT_MS, intervalMs: 5 },
  );
}

/** What the daemon's log said since `offset`: the bytes after it, as JSON lines (others skipped). */
export async function logSince(file: string, offset: number): Promise<{ entries: Record<string, unknown>[]; end: number }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    await handle.read(buffer, 0, buffer.length, offset);
    const entries = buffer
      .toString('utf8')
      .split('\n')
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    return { entries, end: size };
  } finally {
    await handle.close();
  }
}

/** When the daemon logged an entry: its own clock (pino's ISO time), epoch ms. */
export function loggedAt(entry: Record<string, unknown> | undefined): number | undefined {
  const time = typeof entry?.time === 'string' ? Date.parse(entry.time) : entry?.time;
  return typeof time === 'number' && Number.isFinite(time) ? time : undefined;
}
