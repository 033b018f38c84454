import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ConfNode } from '../../src/keepalived/conf/ast.js';
import { parseText } from '../../src/keepalived/conf/parse.js';
import {
  API_PORT,
  managementSlots,
  PRIMARY_IFNAME,
  SECONDARY_BRIDGE_IFNAME,
  labNames,
  planNames,
  SECONDARY_IFNAME,
  checkPrefix,
  freeManagementSlot,
  masterOf,
  nodePaths,
  planLab,
  type LabPlan,
  type NodePlan,
} from '../../src/lab/plan.js';
import { topologyCommands } from '../../src/lab/plan.js';
import { splitRules } from '../../src/lab/split.js';
import { SPLIT_TABLE, checkScriptPath, renderHealRuleset, renderKawatchConfig, renderKeepalivedConf, renderSplitRuleset } from '../../src/lab/render.js';
import { inPrivateNetns } from '../support/keepalived-check.js';
import { describeWithPrereqs } from '../support/prereq.js';

const LAUNCHER = fileURLToPath(new URL('../../bin/kawatch', import.meta.url));
const PLAN = planLab('kwtrender', '/run/kawatch-lab/kwtrender', 3);

function nodeNamed(plan: LabPlan, name: string): NodePlan {
  const node = plan.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name} in the plan`);
  return node;
}

/** Top-level nodes of a rendered keepalived.conf, read by kawatch's own parser, which must find nothing wrong. */
function parseKeepalivedConf(text: string): ConfNode[] {
  const parsed = parseText(text, 'keepalived.conf');
  expect(parsed.problems).toEqual([]);
  return parsed.nodes;
}

function child(block: ConfNode, keyword: string): ConfNode {
  const found = (block.children ?? []).filter((c) => c.keyword === keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword} in ${block.keyword}, found ${found.length}`);
  return found[0]!;
}

/** The settings of every vrrp_instance, by instance name, as keepalived would read them. */
function instancesOf(conf: string): Map<string, { priority: number; vrid: number; iface: string; vips: string[]; notify: string[] }> {
  const result = new Map<string, { priority: number; vrid: number; iface: string; vips: string[]; notify: string[] }>();
  for (const block of parseKeepalivedConf(conf).filter((b) => b.keyword === 'vrrp_instance')) {
    const notify = child(block, 'notify').args;
    if (notify.length !== 1) throw new Error(`notify takes one quoted command line, got ${notify.join(' ')}`);
    result.set(block.args[0]!, {
      priority: Number(child(block, 'priority').args[0]),
      vrid: Number(child(block, 'virtual_router_id').args[0]),
      iface: child(block, 'interface').args[0]!,
      vips: (child(block, 'virtual_ipaddress').children ?? []).map((c) => c.keyword),
      // keepalived splits the quoted script line on whitespace.
      notify: notify[0]!.replace(/^"|"$/g, '').split(/\s+/),
    });
  }
  return result;
}

function globalDefs(conf: string): ConfNode {
  const blocks = parseKeepalivedConf(conf).filter((b) => b.keyword === 'global_defs');
  expect(blocks).toHaveLength(1);
  return blocks[0]!;
}

const confOf = (node: NodePlan) => renderKeepalivedConf(PLAN, node, { launcher: LAUNCHER });

// ---- addresses ------------------------------------------------------------------------

function ipv4ToInt(address: string): number {
  const parts = address.split('.').map(Number);
  expect(parts, address).toHaveLength(4);
  for (const p of parts) expect(Number.isInteger(p) && p >= 0 && p <= 255, address).toBe(true);
  return parts.reduce((n, p) => n * 256 + p, 0);
}

function inNetwork(address: string, network: string, prefixLength: number): boolean {
  const size = 2 ** (32 - prefixLength);
  return Math.floor(ipv4ToInt(address) / size) === Math.floor(ipv4ToInt(network) / size);
}

/** Every IPv4 address the plan puts on an interface, host ends of the management links included. */
function planAddresses(plan: LabPlan): string[] {
  return [
    ...plan.nodes.flatMap((n) => [n.primary.address, n.secondary.address, n.management.address, n.management.hostAddress]),
    ...plan.instances.map((i) => i.vip),
  ];
}

