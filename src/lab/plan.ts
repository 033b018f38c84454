import { join } from 'node:path';

/**
 * The lab's topology as data: names, addresses and file paths, derived from a prefix, a directory
 * and a management slot. Pure, so the whole layout is readable (and testable) without root.
 *
 *   host namespace    <prefix>-lb1, <prefix>-lb2       <prefix>-sw
 *   <prefix>-lb1 ════ mgmt0 (lb1)
 *                     pri0  (lb1) ════════════════════ lb1 ─┐
 *                     sec0  (lb1)                           br0  primary segment (VRRP, VIPs)
 *                       ║ secondary link                    │
 *                     sec0  (lb2)                           │
 *                     pri0  (lb2) ════════════════════ lb2 ─┘
 *   <prefix>-lb2 ════ mgmt0 (lb2)
 */

export const DEFAULT_PREFIX = 'kwlab';
export const DEFAULT_LAB_ROOT = '/run/kawatch-lab';
export const LAB_POLICIES = ['alert', 'demote', 'stop'] as const;
export type LabPolicy = (typeof LAB_POLICIES)[number];

/** Lowercase letters and digits only, so `<prefix>-` never matches another lab's names, and short enough for IFNAMSIZ. */
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,10}$/;

export const BRIDGE_IFNAME = 'br0';
export const PRIMARY_IFNAME = 'pri0';
export const SECONDARY_IFNAME = 'sec0';
export const MANAGEMENT_IFNAME = 'mgmt0';
export const API_PORT = 9650;
/** The peer API, on the secondary link. */
export const PEER_PORT = 9651;
/** keepalived's PASS authentication takes at most 8 characters. */
export const VRRP_AUTH_PASS = 'kawatch1';

// Everything lives in 198.18.0.0/15 (RFC 2544 benchmarking), which no real network routes.
const PRIMARY_NET = '198.18.0';
const SECONDARY_NET = '198.18.1';
const MANAGEMENT_NET = '198.18.2';
/** Each lab takes one /29 of 198.18.2.0/24 on the host: a /30 per director. */
export const MANAGEMENT_SLOTS = 32;

export interface Interface {
  ifname: string;
  address: string;
  prefixLength: number;
}

export interface ManagementLink extends Interface {
  /** The veth end left in the host namespace, through which the host reaches the daemon's API. */
  hostIfname: string;
  hostAddress: string;
}

export interface NodePlan {
  name: string;
  netns: string;
  dir: string;
  primary: Interface;
  secondary: Interface;
  management: ManagementLink;
}

export interface InstancePlan {
  name: string;
  vrid: number;
  vip: string;
  vipPrefixLength: number;
  /** Node name → VRRP priority; the highest is the intended MASTER. */
  priorities: Readonly<Record<string, number>>;
}

export interface LabPlan {
  prefix: string;
  dir: string;
  switchNetns: string;
  /** The switch's own address on the primary segment: the watchdog's witness. */
  witness: string;
  nodes: NodePlan[];
  instances: InstancePlan[];
}

/** The seeds' multi-master model: each director is MASTER for one business, BACKUP for the other. */
const INSTANCES: readonly InstancePlan[] = [
  { name: 'VI_1', vrid: 51, vip: `${PRIMARY_NET}.50`, vipPrefixLength: 24, priorities: { lb1: 100, lb2: 80 } },
  { name: 'VI_2', vrid: 55, vip: `${PRIMARY_NET}.60`, vipPrefixLength: 24, priorities: { lb1: 80, lb2: 100 } },
];
const NODE_NAMES = ['lb1', 'lb2'] as const;

export function checkPrefix(prefix: string): string | undefined {
  return PREFIX_PATTERN.test(prefix) ? undefined : `invalid lab prefix ${JSON.stringify(prefix)}: expected 1 to 11 lowercase letters or digits, starting with a letter`;
}

export function defaultLabDir(prefix: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.KAWATCH_LAB_DIR || join(DEFAULT_LAB_ROOT, prefix);
}

/** The names a lab with this prefix creates, known without its state file (for cleaning up after a crash). */
export function labNames(prefix: string): { namespaces: string[]; hostLinks: string[] } {
  return {
    namespaces: [`${prefix}-sw`, ...NODE_NAMES.map((n) => `${prefix}-${n}`)],
    hostLinks: NODE_NAMES.map((n) => `${prefix}-${n}`),
  };
}

export function planLab(prefix: string, dir: string, managementSlot: number): LabPlan {
  const problem = checkPrefix(prefix);
  if (problem) throw new Error(problem);
  if (!Number.isInteger(managementSlot) || managementSlot < 0 || managementSlot >= MANAGEMENT_SLOTS) {
    throw new Error(`management slot ${managementSlot} out of range 0..${MANAGEMENT_SLOTS - 1}`);
  }
  const nodes = NODE_NAMES.map((name, index): NodePlan => {
    const subnet = managementSlot * 8 + index * 4;
    return {
      name,
      netns: `${prefix}-${name}`,
      dir: join(dir, name),
      primary: { ifname: PRIMARY_IFNAME, address: `${PRIMARY_NET}.${index + 1}`, prefixLength: 24 },
      secondary: { ifname: SECONDARY_IFNAME, address: `${SECONDARY_NET}.${index + 1}`, prefixLength: 24 },
      management: {
        ifname: MANAGEMENT_IFNAME,
        address: `${MANAGEMENT_NET}.${subnet + 2}`,
        prefixLength: 30,
        hostIfname: `${prefix}-${name}`,
        hostAddress: `${MANAGEMENT_NET}.${subnet + 1}`,
      },
    };
  });
  return { prefix, dir, switchNetns: `${prefix}-sw`, witness: `${PRIMARY_NET}.254`, nodes, instances: INSTANCES.map((i) => ({ ...i })) };
}

