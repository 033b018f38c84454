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
 *
 * With three directors the secondary link is a second bridge, br1 in the switch namespace, with a
 * port per director (`lb1s`, ...): the directors' sec0 ends keep their names and addresses.
 */

export const DEFAULT_PREFIX = 'kwlab';
export const DEFAULT_LAB_ROOT = '/run/kawatch-lab';
export const LAB_POLICIES = ['alert', 'demote', 'stop'] as const;
export type LabPolicy = (typeof LAB_POLICIES)[number];

/** Lowercase letters and digits only, so `<prefix>-` never matches another lab's names, and short enough for IFNAMSIZ. */
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,10}$/;

export const BRIDGE_IFNAME = 'br0';
/** The secondary link's bridge, in the switch namespace, for a lab of more than two directors. */
export const SECONDARY_BRIDGE_IFNAME = 'br1';
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
const MANAGEMENT_NET_SIZE = 256;
/** Each director has a /30 on the host's management network. */
const MANAGEMENT_LINK_SIZE = 4;

/** How many directors a lab can have: the pair of the seeds, or a group of three. */
export const LAB_DIRECTOR_COUNTS = [2, 3] as const;
export type LabDirectorCount = (typeof LAB_DIRECTOR_COUNTS)[number];
export const DEFAULT_DIRECTORS: LabDirectorCount = 2;

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
  /** The node's ports in the switch namespace: on the primary bridge, and on the secondary one when there is one. */
  switchPorts: { primary: string; secondary?: string };
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
  /** A direct veth between the two directors of a pair; a bridge in the switch namespace for more. */
  secondaryLink: 'veth' | 'bridge';
  nodes: NodePlan[];
  instances: InstancePlan[];
}

/**
 * The seeds' multi-master model: each director is MASTER for one business, BACKUP for the other.
 * With three, each VRID has one owner and an order of backups (the next director by name first),
 * so a failover and a fenced split each have a single right answer.
 */
const INSTANCES: Readonly<Record<LabDirectorCount, readonly InstancePlan[]>> = {
  2: [
    { name: 'VI_1', vrid: 51, vip: `${PRIMARY_NET}.50`, vipPrefixLength: 24, priorities: { lb1: 100, lb2: 80 } },
    { name: 'VI_2', vrid: 55, vip: `${PRIMARY_NET}.60`, vipPrefixLength: 24, priorities: { lb1: 80, lb2: 100 } },
  ],
  3: [
    { name: 'VI_1', vrid: 51, vip: `${PRIMARY_NET}.50`, vipPrefixLength: 24, priorities: { lb1: 100, lb2: 90, lb3: 80 } },
    { name: 'VI_2', vrid: 55, vip: `${PRIMARY_NET}.60`, vipPrefixLength: 24, priorities: { lb1: 80, lb2: 100, lb3: 90 } },
    { name: 'VI_3', vrid: 59, vip: `${PRIMARY_NET}.70`, vipPrefixLength: 24, priorities: { lb1: 90, lb2: 80, lb3: 100 } },
  ],
};
const NODE_NAMES = ['lb1', 'lb2', 'lb3'] as const;

export function checkDirectors(directors: number): string | undefined {
  return (LAB_DIRECTOR_COUNTS as readonly number[]).includes(directors) ? undefined : `invalid director count ${directors}: expected ${LAB_DIRECTOR_COUNTS.join(' or ')}`;
}

/** Addresses of 198.18.2.0/24 one lab takes on the host: a /30 per director, rounded up to an aligned power of two. */
export function managementSlotSize(directors: LabDirectorCount): number {
  return MANAGEMENT_LINK_SIZE * 2 ** Math.ceil(Math.log2(directors));
}

/** How many labs of this size fit side by side on one host. */
export function managementSlots(directors: LabDirectorCount = DEFAULT_DIRECTORS): number {
  return MANAGEMENT_NET_SIZE / managementSlotSize(directors);
}

export function checkPrefix(prefix: string): string | undefined {
  return PREFIX_PATTERN.test(prefix) ? undefined : `invalid lab prefix ${JSON.stringify(prefix)}: expected 1 to 11 lowercase letters or digits, starting with a letter`;
}