function managementAddresses(plan: LabPlan): string[] {
  return plan.nodes.flatMap((n) => [n.management.address, n.management.hostAddress]);
}

describe('planLab', () => {
  it('keeps every address inside 198.18.0.0/15 (RFC 2544), distinct', () => {
    const addresses = planAddresses(PLAN);
    for (const a of addresses) expect(inNetwork(a, '198.18.0.0', 15), a).toBe(true);
    expect(new Set(addresses).size).toBe(addresses.length);
  });

  it('gives every management slot its own addresses, so labs side by side never share one', () => {
    const all = Array.from({ length: managementSlots() }, (_, slot) => managementAddresses(planLab('kwtrender', '/tmp/x', slot))).flat();
    for (const a of all) expect(inNetwork(a, '198.18.0.0', 15), a).toBe(true);
    expect(new Set(all).size).toBe(all.length);
  });

  it('puts both ends of each management link in one subnet, apart from the other node', () => {
    for (const node of PLAN.nodes) {
      const m = node.management;
      expect(inNetwork(m.address, m.hostAddress, m.prefixLength), node.name).toBe(true);
      for (const other of PLAN.nodes.filter((n) => n !== node)) {
        expect(inNetwork(other.management.address, m.hostAddress, m.prefixLength), `${other.name} in ${node.name}'s subnet`).toBe(false);
      }
    }
  });

  it('names everything after the prefix and makes each director MASTER of exactly one instance', () => {
    expect(PLAN.nodes.map((n) => n.netns)).toEqual(['kwtrender-lb1', 'kwtrender-lb2']);
    for (const n of PLAN.nodes) expect(n.management.hostIfname.startsWith('kwtrender-')).toBe(true);
    expect(PLAN.switchNetns.startsWith('kwtrender-')).toBe(true);
    const masters = PLAN.instances.map(masterOf).sort();
    expect(masters).toEqual(PLAN.nodes.map((n) => n.name).sort());
  });

  it('refuses prefixes that could collide or overflow interface names, and slots out of range', () => {
    expect(checkPrefix('kwtrender')).toBeUndefined();
    for (const bad of ['', 'KW', 'kw-x', '1kw', 'abcdefghijkl', 'kw lab']) {
      expect(checkPrefix(bad), bad).toBeDefined();
      expect(() => planLab(bad, '/tmp/x', 0), bad).toThrow(/invalid lab prefix/);
    }
    expect(() => planLab('kw', '/tmp/x', -1)).toThrow(/out of range/);
    expect(() => planLab('kw', '/tmp/x', managementSlots())).toThrow(/out of range/);
    expect(() => planLab('kw', '/tmp/x', 1.5)).toThrow(/out of range/);
  });
});

