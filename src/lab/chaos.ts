import { copyFile, cp, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exec } from '../core/exec.js';
import { waitFor } from '../core/wait.js';
import { labDown, labUp, type LabUpOptions } from './lifecycle.js';
import { labHeal } from './split.js';
import { nodePaths, PRIMARY_IFNAME } from './plan.js';
import type { LabInfo, LabNode } from './state.js';
import { daemonPid, reconfigureDaemon } from './directors.js';
import { describeFault, FAULT_KINDS, healFault, injectFault, isNetworkFault, nextStep, seededRandom, type FaultHooks, type FaultKind, type FaultStep } from './faults.js';
import {
  addCounts,
  checkDemotions,
  checkHealed,
  checkMail,
  checkVerdicts,
  expectedTransitions,
  loggedTransition,
  loggedVerdict,
  maxCounts,
  miscounts,
  miscountViolation,
  newMiscounts,
  parseKeepalivedLine,
  parseTransitionCounts,
  type Miscount,
  type QueuedMail,
  type RaisedVerdict,
  type ReceivedMail,
  type Sample,
  type StateEvent,
  type TransitionCounts,
  type Violation,
} from './invariants.js';

/**
 * A randomized fault run over a lab under policy demote: a seeded schedule of faults (faults.ts),
 * the lab's ground truth read all along (keepalived's logs, the namespaces' VIPs and track files,
 * the daemons' logs and counters, the mail recorder's store), and the invariants (invariants.ts)
 * judged on it. The same seed draws the same schedule.
 */

export interface ChaosOptions {
  prefix: string;
  seed: number;
  /** No step starts after this long. */
  durationMs: number;
  /** At most this many steps (unbounded by default). */
  maxSteps?: number;
  directors?: 2 | 3;
  kinds?: readonly FaultKind[];
  log?: (line: string) => void;
  /** Where to keep every node's logs (kawatch, keepalived) and the mail recorder's before the lab goes: DIR/seed-S/NODE/. */
  artifacts?: string;
}

export interface ChaosReport {
  seed: number;
  directors: number;
  schedule: FaultStep[];
  faultCounts: Record<FaultKind, number>;
  violations: Violation[];
}

/** Fast fencing cycles, so that a run of minutes sees many: short hold-down and restore, no cooldown or hourly cap. */
const CHAOS_SETTINGS: [string[], string | number][] = [
  [['watchdog', 'hold_down'], '1s'],
  [['watchdog', 'cooldown'], '0s'],
  [['watchdog', 'max_actions_per_hour'], 1000],
  [['watchdog', 'restore_after'], '3s'],
  [['watchdog', 'max_restore_after'], '10s'],
];
const SAMPLE_INTERVAL_MS = 250;
const SETTLE_TIMEOUT_MS = 40_000;
/** How long kawatch's counters may lag keepalived's log at a checkpoint (the FIFO is read, dumps come every few seconds). */
const COUNT_SETTLE_MS = 10_000;
/** How long a stopping daemon's counters may take to catch up with keepalived's log. */
const STOP_SCRAPE_SETTLE_MS = 5_000;
/** max_restore_after above, plus an election. */
const RESTORE_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 90_000;
/** VRRP's master-down interval (3 adverts and a skew), the time to notice the winner is gone, and the runner's own rounds. */
const DEMOTION_BOUND_MS = 8000;
const GROUNDING = { lookbackMs: 1500, slackMs: 1000 };
const HTTP_TIMEOUT_MS = 3000;

