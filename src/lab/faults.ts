import { PRIMARY_IFNAME } from './plan.js';
import { terminate } from './processes.js';
import { spawnMailRecorder } from './lifecycle.js';
import { labHeal, labSplit } from './split.js';
import { readLabState, type LabInfo, type LabNode } from './state.js';
import { LabError, nftInNetns } from './system.js';
import { findPrograms, reconfigureDaemon, startDaemon, startKeepalived, stopDaemon, stopKeepalived } from './directors.js';

/**
 * Faults for randomized testing of a running lab (in the spirit of Pacemaker's CTS): a seeded
 * schedule of them, pure and replayable, and the side effects that inject and heal each one.
 * Written against the lab's node list, whatever its length.
 */

export const FAULT_KINDS = [
  /** One node neither hears nor is heard on VRRP (IP protocol 112 dropped on its primary link). */
  'vrrp-drop-node',
  /** Two nodes stop hearing each other's VRRP adverts; the others still hear both. */
  'vrrp-drop-pair',
  /** One node's secondary link (the peer exchange) drops everything. */
  'secondary-cut',
  /** Both at once on one node: VRRP dropped and secondary link cut. */
  'vrrp-and-secondary',
  /** keepalived stopped (SIGTERM, or SIGKILL for a crash) and started again. */
  'keepalived-restart',
  /** The kawatch daemon stopped (SIGTERM, or SIGKILL for a crash) and started again. */
  'kawatch-restart',
  /** The lab's mail recorder (the SMTP server) down, then up again on the same port. */
  'smtp-outage',
  /** The kawatch daemon restarted with a changed configuration (hold-down, mail grouping). */
  'kawatch-reconfigure',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** The node(s) it hits: none for smtp-outage, two for vrrp-drop-pair, one otherwise. */
  nodes: string[];
  /** For restarts: a clean stop or a crash. */
  signal?: 'SIGTERM' | 'SIGKILL';
  /** For kawatch-reconfigure: which of the alternative settings to apply. */
  variant?: number;
}

/** One step of a schedule: faults injected in order, held for `holdMs`, then healed in reverse order. */
export interface FaultStep {
  index: number;
  faults: Fault[];
  holdMs: number;
}

/** mulberry32: small, fast and the same on every platform, so a seed replays the same schedule anywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ScheduleOptions {
  /** The lab's node names, in order. */
  nodes: readonly string[];
  /** Kinds to draw from (all by default). */
  kinds?: readonly FaultKind[];
  minHoldMs?: number;
  maxHoldMs?: number;
  /** The chance that a step adds a second, overlapping fault. */
  overlap?: number;
}

const DEFAULT_MIN_HOLD_MS = 3000;
const DEFAULT_MAX_HOLD_MS = 10_000;
const DEFAULT_OVERLAP = 0.35;
/** The alternative settings `kawatch-reconfigure` cycles through (see `reconfigureSettings`). */
export const RECONFIGURE_VARIANTS = 2;

/** Network faults on one node exclude each other: the lab keeps one rule set per node. */
const NETWORK_KINDS: ReadonlySet<FaultKind> = new Set(['vrrp-drop-node', 'vrrp-drop-pair', 'secondary-cut', 'vrrp-and-secondary']);

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function drawFault(random: () => number, options: ScheduleOptions, kinds: readonly FaultKind[]): Fault {
  const kind = pick(random, kinds);
  const node = pick(random, options.nodes);
  switch (kind) {
    case 'smtp-outage':
      return { kind, nodes: [] };
    case 'vrrp-drop-pair': {
      const other = pick(
        random,
        options.nodes.filter((n) => n !== node),
      );
      return { kind, nodes: [node, other].sort() };
    }
    case 'keepalived-restart':
    case 'kawatch-restart':
      return { kind, nodes: [node], signal: random() < 0.5 ? 'SIGTERM' : 'SIGKILL' };
    case 'kawatch-reconfigure':
      return { kind, nodes: [node], variant: Math.floor(random() * RECONFIGURE_VARIANTS) };
    default:
      return { kind, nodes: [node] };
  }
}