describe('planLab with three directors', () => {
  const TRIO = planLab('kwgtrio', '/run/kawatch-lab/kwgtrio', 2, 3);

  it('keeps the pair exactly as it was: two directors, two instances, a direct secondary veth', () => {
    expect(PLAN.nodes.map((n) => n.name)).toEqual(['lb1', 'lb2']);
    expect(PLAN.instances.map((i) => [i.name, i.vrid, i.priorities])).toEqual([['VI_1', 51, { lb1: 100, lb2: 80 }], ['VI_2', 55, { lb1: 80, lb2: 100 }]]);
    expect(PLAN.secondaryLink).toBe('veth');
    expect(topologyCommands(PLAN).flat()).not.toContain(SECONDARY_BRIDGE_IFNAME);
    expect(topologyCommands(PLAN)).toContainEqual(['-n', 'kwtrender-lb1', 'link', 'add', SECONDARY_IFNAME, 'type', 'veth', 'peer', 'name', SECONDARY_IFNAME, 'netns', 'kwtrender-lb2']);
  });

  it('gives each VRID one owner and a strict order of backups, and each director one VRID to own', () => {
    expect(TRIO.nodes.map((n) => n.name)).toEqual(['lb1', 'lb2', 'lb3']);
    for (const instance of TRIO.instances) {
      const priorities = TRIO.nodes.map((n) => instance.priorities[n.name]);
      for (const p of priorities) expect(p, instance.name).toBeTypeOf('number');
      expect(new Set(priorities).size, instance.name).toBe(TRIO.nodes.length);
    }
    expect(TRIO.instances.map(masterOf).sort()).toEqual(['lb1', 'lb2', 'lb3']);
    const all = planAddresses(TRIO);
    expect(new Set(all).size).toBe(all.length);
    for (const a of all) expect(inNetwork(a, '198.18.0.0', 15), a).toBe(true);
  });

  it('puts the secondary link on its own bridge in the switch namespace, one port per director', () => {
    expect(TRIO.secondaryLink).toBe('bridge');
    const commands = topologyCommands(TRIO);
    expect(commands).toContainEqual(['-n', TRIO.switchNetns, 'link', 'add', SECONDARY_BRIDGE_IFNAME, 'type', 'bridge']);
    for (const node of TRIO.nodes) {
      expect(commands).toContainEqual(['-n', TRIO.switchNetns, 'link', 'add', node.switchPorts.secondary, 'type', 'veth', 'peer', 'name', SECONDARY_IFNAME, 'netns', node.netns]);
      expect(commands).toContainEqual(['-n', TRIO.switchNetns, 'link', 'set', node.switchPorts.secondary, 'master', SECONDARY_BRIDGE_IFNAME, 'up']);
    }
    // No direct veth between two directors.
    expect(commands.filter((c) => c[0] === '-n' && c[1] !== TRIO.switchNetns && c.includes('veth'))).toEqual([]);
  });

  it('sizes the management slot for three /30s, distinct across slots and apart from the pair layout', () => {
    const slots = managementSlots(3);
    const all = Array.from({ length: slots }, (_, slot) => managementAddresses(planLab('kwgtrio', '/tmp/x', slot, 3))).flat();
    expect(new Set(all).size).toBe(all.length);
    for (const a of all) expect(inNetwork(a, '198.18.2.0', 24), a).toBe(true);
    for (const node of TRIO.nodes) {
      for (const other of TRIO.nodes.filter((n) => n !== node)) expect(inNetwork(other.management.address, node.management.hostAddress, node.management.prefixLength)).toBe(false);
    }
    // A pair in slot 0 takes half of the first slot of three: the trio goes to the next one.
    const pair = managementAddresses(planLab('kwtrender', '/tmp/x', 0));
    expect(freeManagementSlot(pair, 3)).toBe(1);
    expect(freeManagementSlot(managementAddresses(planLab('kwgtrio', '/tmp/x', 0, 3)), 2)).toBe(2);
    expect(() => planLab('kw', '/tmp/x', slots, 3)).toThrow(/out of range/);
    expect(() => planLab('kw', '/tmp/x', 0, 4 as 3)).toThrow(/director count/);
  });

  it('knows every name a lab of any size makes, for cleaning up after a crash', () => {
    for (const plan of [planLab('kwgtrio', '/tmp/x', 0), planLab('kwgtrio', '/tmp/x', 0, 3)]) {
      const names = planNames(plan);
      const known = labNames('kwgtrio');
      for (const n of names.namespaces) expect(known.namespaces).toContain(n);
      for (const l of names.hostLinks) expect(known.hostLinks).toContain(l);
      expect(names.namespaces).toHaveLength(plan.nodes.length + 1);
    }
  });
});

describe('freeManagementSlot', () => {
  const slotAddresses = (slot: number) => managementAddresses(planLab('kwtrender', '/tmp/x', slot));

  it('takes slot 0 on a host without a lab, whatever else the host has', () => {
    expect(freeManagementSlot([])).toBe(0);
    // Only the management network counts: the primary segment lives in namespaces, not on the host.
    expect(freeManagementSlot(['127.0.0.1', '10.0.0.7', PLAN.nodes[0]!.primary.address])).toBe(0);
  });

  it('skips a slot when any one of its addresses is in use', () => {
    expect(freeManagementSlot(slotAddresses(0))).toBe(1);
    for (const address of slotAddresses(0)) expect(freeManagementSlot([address]), address).toBe(1);
  });

  it('returns the first free slot, not the one after the last used', () => {
    const used = [...slotAddresses(0), ...slotAddresses(1), ...slotAddresses(3)];
    expect(freeManagementSlot(used)).toBe(2);
  });

  it('returns undefined when every slot is in use', () => {
    const used = Array.from({ length: managementSlots() }, (_, slot) => slotAddresses(slot)).flat();
    expect(freeManagementSlot(used)).toBeUndefined();
  });
});