/** Reads what was appended to a file since the last call, whole lines only. */
class Tail {
  private offset = 0;
  private partial = '';
  /** The sampler and the checkpoints both read: one read at a time, or lines would come twice. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {}

  lines(): Promise<string[]> {
    const read = this.turn.then(() => this.read());
    this.turn = read.catch(() => undefined);
    return read;
  }

  private async read(): Promise<string[]> {
    const handle = await open(this.file, 'r').catch(() => undefined);
    if (!handle) return [];
    try {
      const { size } = await handle.stat();
      if (size < this.offset) this.offset = 0;
      if (size === this.offset) return [];
      const buffer = Buffer.alloc(size - this.offset);
      await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset = size;
      const text = this.partial + buffer.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      return lines;
    } finally {
      await handle.close();
    }
  }
}

/** A daemon's exposition; an answer other than 200 is an error, not an empty page. */
async function metricsOf(node: LabNode): Promise<string> {
  const response = await fetch(`${node.api}/metrics`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`${node.api}/metrics answered ${response.status}`);
  return response.text();
}

async function scrapeTransitions(node: LabNode): Promise<TransitionCounts> {
  return parseTransitionCounts(await metricsOf(node));
}

async function scrapeValue(node: LabNode, name: string): Promise<number | undefined> {
  const line = (await metricsOf(node)).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function vipsOf(node: LabNode): Promise<string[]> {
  const r = await exec('ip', ['-n', node.netns, '-j', '-4', 'addr', 'show', 'dev', PRIMARY_IFNAME]);
  if (r.exitCode !== 0) return [];
  const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).flatMap((a) => (a.local ? [a.local] : [])));
}

async function demotedOn(node: LabNode, iname: string): Promise<boolean> {
  const text = await readFile(join(nodePaths(node.dir).trackDir, iname), 'utf8').catch(() => '0');
  return text.trim() !== '' && text.trim() !== '0';
}

/** Everything the run learns about the lab, gathered in rounds while the faults come and go. */
class Observer {
  readonly events: StateEvent[] = [];
  readonly samples: Sample[] = [];
  readonly raised: RaisedVerdict[] = [];
  readonly queued: QueuedMail[] = [];
  /**
   * Each node's daemons that have stopped, with their last scrape: the counters of a new process
   * start at zero. A transition counted between that scrape and the exit shows only in the log.
   */
  private readonly stopped = new Map<string, { pid?: number; scraped: TransitionCounts }[]>();
  /** The transitions each daemon logged, by node and pid. */
  private readonly logged = new Map<string, Map<number, TransitionCounts>>();
  private readonly keepalivedLogs: Map<string, Tail>;
  private readonly daemonLogs: Map<string, Tail>;
  private running = false;
  private loop?: Promise<void>;
  readonly instances: string[];