export function defaultLabDir(prefix: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.KAWATCH_LAB_DIR || join(DEFAULT_LAB_ROOT, prefix);
}

/**
 * The names a lab with this prefix creates, known without its state file (for cleaning up after a
 * crash): those of the largest lab, as the size of the one that crashed may be unknown.
 */
export function labNames(prefix: string): LabNames {
  return {
    namespaces: [`${prefix}-sw`, ...NODE_NAMES.map((n) => `${prefix}-${n}`)],
    hostLinks: NODE_NAMES.map((n) => `${prefix}-${n}`),
  };
}

export interface LabNames {
  namespaces: string[];
  hostLinks: string[];
}

/** The names this plan creates: what its state file records. */
export function planNames(plan: LabPlan): LabNames {
  return { namespaces: [plan.switchNetns, ...plan.nodes.map((n) => n.netns)], hostLinks: plan.nodes.map((n) => n.management.hostIfname) };
}

export function planLab(prefix: string, dir: string, managementSlot: number, directors: LabDirectorCount = DEFAULT_DIRECTORS): LabPlan {
  const problem = checkPrefix(prefix) ?? checkDirectors(directors);
  if (problem) throw new Error(problem);
  const slots = managementSlots(directors);
  if (!Number.isInteger(managementSlot) || managementSlot < 0 || managementSlot >= slots) {
    throw new Error(`management slot ${managementSlot} out of range 0..${slots - 1}`);
  }
  const secondaryLink = directors > 2 ? 'bridge' : 'veth';
  const nodes = NODE_NAMES.slice(0, directors).map((name, index): NodePlan => {
    const subnet = managementSlot * managementSlotSize(directors) + index * MANAGEMENT_LINK_SIZE;
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
      switchPorts: { primary: name, ...(secondaryLink === 'bridge' ? { secondary: `${name}s` } : {}) },
    };
  });
  return { prefix, dir, switchNetns: `${prefix}-sw`, witness: `${PRIMARY_NET}.254`, secondaryLink, nodes, instances: INSTANCES[directors].map((i) => ({ ...i })) };
}

/** The first slot for a lab of this size none of whose addresses the host already uses (another lab, most likely). */
export function freeManagementSlot(hostAddresses: readonly string[], directors: LabDirectorCount = DEFAULT_DIRECTORS): number | undefined {
  const used = new Set(hostAddresses);
  const size = managementSlotSize(directors);
  for (let slot = 0; slot < managementSlots(directors); slot++) {
    const block = Array.from({ length: size }, (_, i) => `${MANAGEMENT_NET}.${slot * size + i}`);
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
  if (plan.secondaryLink === 'bridge') commands.push(['-n', sw, 'link', 'add', SECONDARY_BRIDGE_IFNAME, 'type', 'bridge'], ['-n', sw, 'link', 'set', SECONDARY_BRIDGE_IFNAME, 'up']);
  for (const node of plan.nodes) {
    const m = node.management;
    const ports = node.switchPorts;
    commands.push(
      ['-n', sw, 'link', 'add', ports.primary, 'type', 'veth', 'peer', 'name', node.primary.ifname, 'netns', node.netns],
      ['-n', sw, 'link', 'set', ports.primary, 'master', BRIDGE_IFNAME, 'up'],
      ['link', 'add', m.hostIfname, 'type', 'veth', 'peer', 'name', m.ifname, 'netns', node.netns],
      ['addr', 'add', `${m.hostAddress}/${m.prefixLength}`, 'dev', m.hostIfname],
      ['link', 'set', m.hostIfname, 'up'],
    );
    if (ports.secondary) {
      commands.push(
        ['-n', sw, 'link', 'add', ports.secondary, 'type', 'veth', 'peer', 'name', node.secondary.ifname, 'netns', node.netns],
        ['-n', sw, 'link', 'set', ports.secondary, 'master', SECONDARY_BRIDGE_IFNAME, 'up'],
      );
    }
  }
  const [first, second] = plan.nodes;
  if (plan.secondaryLink === 'veth' && first && second) {
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