/** Whether two faults can be held at once: not two on the same process, nor two rule sets on one node, nor two outages. */
/** A fault of the network (nft rules), as against one of a process or of the SMTP server. */
export function isNetworkFault(f: Fault): boolean {
  return NETWORK_KINDS.has(f.kind);
}

export function compatible(a: Fault, b: Fault): boolean {
  if (a.kind === 'smtp-outage' || b.kind === 'smtp-outage') return a.kind !== b.kind;
  const shared = a.nodes.some((n) => b.nodes.includes(n));
  if (!shared) return true;
  const process = (f: Fault) => (f.kind === 'keepalived-restart' ? 'keepalived' : f.kind === 'kawatch-restart' || f.kind === 'kawatch-reconfigure' ? 'kawatch' : 'network');
  if (process(a) !== process(b)) return !(NETWORK_KINDS.has(a.kind) && NETWORK_KINDS.has(b.kind));
  return false;
}

/** The step `index` of the schedule drawn from `random`; called in order, it gives the same steps for the same seed. */
export function nextStep(random: () => number, index: number, options: ScheduleOptions): FaultStep {
  if (options.nodes.length < 2) throw new Error(`a fault schedule needs at least two nodes, got ${options.nodes.length}`);
  const kinds = options.kinds ?? FAULT_KINDS;
  const min = options.minHoldMs ?? DEFAULT_MIN_HOLD_MS;
  const max = options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
  const faults = [drawFault(random, options, kinds)];
  if (random() < (options.overlap ?? DEFAULT_OVERLAP)) {
    const second = drawFault(random, options, kinds);
    if (compatible(faults[0]!, second)) faults.push(second);
  }
  return { index, faults, holdMs: Math.round(min + random() * (max - min)) };
}

/** The first `count` steps of the schedule of a seed. */
export function planSchedule(seed: number, count: number, options: ScheduleOptions): FaultStep[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => nextStep(random, i, options));
}

export function describeFault(f: Fault): string {
  const on = f.nodes.length ? ` ${f.nodes.join('+')}` : '';
  const how = f.signal ? ` (${f.signal})` : f.variant !== undefined ? ` (variant ${f.variant})` : '';
  return `${f.kind}${on}${how}`;
}

/** What `kawatch-reconfigure` changes (config path, value): timing and grouping, never where state is kept. */
export function reconfigureSettings(variant: number): [string[], string][] {
  return variant % RECONFIGURE_VARIANTS === 0
    ? [
        [['watchdog', 'hold_down'], '1500ms'],
        [['mail', 'group_window'], '2s'],
      ]
    : [
        [['watchdog', 'hold_down'], '1s'],
        [['mail', 'group_window'], '1s'],
      ];
}

// ---- Injection: side effects on a running lab ----

/** A table of its own, beside the lab's split table, so `lab heal` and the pair rules never undo each other. */
const PAIR_TABLE = 'kawatch_chaos';

function pairRuleset(dropFrom: readonly string[]): string {
  const rules = dropFrom.map((address) => `    iifname "${PRIMARY_IFNAME}" ip saddr ${address} meta l4proto vrrp drop`);
  return `table inet ${PAIR_TABLE}\ndelete table inet ${PAIR_TABLE}\ntable inet ${PAIR_TABLE} {\n  chain input {\n    type filter hook input priority filter; policy accept;\n${rules.join('\n')}\n  }\n}\n`;
}

const REMOVE_PAIR_TABLE = `table inet ${PAIR_TABLE}\ndelete table inet ${PAIR_TABLE}\n`;

/** Called around each stop of a daemon, so that its counters can be read before they are lost. */
export interface FaultHooks {
  beforeDaemonStop?: (node: LabNode) => Promise<void>;
  beforeKeepalivedStop?: (node: LabNode) => Promise<void>;
  afterKeepalivedStop?: (node: LabNode, at: number) => Promise<void>;
}