  constructor(readonly lab: LabInfo) {
    this.keepalivedLogs = new Map(lab.nodes.map((n) => [n.name, new Tail(nodePaths(n.dir).keepalivedLog)]));
    this.daemonLogs = new Map(lab.nodes.map((n) => [n.name, new Tail(nodePaths(n.dir).daemonLog)]));
    this.instances = Object.keys(lab.vips).sort();
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.round();
        await sleep(SAMPLE_INTERVAL_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.round();
  }

  async readKeepalivedLog(node: LabNode): Promise<void> {
    const at = Date.now();
    let order = 0;
    for (const line of await this.keepalivedLogs.get(node.name)!.lines()) {
      const entered = parseKeepalivedLine(line);
      // The states one read finds each held for an instant, in keepalived's order: stamped alike, a
      // MASTER that lasted less than a round (demoted at once) would never have held at all.
      if (entered) this.events.push({ node: node.name, ...entered, at: at + order++ / 1000 });
    }
  }

  private async readDaemonLog(node: LabNode): Promise<void> {
    for (const line of await this.daemonLogs.get(node.name)!.lines()) {
      if (!line.startsWith('{')) continue;
      let entry: { time?: string; msg?: string; verdict?: unknown; id?: string; subject?: string } & Parameters<typeof loggedTransition>[0];
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      const at = entry.time ? Date.parse(entry.time) : Date.now();
      const transition = loggedTransition(entry);
      if (transition) {
        const byPid = this.logged.get(node.name) ?? this.logged.set(node.name, new Map()).get(node.name)!;
        const counts = byPid.get(transition.pid) ?? byPid.set(transition.pid, new Map()).get(transition.pid)!;
        counts.set(transition.key, (counts.get(transition.key) ?? 0) + 1);
      }
      if (entry.msg?.startsWith('verdict raised') && entry.verdict) this.raised.push({ node: node.name, at, verdict: loggedVerdict(entry.verdict) });
      if ((entry.msg === 'mail queued' || entry.msg === 'report queued') && entry.id) this.queued.push({ node: node.name, id: entry.id, at, subject: entry.subject });
    }
  }

  private async round(): Promise<void> {
    const at = Date.now();
    const vips: Record<string, string[]> = {};
    const demoted: Record<string, string[]> = {};
    for (const node of this.lab.nodes) {
      await this.readKeepalivedLog(node);
      await this.readDaemonLog(node);
      for (const vip of await vipsOf(node)) (vips[vip] ??= []).push(node.name);
      for (const iname of this.instances) if (await demotedOn(node, iname)) (demoted[iname] ??= []).push(node.name);
    }
    this.samples.push({ at, vips, demoted });
  }

  /** The instances' states on every node now, by keepalived's logs. */
  mastersNow(): Map<string, string[]> {
    const current = new Map<string, string>();
    for (const e of [...this.events].sort((a, b) => a.at - b.at)) current.set(`${e.node}\u0000${e.iname}`, e.state);
    const masters = new Map<string, string[]>(this.instances.map((i) => [i, []]));
    for (const [key, state] of current) {
      const [node, iname] = key.split('\u0000') as [string, string];
      if (state === 'MASTER') masters.get(iname)?.push(node);
    }
    return masters;
  }

  /** What the node's stopped daemons counted: for each, the larger of its last scrape and its log. */
  private finishedCounts(node: LabNode): TransitionCounts {
    let sum: TransitionCounts = new Map();
    for (const { pid, scraped } of this.stopped.get(node.name) ?? []) {
      const logged = pid === undefined ? undefined : this.logged.get(node.name)?.get(pid);
      sum = addCounts(sum, logged ? maxCounts(scraped, logged) : scraped);
    }
    return sum;
  }

  async counted(node: LabNode): Promise<TransitionCounts> {
    await this.readDaemonLog(node);
    return addCounts(this.finishedCounts(node), await scrapeTransitions(node));
  }

  readonly hooks: FaultHooks = {
    beforeDaemonStop: async (node) => {
      // Its counters die with it: keep what it counted, once they have caught up with keepalived's
      // log (bounded: a miscount stays for the checkpoint to report). What it counts after this
      // scrape and before its exit is read from its log when the counts are next judged.
      const pid = await daemonPid(node);
      const before = this.finishedCounts(node);
      let counts = new Map<string, number>();
      await waitFor(
        `${node.name}'s counters to catch up with keepalived's log before its stop`,
        async () => {
          await this.readKeepalivedLog(node);
          counts = await scrapeTransitions(node).catch(() => new Map<string, number>());
          const lagging = miscounts(expectedTransitions(this.events, node.name), addCounts(before, counts));
          return lagging.length === 0 ? { done: true, value: undefined } : { done: false, why: `${lagging.length} differ` };
        },
        { timeoutMs: STOP_SCRAPE_SETTLE_MS, intervalMs: 200 },
      ).catch(() => undefined);
      const stopped = this.stopped.get(node.name) ?? this.stopped.set(node.name, []).get(node.name)!;
      stopped.push({ pid, scraped: counts });
    },
    beforeKeepalivedStop: (node) => this.readKeepalivedLog(node),
    afterKeepalivedStop: async (node, at) => {
      // keepalived logs no state for its own exit: the stop is the runner's knowledge.
      await this.readKeepalivedLog(node);
      for (const iname of this.instances) this.events.push({ node: node.name, iname, state: 'STOP', at });
    },
  };
}

async function receivedMail(dir: string): Promise<ReceivedMail[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  const found: ReceivedMail[] = [];
  for (const name of names) {
    const envelope = JSON.parse(await readFile(join(dir, name), 'utf8')) as { receivedAt: string; message: string };
    const raw = await readFile(join(dir, envelope.message), 'utf8');
    const header = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
    const id = /^message-id:\s*(\S+)/im.exec(header)?.[1];
    if (id) found.push({ messageId: id, at: Date.parse(envelope.receivedAt) });
  }
  return found;
}

async function keepLogs(lab: LabInfo, dir: string): Promise<void> {
  for (const node of lab.nodes) {
    const paths = nodePaths(node.dir);
    await mkdir(join(dir, node.name), { recursive: true });
    for (const file of [paths.daemonLog, paths.keepalivedLog]) await copyFile(file, join(dir, node.name, basename(file))).catch(() => undefined);
  }
  await cp(lab.mail, join(dir, 'mail'), { recursive: true }).catch(() => undefined);
}

function emptyCounts(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
}

/** Runs a schedule on a fresh lab of its own (taken down at the end, whatever happens) and judges it. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const directors = options.directors ?? 2;
  const up: LabUpOptions & { directors?: 2 | 3 } = { prefix: options.prefix, policy: 'demote', ...(directors === 2 ? {} : { directors }) };
  await labDown({ prefix: options.prefix });
  const lab = await labUp(up);
  try {
    if (lab.nodes.length !== directors) throw new Error(`asked for ${directors} directors, the lab has ${lab.nodes.length}: this lab cannot build ${directors} yet`);
    return await runOn(lab, { ...options, log, directors });
  } finally {
    if (options.artifacts) await keepLogs(lab, join(options.artifacts, `seed-${options.seed}`)).catch((err: Error) => log(`  logs not kept: ${err.message}`));
    await labDown({ prefix: options.prefix });
  }
}

async function runOn(lab: LabInfo, options: ChaosOptions & { log: (line: string) => void; directors: number }): Promise<ChaosReport> {
  const { log, seed } = options;
  const observer = new Observer(lab);
  const violations: Violation[] = [];
  const schedule: FaultStep[] = [];
  const stepStarts: number[] = [];
  const stepAt = (at: number) => {
    let step: number | undefined;
    stepStarts.forEach((start, i) => {
      if (start <= at) step = i;
    });
    return step;
  };
  const faultCounts = emptyCounts();
  const reportedDiff = new Map<string, number>();

  observer.start();
  log(`chaos: seed ${seed}, ${lab.nodes.length} directors (${lab.nodes.map((n) => n.name).join(', ')}), policy demote, ${Math.round(options.durationMs / 1000)} s`);
  for (const node of lab.nodes) {
    await observer.hooks.beforeDaemonStop!(node);
    await reconfigureDaemon(node, (config) => {
      for (const [path, value] of CHAOS_SETTINGS) config.setIn(path, value);
    });
  }
  await settle(observer, log);

  const checkpoint = async (step?: number) => {
    for (const node of lab.nodes) {
      // The counters may lag the log a little: wait, bounded, for them to agree before judging.
      let found: Miscount[] = [];
      await waitFor(
        `${node.name}'s transition counters to match keepalived's log`,
        async () => {
          await observer.readKeepalivedLog(node);
          found = miscounts(expectedTransitions(observer.events, node.name), await observer.counted(node));
          return found.length === 0 ? { done: true, value: undefined } : { done: false, why: `${found.length} differ` };
        },
        { timeoutMs: COUNT_SETTLE_MS, intervalMs: 500 },
      ).catch(() => undefined);
      for (const m of newMiscounts(node.name, found, reportedDiff)) {
        const v = miscountViolation(node.name, m, Date.now(), step);
        violations.push(v);
        log(`  violation: ${v.invariant} on ${node.name}: expected ${v.expected}; seen ${v.seen}`);
      }
    }
  };
  await checkpoint();

  const random = seededRandom(seed);
  const deadline = Date.now() + options.durationMs;
  for (let i = 0; Date.now() < deadline && i < (options.maxSteps ?? Infinity); i++) {
    const step = nextStep(random, i, { nodes: lab.nodes.map((n) => n.name), kinds: options.kinds });
    schedule.push(step);
    stepStarts.push(Date.now());
    log(`step ${i}: ${step.faults.map(describeFault).join(' + ')} for ${step.holdMs} ms`);
    for (const fault of step.faults) {
      faultCounts[fault.kind]++;
      await injectFault(lab, fault, observer.hooks);
    }
    // The fault's duration is the schedule's own, not a wait for a condition.
    await sleep(step.holdMs);
    // The network first, and VRRP settles (bounded) before a process is restarted: a daemon must not
    // stop in the middle of the transitions the network's heal sets off.
    const heals = [...step.faults].reverse();
    const network = heals.filter(isNetworkFault);
    const processes = heals.filter((f) => !isNetworkFault(f));
    for (const fault of network) await healFault(lab, fault, observer.hooks);
    if (network.length > 0 && processes.length > 0) await settle(observer, log);
    for (const fault of processes) await healFault(lab, fault, observer.hooks);
    await settle(observer, log);
    await checkpoint(i);
  }

  // The schedule has healed: restores fall due, the outboxes drain.
  await labHeal({ prefix: lab.prefix, dir: lab.dir });
  const last = schedule.length ? schedule.length - 1 : undefined;
  await waitFor(
    'every demotion restored and no instance in FAULT',
    async () => {
      const final = observer.samples.at(-1);
      const left = final ? checkHealed(observer.events, final, observer.instances, last) : [];
      return left.length === 0 ? { done: true, value: undefined } : { done: false, why: left.map((v) => v.seen).join('; ') };
    },
    { timeoutMs: RESTORE_TIMEOUT_MS, intervalMs: 500 },
  ).catch(() => undefined);
  await waitFor(
    'every outbox empty',
    async () => {
      const left = await Promise.all(lab.nodes.map((n) => scrapeValue(n, 'kawatch_mail_outbox_messages').catch(() => 1)));
      return left.every((n) => n === 0) ? { done: true, value: undefined } : { done: false, why: `outbox messages: ${left.join(', ')}` };
    },
    { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 500 },
  ).catch((err: Error) => log(`  ${err.message}`));
  await observer.stop();

  const final = observer.samples.at(-1)!;
  violations.push(
    ...checkHealed(observer.events, final, observer.instances, last),
    ...checkVerdicts(observer.raised, observer.events, observer.samples, GROUNDING, stepAt),
    ...checkDemotions(observer.samples, observer.events, observer.instances, DEMOTION_BOUND_MS, stepAt),
    ...checkMail(observer.queued, await receivedMail(lab.mail), Date.now(), stepAt),
  );
  return { seed, directors: lab.nodes.length, schedule, faultCounts, violations };
}

/** After a heal: one MASTER per instance again by keepalived's logs (bounded; a lab that does not settle is said, not fatal). */
async function settle(observer: Observer, log: (line: string) => void): Promise<void> {
  await waitFor(
    'one MASTER per instance',
    async () => {
      for (const node of observer.lab.nodes) await observer.readKeepalivedLog(node);
      const masters = observer.mastersNow();
      const wrong = [...masters].filter(([, nodes]) => nodes.length !== 1);
      return wrong.length === 0 ? { done: true, value: undefined } : { done: false, why: wrong.map(([i, n]) => `${i} MASTER on [${n.join(', ')}]`).join('; ') };
    },
    { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 250 },
  ).catch((err: Error) => log(`  not settled: ${err.message}`));
}
