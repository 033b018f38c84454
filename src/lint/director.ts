import { canonicalIp } from '../core/ip.js';
import type { ConfNode, ParsedConf } from '../keepalived/conf/ast.js';

/** What one director's keepalived.conf says about VRRP and LVS, for the rules that compare. */
export interface Instance {
  name: string;
  node: ConfNode;
  vrid?: number;
  state?: string;
  priority?: number;
  advertInt?: number;
  interface?: string;
  auth?: { type: string; pass: string; node: ConfNode };
  /** Canonical address/prefix of each VIP, sorted. */
  vips: string[];
  notify: boolean;
  /** Canonical unicast_src_ip, when set. */
  unicastSrc?: string;
  /** Canonical unicast_peer addresses; undefined when the instance uses multicast. */
  unicastPeers?: string[];
  /** `@ID` when the whole instance is conditional configuration. */
  condition?: string;
}

export interface VirtualServer {
  /** `IP PORT` or `fwmark N` or `group NAME`, with the protocol. */
  key: string;
  node: ConfNode;
  scheduler?: string;
  method?: string;
  realServers: string[];
}

export interface Director {
  /** The file, or FILE@ID when one file is read for several config-ids (`@ID` lines). */
  name: string;
  instances: Instance[];
  virtualServers: VirtualServer[];
  strict: boolean;
}

export function first(node: ConfNode, keyword: string): ConfNode | undefined {
  return node.children?.find((c) => c.keyword === keyword);
}

function numberOf(node: ConfNode | undefined): number | undefined {
  const text = node?.args[0];
  if (text === undefined || !/^-?\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** `10.0.0.1/24 dev eth0 label x` → `10.0.0.1/24` (prefix /32 or /128 made explicit). */
export function vipKey(entry: ConfNode): string {
  const [addr = entry.keyword, prefix] = entry.keyword.split('/');
  const ip = canonicalIp(addr) ?? addr;
  return `${ip}/${prefix ?? (ip.includes(':') ? '128' : '32')}`;
}

function instanceOf(node: ConfNode): Instance {
  const inst: Instance = { name: node.args[0] ?? '', node, vips: [], notify: false };
  const vrid = numberOf(first(node, 'virtual_router_id'));
  if (vrid !== undefined) inst.vrid = vrid;
  const state = first(node, 'state')?.args[0];
  if (state !== undefined) inst.state = state;
  const priority = numberOf(first(node, 'priority'));
  if (priority !== undefined) inst.priority = priority;
  const advert = numberOf(first(node, 'advert_int'));
  if (advert !== undefined) inst.advertInt = advert;
  const iface = first(node, 'interface')?.args[0];
  if (iface !== undefined) inst.interface = iface;
  const auth = first(node, 'authentication');
  if (auth) inst.auth = { type: first(auth, 'auth_type')?.args[0] ?? '', pass: (first(auth, 'auth_pass')?.args[0] ?? '').slice(0, 8), node: auth };
  inst.vips = (first(node, 'virtual_ipaddress')?.children ?? []).map(vipKey).sort();
  inst.notify = (node.children ?? []).some((c) => c.keyword.startsWith('notify'));
  const src = first(node, 'unicast_src_ip')?.args[0];
  if (src !== undefined) inst.unicastSrc = canonicalIp(src) ?? src;
  const peers = first(node, 'unicast_peer')?.children;
  if (peers && peers.length > 0) inst.unicastPeers = peers.map((p) => canonicalIp(p.keyword) ?? p.keyword);
  if (node.condition !== undefined) inst.condition = node.condition;
  return inst;
}

function virtualServerOf(node: ConfNode): VirtualServer {
  const protocol = (first(node, 'protocol')?.args[0] ?? 'TCP').toUpperCase();
  const [a = '', b = ''] = node.args;
  const address = a === 'fwmark' || a === 'group' ? `${a} ${b}` : `${canonicalIp(a) ?? a} ${b}`.trim();
  const vs: VirtualServer = {
    key: `${address} ${protocol}`,
    node,
    realServers: (node.children ?? [])
      .filter((c) => c.keyword === 'real_server')
      .map((c) => `${canonicalIp(c.args[0] ?? '') ?? c.args[0]} ${c.args[1] ?? ''} weight ${first(c, 'weight')?.args[0] ?? '1'}`.trim())
      .sort(),
  };
  const scheduler = (first(node, 'lvs_sched') ?? first(node, 'lb_algo'))?.args[0];
  if (scheduler !== undefined) vs.scheduler = scheduler;
  const method = (first(node, 'lvs_method') ?? first(node, 'lb_kind'))?.args[0];
  if (method !== undefined) vs.method = method;
  return vs;
}

export function directorOf(name: string, conf: ParsedConf): Director {
  const globals = conf.nodes.filter((n) => n.keyword === 'global_defs');
  return {
    name,
    instances: conf.nodes.filter((n) => n.keyword === 'vrrp_instance').map(instanceOf),
    virtualServers: conf.nodes.filter((n) => n.keyword === 'virtual_server').map(virtualServerOf),
    strict: globals.some((g) => first(g, 'vrrp_strict') !== undefined),
  };
}