function nodeOf(lab: LabInfo, name: string): LabNode {
  const node = lab.nodes.find((n) => n.name === name);
  if (!node) throw new LabError(`no node ${JSON.stringify(name)} in lab "${lab.prefix}" (nodes: ${lab.nodes.map((n) => n.name).join(', ')})`);
  return node;
}


function hostOf(hostPort: string): string {
  return hostPort.slice(0, hostPort.lastIndexOf(':'));
}

async function stopMailRecorder(lab: LabInfo): Promise<void> {
  const pid = (await readLabState(lab.dir))?.processes.find((p) => p.role === 'mail-recorder')?.pid;
  if (pid !== undefined) await terminate([pid]);
}

/** The recorder again on the port the daemons' configurations name. */
async function restartMailRecorder(lab: LabInfo): Promise<void> {
  const port = Number(lab.smtp.slice(lab.smtp.lastIndexOf(':') + 1));
  await spawnMailRecorder(lab.dir, [hostOf(lab.smtp), ...lab.nodes.map((n) => hostOf(n.smtp))], await findPrograms(), port);
}

/** Injects one fault. Restarts and reconfigurations stop the process here and start it again in `healFault`. */
export async function injectFault(lab: LabInfo, fault: Fault, hooks: FaultHooks = {}): Promise<void> {
  const [first, second] = fault.nodes.map((n) => nodeOf(lab, n));
  switch (fault.kind) {
    case 'vrrp-drop-node':
      await labSplit({ prefix: lab.prefix, dir: lab.dir, node: first!.name, link: 'primary' });
      return;
    case 'secondary-cut':
      await labSplit({ prefix: lab.prefix, dir: lab.dir, node: first!.name, link: 'secondary' });
      return;
    case 'vrrp-and-secondary':
      await labSplit({ prefix: lab.prefix, dir: lab.dir, node: first!.name, link: 'both' });
      return;
    case 'vrrp-drop-pair':
      await nftInNetns(first!.netns, pairRuleset([second!.primary]));
      await nftInNetns(second!.netns, pairRuleset([first!.primary]));
      return;
    case 'keepalived-restart':
      await hooks.beforeKeepalivedStop?.(first!);
      await stopKeepalived(first!, { signal: fault.signal });
      await hooks.afterKeepalivedStop?.(first!, Date.now());
      return;
    case 'kawatch-restart':
      await hooks.beforeDaemonStop?.(first!);
      await stopDaemon(first!, { signal: fault.signal });
      return;
    case 'kawatch-reconfigure':
      // The new settings take effect at the heal, with the restart.
      return;
    case 'smtp-outage':
      await stopMailRecorder(lab);
      return;
  }
}

/** Undoes one fault: network rules removed, processes started again. */
export async function healFault(lab: LabInfo, fault: Fault, hooks: FaultHooks = {}): Promise<void> {
  const nodes = fault.nodes.map((n) => nodeOf(lab, n));
  switch (fault.kind) {
    case 'vrrp-drop-node':
    case 'secondary-cut':
    case 'vrrp-and-secondary':
      await labHeal({ prefix: lab.prefix, dir: lab.dir });
      return;
    case 'vrrp-drop-pair':
      for (const node of nodes) await nftInNetns(node.netns, REMOVE_PAIR_TABLE);
      return;
    case 'keepalived-restart':
      await startKeepalived(nodes[0]!);
      return;
    case 'kawatch-restart':
      await startDaemon(nodes[0]!);
      return;
    case 'kawatch-reconfigure':
      await hooks.beforeDaemonStop?.(nodes[0]!);
      await reconfigureDaemon(nodes[0]!, (config) => {
        for (const [path, value] of reconfigureSettings(fault.variant ?? 0)) config.setIn(path, value);
      });
      return;
    case 'smtp-outage':
      await restartMailRecorder(lab);
      return;
  }
}