// ---- keepalived.conf ---------------------------------------------------------------------

describe('renderKeepalivedConf', () => {
  const lb1 = instancesOf(confOf(nodeNamed(PLAN, 'lb1')));
  const lb2 = instancesOf(confOf(nodeNamed(PLAN, 'lb2')));

  it('declares the same instances on both directors', () => {
    expect([...lb1.keys()].sort()).toEqual(['VI_1', 'VI_2']);
    expect([...lb2.keys()].sort()).toEqual(['VI_1', 'VI_2']);
  });

  it('encodes the multi-master model: VI_1 prefers lb1, VI_2 prefers lb2', () => {
    expect(lb1.get('VI_1')!.priority).toBeGreaterThan(lb2.get('VI_1')!.priority);
    expect(lb2.get('VI_2')!.priority).toBeGreaterThan(lb1.get('VI_2')!.priority);
  });

  it('gives an instance the same VRID and VIP on both directors, and each instance its own', () => {
    for (const instance of PLAN.instances) {
      const a = lb1.get(instance.name)!;
      const b = lb2.get(instance.name)!;
      expect(a.vrid).toBe(b.vrid);
      expect(a.vips).toEqual(b.vips);
      expect(a.vips).toEqual([`${instance.vip}/${instance.vipPrefixLength}`]);
    }
    expect(new Set([...lb1.values()].map((i) => i.vrid)).size).toBe(lb1.size);
    expect(new Set([...lb1.values()].flatMap((i) => i.vips)).size).toBe(lb1.size);
  });

  it('runs VRRP on the primary interface', () => {
    for (const i of [...lb1.values(), ...lb2.values()]) expect(i.iface).toBe(PRIMARY_IFNAME);
  });

  it('calls the launcher as the notify hook with the node\'s own spool', () => {
    for (const [node, instances] of [[nodeNamed(PLAN, 'lb1'), lb1], [nodeNamed(PLAN, 'lb2'), lb2]] as const) {
      for (const i of instances.values()) expect(i.notify).toEqual([LAUNCHER, 'notify', '--spool', nodePaths(node.dir).spool]);
    }
    // keepalived -t does not notice a missing script: check here that the hook can actually run.
    accessSync(LAUNCHER, constants.X_OK);
  });

  it('writes transitions to the node\'s vrrp_notify_fifo', () => {
    for (const node of PLAN.nodes) {
      expect(child(globalDefs(confOf(node)), 'vrrp_notify_fifo').args).toEqual([nodePaths(node.dir).notifyFifo]);
    }
  });

  it('refuses an instance that has no priority for the node', () => {
    const partial: LabPlan = { ...PLAN, instances: [{ ...PLAN.instances[0]!, priorities: { lb1: 100 } }] };
    expect(() => renderKeepalivedConf(partial, nodeNamed(partial, 'lb2'), { launcher: LAUNCHER })).toThrow(/no priority for lb2/);
  });
});

describe('checkScriptPath', () => {
  it('accepts the launcher and refuses what keepalived would split or unquote', () => {
    expect(checkScriptPath(LAUNCHER)).toBeUndefined();
    for (const bad of ['relative/kawatch', '/opt/my kawatch', '/opt/"kawatch"', "/opt/it's", '/opt/back\\slash', '/opt/tab\there']) {
      expect(checkScriptPath(bad), bad).toBeDefined();
    }
  });
});

// ---- kawatch.yml --------------------------------------------------------------------------