/** The first slot none of whose addresses the host already uses (another lab, most likely). */
export function freeManagementSlot(hostAddresses: readonly string[]): number | undefined {
  const used = new Set(hostAddresses);
  for (let slot = 0; slot < MANAGEMENT_SLOTS; slot++) {
    const block = Array.from({ length: 8 }, (_, i) => `${MANAGEMENT_NET}.${slot * 8 + i}`);
    if (!block.some((a) => used.has(a))) return slot;
  }
  return undefined;
}

export function masterOf(instance: InstancePlan): string {
  return Object.entries(instance.priorities).reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
}

export function apiUrl(node: NodePlan): string {
  return `http://${node.management.address}:${API_PORT}`;
}

export interface NodePaths {
  keepalivedConf: string;
  keepalivedPid: string;
  vrrpPid: string;
  keepalivedLog: string;
  /** keepalived's own TMPDIR, so the two directors' JSON dumps never collide. */
  keepalivedTmp: string;
  notifyFifo: string;
  spool: string;
  kawatchConfig: string;
  daemonLog: string;
  /** keepalived track files the daemon writes to demote one instance. */
  trackDir: string;
  /** The daemon's journal of watchdog actions. */
  stateDir: string;
}

export function nodePaths(nodeDir: string): NodePaths {
  return {
    keepalivedConf: join(nodeDir, 'keepalived.conf'),
    keepalivedPid: join(nodeDir, 'keepalived.pid'),
    vrrpPid: join(nodeDir, 'keepalived-vrrp.pid'),
    keepalivedLog: join(nodeDir, 'keepalived.log'),
    keepalivedTmp: join(nodeDir, 'tmp'),
    notifyFifo: join(nodeDir, 'notify.fifo'),
    spool: join(nodeDir, 'spool'),
    kawatchConfig: join(nodeDir, 'kawatch.yml'),
    daemonLog: join(nodeDir, 'kawatch.log'),
    trackDir: join(nodeDir, 'track'),
    stateDir: join(nodeDir, 'state'),
  };
}

export interface LabPaths {
  state: string;
  /** The directors' shared peer secret (mode 600). */
  peerSecret: string;
  mail: string;
  mailRecorderReady: string;
  mailRecorderLog: string;
}

export function labPaths(dir: string): LabPaths {
  return {
    state: join(dir, 'lab.json'),
    peerSecret: join(dir, 'peer.secret'),
    mail: join(dir, 'mail'),
    mailRecorderReady: join(dir, 'mail-recorder.json'),
    mailRecorderLog: join(dir, 'mail-recorder.log'),
  };
}

/**
 * Every `ip` invocation that builds the topology, in order. veth ends are created directly in
 * their namespaces, so the only names that ever appear in the host namespace are the management links.
 */
export function topologyCommands(plan: LabPlan): string[][] {
  const sw = plan.switchNetns;
  const commands: string[][] = [
    ['netns', 'add', sw],
    ...plan.nodes.map((n) => ['netns', 'add', n.netns]),
    ['-n', sw, 'link', 'add', BRIDGE_IFNAME, 'type', 'bridge'],
    ['-n', sw, 'link', 'set', BRIDGE_IFNAME, 'up'],
    ['-n', sw, 'addr', 'add', `${plan.witness}/24`, 'dev', BRIDGE_IFNAME],
  ];
  for (const node of plan.nodes) {
    const m = node.management;
    commands.push(
      ['-n', sw, 'link', 'add', node.name, 'type', 'veth', 'peer', 'name', node.primary.ifname, 'netns', node.netns],
      ['-n', sw, 'link', 'set', node.name, 'master', BRIDGE_IFNAME, 'up'],
      ['link', 'add', m.hostIfname, 'type', 'veth', 'peer', 'name', m.ifname, 'netns', node.netns],
      ['addr', 'add', `${m.hostAddress}/${m.prefixLength}`, 'dev', m.hostIfname],
      ['link', 'set', m.hostIfname, 'up'],
    );
  }
  const [first, second] = plan.nodes;
  if (first && second) {
    commands.push(['-n', first.netns, 'link', 'add', first.secondary.ifname, 'type', 'veth', 'peer', 'name', second.secondary.ifname, 'netns', second.netns]);
  }
  for (const node of plan.nodes) {
    commands.push(['-n', node.netns, 'link', 'set', 'lo', 'up']);
    for (const i of [node.primary, node.secondary, node.management]) {
      commands.push(['-n', node.netns, 'addr', 'add', `${i.address}/${i.prefixLength}`, 'dev', i.ifname], ['-n', node.netns, 'link', 'set', i.ifname, 'up']);
    }
  }
  return commands;
}