describe('renderKawatchConfig', () => {
  it('gives every director the switch as its witness, an address the topology puts on the bridge', () => {
    for (const node of PLAN.nodes) {
      const config = parseConfig(renderKawatchConfig(PLAN, node, 'demote'), `${node.name}/kawatch.yml`);
      expect(config.watchdog.witness).toEqual({ ping: PLAN.witness });
      expect(config.watchdog.policy).toBe('demote');
    }
    expect(topologyCommands(PLAN)).toContainEqual(['-n', PLAN.switchNetns, 'addr', 'add', `${PLAN.witness}/24`, 'dev', 'br0']);
  });

  for (const node of PLAN.nodes) {
    it(`is a valid config for ${node.name}, listening on its management address and wired to its keepalived`, () => {
      const config = parseConfig(renderKawatchConfig(PLAN, node), `${node.name}/kawatch.yml`);
      const paths = nodePaths(node.dir);
      expect(config.node_name).toBe(node.name);
      expect(config.listen).toBe(`${node.management.address}:${API_PORT}`);
      // What keepalived is told (hook spool, FIFO) is what the daemon reads.
      const hook = instancesOf(confOf(node)).get('VI_1')!.notify;
      expect(config.sources.hook.enabled).toBe(true);
      expect(config.sources.hook.spool_dir).toBe(hook[hook.indexOf('--spool') + 1]);
      expect(config.sources.fifo.enabled).toBe(true);
      expect(config.sources.fifo.paths).toEqual(child(globalDefs(confOf(node)), 'vrrp_notify_fifo').args);
      expect(config.keepalived.pid_file).toBe(paths.keepalivedPid);
    });
  }

  it('gives the daemon the start_command it is handed (drills with mode stop), and none otherwise', () => {
    const [node] = PLAN.nodes;
    const start = ['/usr/bin/node', '/opt/kawatch/dist/src/cli/main.js', 'lab', 'start-keepalived', '--dir', PLAN.dir, '--node', node!.name];
    expect(parseConfig(renderKawatchConfig(PLAN, node!, 'alert', undefined, start), 'lb1/kawatch.yml').watchdog.start_command).toEqual(start);
    expect(parseConfig(renderKawatchConfig(PLAN, node!), 'lb1/kawatch.yml').watchdog.start_command).toBeUndefined();
  });

  it('cross-checks the peers over the secondary link, with one secret for the pair', () => {
    const configs = PLAN.nodes.map((node) => ({ node, config: parseConfig(renderKawatchConfig(PLAN, node), `${node.name}/kawatch.yml`) }));
    for (const { node, config } of configs) {
      const others = PLAN.nodes.filter((n) => n !== node);
      expect(config.peers?.listen.split(':')[0]).toBe(node.secondary.address);
      expect(config.peers?.members.map((m) => ({ name: m.name, host: m.address.split(':')[0] }))).toEqual(others.map((n) => ({ name: n.name, host: n.secondary.address })));
      // Each member's address is where that member listens.
      for (const member of config.peers!.members) expect(member.address).toBe(configs.find((c) => c.node.name === member.name)!.config.peers!.listen);
    }
    const secrets = new Set(configs.map((c) => c.config.peers?.secret_file));
    expect(secrets.size).toBe(1);
    expect([...secrets][0]!.startsWith(`${PLAN.dir}/`)).toBe(true);
  });
});

// ---- nftables -----------------------------------------------------------------------------

/** The rule lines of an nft script: everything that ends in a verdict other than a chain policy. */
function ruleLines(script: string): string[] {
  return script
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /\b(drop|accept|reject)$/.test(l) && !l.startsWith('type '));
}

/** The split as `kawatch lab split` makes it by default, and with the secondary link cut too. */
const VRRP_SPLIT = { dropVrrpOn: PRIMARY_IFNAME };
const SPLIT_AND_CUT = { dropVrrpOn: PRIMARY_IFNAME, dropAllOn: [SECONDARY_IFNAME] };

describe('split and heal rulesets', () => {
  it('drop VRRP only, only on the given interface, both ways', () => {
    for (const ifname of [PRIMARY_IFNAME, 'eth7']) {
      const rules = ruleLines(renderSplitRuleset({ dropVrrpOn: ifname }));
      expect(rules).toHaveLength(2);
      expect(rules.filter((r) => r.startsWith(`iifname "${ifname}" `))).toHaveLength(1);
      expect(rules.filter((r) => r.startsWith(`oifname "${ifname}" `))).toHaveLength(1);
      for (const r of rules) expect(r).toMatch(/ meta l4proto vrrp drop$/);
    }
  });

  it('cut the secondary link entirely when asked, leaving the primary to VRRP-only rules', () => {
    const rules = ruleLines(renderSplitRuleset(SPLIT_AND_CUT));
    expect(rules).toHaveLength(4);
    expect(rules.filter((r) => r.includes(`"${PRIMARY_IFNAME}"`)).every((r) => r.endsWith(' meta l4proto vrrp drop'))).toBe(true);
    expect(rules.filter((r) => r.includes(`"${SECONDARY_IFNAME}"`)).sort()).toEqual([`iifname "${SECONDARY_IFNAME}" drop`, `oifname "${SECONDARY_IFNAME}" drop`]);
  });

  it('touch only the lab\'s own table', () => {
    for (const script of [renderSplitRuleset(SPLIT_AND_CUT), renderHealRuleset()]) {
      const tables = [...script.matchAll(/^(?:\w+ )?table (\w+) (\w+)/gm)].map((m) => `${m[1]} ${m[2]}`);
      expect(tables.length).toBeGreaterThan(0);
      expect(new Set(tables)).toEqual(new Set([`inet ${SPLIT_TABLE}`]));
    }
  });
});

// ---- the real nft, in a throwaway network namespace (keepalived -t: render.lab.test.ts) ----------

interface NftRule {
  chain: string;
  expr: unknown[];
}

/** The parts of nft's JSON listing (`nft -p -j list ruleset`: protocols as numbers) these tests look at. */
function rulesOf(listing: string): { tables: string[]; chains: { name: string; hook: string; policy: string }[]; rules: NftRule[] } {
  const items = (JSON.parse(listing) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
  const tables = items.filter((i) => i.table).map((i) => `${String(i.table!.family)} ${String(i.table!.name)}`);
  const chains = items.filter((i) => i.chain).map((i) => ({ name: String(i.chain!.name), hook: String(i.chain!.hook), policy: String(i.chain!.policy) }));
  const rules = items.filter((i) => i.rule).map((i) => ({ chain: String(i.rule!.chain), expr: i.rule!.expr as unknown[] }));
  return { tables, chains, rules };
}

describe('splits between two directors', () => {
  const TRIO = planLab('kwgtrio', '/run/kawatch-lab/kwgtrio', 2, 3);
  const nodes = TRIO.nodes.map((n) => ({ name: n.name, primary: n.primary.address, secondary: n.secondary.address }));
  const [lb1, lb2, lb3] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
  const lists = { split: [], cut: [], isolated: [], splitPairs: [['lb1', 'lb2'] as [string, string]], cutPairs: [['lb2', 'lb3'] as [string, string]] };

  it('make each of the pair deaf to the other only, and leave the third director out of it', () => {
    const rules1 = ruleLines(renderSplitRuleset(splitRules(lists, lb1, nodes)));
    expect(rules1).toEqual([`iifname "${PRIMARY_IFNAME}" ip saddr ${lb2.primary} meta l4proto vrrp drop`]);
    const rules2 = ruleLines(renderSplitRuleset(splitRules(lists, lb2, nodes)));
    expect(rules2.sort()).toEqual([
      `iifname "${PRIMARY_IFNAME}" ip saddr ${lb1.primary} meta l4proto vrrp drop`,
      `iifname "${SECONDARY_IFNAME}" ip saddr ${lb3.secondary} drop`,
      `oifname "${SECONDARY_IFNAME}" ip daddr ${lb3.secondary} drop`,
    ].sort());
    const rules3 = ruleLines(renderSplitRuleset(splitRules(lists, lb3, nodes)));
    expect(rules3.sort()).toEqual([`iifname "${SECONDARY_IFNAME}" ip saddr ${lb2.secondary} drop`, `oifname "${SECONDARY_IFNAME}" ip daddr ${lb2.secondary} drop`].sort());
  });

  it('name a set when a director is split from several', () => {
    const rules = ruleLines(renderSplitRuleset(splitRules({ ...lists, splitPairs: [['lb1', 'lb2'], ['lb1', 'lb3']] }, lb1, nodes)));
    expect(rules).toEqual([`iifname "${PRIMARY_IFNAME}" ip saddr { ${lb2.primary}, ${lb3.primary} } meta l4proto vrrp drop`]);
  });
});

describeWithPrereqs('split and heal rulesets under the real nft', { commands: ['nft', 'unshare'] }, () => {
  const apply = (scripts: string[]) =>
    inPrivateNetns('for f in "$@"; do nft -f "$f" || exit $?; done; nft -p -j list ruleset', scripts);
  let dir: string;
  let split: string;
  let cut: string;
  let heal: string;
  let pairs: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-nft-'));
    split = join(dir, 'split.nft');
    cut = join(dir, 'cut.nft');
    heal = join(dir, 'heal.nft');
    writeFileSync(split, renderSplitRuleset(VRRP_SPLIT));
    writeFileSync(cut, renderSplitRuleset(SPLIT_AND_CUT));
    writeFileSync(heal, renderHealRuleset());
    pairs = join(dir, 'pairs.nft');
    writeFileSync(pairs, renderSplitRuleset({ dropVrrpFrom: { ifname: PRIMARY_IFNAME, addresses: ['198.18.0.2', '198.18.0.3'] }, dropAllWith: { ifname: SECONDARY_IFNAME, addresses: ['198.18.1.3'] } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('all pass nft -c', async () => {
    for (const file of [split, cut, heal, pairs]) {
      const result = await inPrivateNetns('exec nft -c -f "$1"', [file]);
      expect(result.stderr).toBe('');
      expect(result.code, file).toBe(0);
    }
  });

  it('split installs exactly: drop IP protocol 112 in on and out of the primary interface', async () => {
    const result = await apply([split]);
    expect(result.code, result.stderr).toBe(0);
    const { tables, chains, rules } = rulesOf(result.stdout);
    expect(tables).toEqual([`inet ${SPLIT_TABLE}`]);
    expect(chains.map((c) => `${c.hook}/${c.policy}`).sort()).toEqual(['input/accept', 'output/accept']);
    const byChain = new Map(chains.map((c) => [c.name, c.hook]));
    expect(rules).toHaveLength(2);
    for (const rule of rules) {
      const direction = byChain.get(rule.chain) === 'input' ? 'iifname' : 'oifname';
      expect(rule.expr).toEqual([
        { match: { op: '==', left: { meta: { key: direction } }, right: PRIMARY_IFNAME } },
        { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 112 } },
        { drop: null },
      ]);
    }
  });

  it('a cut secondary link drops everything there, and the primary still only VRRP', async () => {
    const result = await apply([cut]);
    expect(result.code, result.stderr).toBe(0);
    const { chains, rules } = rulesOf(result.stdout);
    const byChain = new Map(chains.map((c) => [c.name, c.hook]));
    const onSecondary = rules.filter((r) => JSON.stringify(r.expr).includes(`"${SECONDARY_IFNAME}"`));
    expect(onSecondary).toHaveLength(2);
    for (const rule of onSecondary) {
      const direction = byChain.get(rule.chain) === 'input' ? 'iifname' : 'oifname';
      expect(rule.expr).toEqual([{ match: { op: '==', left: { meta: { key: direction } }, right: SECONDARY_IFNAME } }, { drop: null }]);
    }
    const others = rules.filter((r) => !onSecondary.includes(r));
    expect(others).toHaveLength(2);
    for (const rule of others) expect(rule.expr).toContainEqual({ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 112 } });
  });

  it('each split replaces the rules before it; heal removes them; heal alone is harmless', async () => {
    const twice = await apply([cut, split]);
    expect(twice.code, twice.stderr).toBe(0);
    expect(rulesOf(twice.stdout).rules).toHaveLength(2);
    const healed = await apply([cut, heal]);
    expect(healed.code, healed.stderr).toBe(0);
    expect(rulesOf(healed.stdout).tables).toEqual([]);
    const healOnly = await apply([heal, heal]);
    expect(healOnly.code, healOnly.stderr).toBe(0);
    expect(rulesOf(healOnly.stdout).tables).toEqual([]);
  });
});
