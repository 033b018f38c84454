import { canonicalIp, zoneOf } from '../core/ip.js';
import type { ConfNode, ParsedConf } from '../keepalived/conf/ast.js';
import { DEPRECATED, REMOVED, SECTIONS, childSection, nearest, sectionsKnowing } from '../keepalived/conf/keywords.js';
import { excerpt } from '../keepalived/conf/excerpt.js';
import { finding, type Finding } from './finding.js';
import { first, type Director } from './director.js';

/** Findings about one file on its own: keywords, values, and combinations keepalived rejects. */

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const METHODS = ['NAT', 'DR', 'TUN'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const STATES = ['MASTER', 'BACKUP'];
const AUTH_TYPES = ['PASS', 'AH'];

function show(section: string): string {
  return section === '' ? 'the top level' : section.split('/').pop() as string;
}

/** Operators coming from nginx or C end statements with ';': keepalived keeps it in the value. */
function semicolon(text: string | undefined): string {
  return text?.endsWith(';') ? "remove the ';' (keepalived has no statement terminator); " : '';
}

function oneOf(node: ConfNode, allowed: readonly string[], what: string, out: Finding[]): void {
  const value = node.args[0];
  if (value !== undefined && allowed.includes(value)) return;
  const guess = value === undefined ? undefined : nearest(value, allowed);
  out.push(
    finding(
      'invalid-value',
      node,
      value === undefined ? `${node.keyword} without a value` : `unknown ${what} '${excerpt(value)}' for ${node.keyword}`,
      `${semicolon(value)}${guess ? `did you mean ${guess}? ` : ''}use one of ${allowed.join(' ')}`,
    ),
  );
}

function integerIn(node: ConfNode, min: number, max: number, out: Finding[], index = 0): void {
  const text = node.args[index];
  const n = Number(text);
  if (text !== undefined && /^-?\d+$/.test(text) && n >= min && n <= max) return;
  out.push(finding('invalid-value', node, `${node.keyword} '${excerpt(text ?? '')}' is not an integer in ${min}..${max}`, `${semicolon(text)}give ${node.keyword} a whole number from ${min} to ${max}`));
}

function positiveNumber(node: ConfNode, out: Finding[]): void {
  const text = node.args[0];
  if (text !== undefined && /^\d+(\.\d+)?$/.test(text) && Number(text) > 0) return;
  out.push(finding('invalid-value', node, `${node.keyword} '${excerpt(text ?? '')}' is not a positive number of seconds`, `${semicolon(text)}e.g. ${node.keyword} 1`));
}

/** keepalived reads addresses with inet_pton(3): no zone id, no host name. */
function address(node: ConfNode, text: string | undefined, what: string, out: Finding[]): void {
  const addr = text?.split('/')[0];
  if (addr !== undefined && canonicalIp(addr) !== undefined) return;
  const zone = addr === undefined ? undefined : zoneOf(addr);
  out.push(
    zone === undefined
      ? finding('invalid-value', node, `${what} '${excerpt(text ?? '')}' is not an IP address`, 'write an IPv4 or IPv6 address, e.g. 192.0.2.10')
      : finding('invalid-value', node, `${what} '${excerpt(text ?? '')}' carries a zone id (%${excerpt(zone)}): keepalived reads addresses with inet_pton, which refuses it, and skips the address`, `drop '%${excerpt(zone)}' and name the interface with dev ${excerpt(zone)} (or the instance's interface)`),
  );
}

/** Value checks keyed by section and keyword. */
const VALUE_RULES: Readonly<Record<string, (node: ConfNode, out: Finding[]) => void>> = {
  'vrrp_instance/state': (n, o) => oneOf(n, STATES, 'state', o),
  'vrrp_instance/priority': (n, o) => integerIn(n, 1, 255, o),
  'vrrp_instance/virtual_router_id': (n, o) => integerIn(n, 1, 255, o),
  'vrrp_instance/advert_int': (n, o) => positiveNumber(n, o),
  'vrrp_instance/unicast_src_ip': (n, o) => address(n, n.args[0], 'unicast_src_ip', o),
  'vrrp_instance/mcast_src_ip': (n, o) => address(n, n.args[0], 'mcast_src_ip', o),
  'vrrp_instance/authentication/auth_type': (n, o) => oneOf(n, AUTH_TYPES, 'auth_type', o),
  'vrrp_instance/authentication/auth_pass': (n, o) => {
    // The value itself is a secret: never echoed.
    if ((n.args[0] ?? '').length > 8) {
      o.push(finding('auth-pass-truncated', n, `auth_pass is ${(n.args[0] ?? '').length} characters; keepalived uses only the first 8`, 'shorten auth_pass to at most 8 characters, the same on every director'));
    }
  },
  'vrrp_instance/virtual_ipaddress': (n, o) => {
    for (const entry of n.children ?? []) address(entry, entry.keyword, 'virtual_ipaddress entry', o);
  },
  'vrrp_instance/unicast_peer': (n, o) => {
    for (const entry of n.children ?? []) address(entry, entry.keyword, 'unicast_peer', o);
  },
  'vrrp_script/weight': (n, o) => integerIn(n, -254, 254, o),
  'vrrp_script/interval': (n, o) => positiveNumber(n, o),
  'virtual_server/lb_algo': (n, o) => oneOf(n, SCHEDULERS, 'scheduler', o),
  'virtual_server/lvs_sched': (n, o) => oneOf(n, SCHEDULERS, 'scheduler', o),
  'virtual_server/lb_kind': (n, o) => oneOf(n, METHODS, 'forwarding method', o),
  'virtual_server/lvs_method': (n, o) => oneOf(n, METHODS, 'forwarding method', o),
  'virtual_server/real_server/lvs_method': (n, o) => oneOf(n, METHODS, 'forwarding method', o),
  'virtual_server/protocol': (n, o) => oneOf(n, PROTOCOLS, 'protocol', o),
  'virtual_server/delay_loop': (n, o) => positiveNumber(n, o),
  'virtual_server/persistence_timeout': (n, o) => integerIn(n, 0, 2678400, o),
  'virtual_server/sorry_server': (n, o) => {
    address(n, n.args[0], 'sorry_server', o);
    if (n.args[1] !== undefined) integerIn(n, 0, 65535, o, 1);
  },
  'virtual_server/real_server/weight': (n, o) => integerIn(n, 0, 2147483647, o),
  'virtual_server/real_server/delay_loop': (n, o) => positiveNumber(n, o),
};

const CHECKER_VALUE_RULES: Readonly<Record<string, (node: ConfNode, out: Finding[]) => void>> = {
  connect_port: (n, o) => integerIn(n, 1, 65535, o),
  connect_timeout: (n, o) => positiveNumber(n, o),
  delay_before_retry: (n, o) => positiveNumber(n, o),
  retry: (n, o) => integerIn(n, 0, 2147483647, o),
};

function headerRules(node: ConfNode, section: string, out: Finding[]): void {
  if (section === 'virtual_server') {
    const [a, b] = node.args;
    if (a === 'fwmark') integerIn(node, 1, 4294967295, out, 1);
    else if (a !== 'group') {
      address(node, a, 'virtual_server address', out);
      if (b !== undefined) integerIn(node, 0, 65535, out, 1);
    }
  } else if (section === 'virtual_server/real_server') {
    address(node, node.args[0], 'real_server address', out);
    if (node.args[1] !== undefined) integerIn(node, 0, 65535, out, 1);
  }
}

function unknownKeyword(node: ConfNode, section: string, known: ReadonlySet<string>, out: Finding[]): void {
  const removed = REMOVED[section]?.[node.keyword];
  if (removed) {
    out.push(finding('unknown-keyword', node, `${node.keyword} is not read in ${show(section)} by keepalived 2.x (ignored)`, `use ${removed.replacement}`));
    return;
  }
  if (node.keyword.startsWith('//')) {
    out.push(finding('unknown-keyword', node, `'//' does not start a comment in keepalived: '${excerpt(node.keyword)}' is read as a keyword`, 'start comments with # or !'));
    return;
  }
  const guess = nearest(node.keyword, known);
  const elsewhere = sectionsKnowing(node.keyword, section).map(show);
  const guessDeprecated = guess === undefined ? undefined : DEPRECATED[section]?.[guess];
  const fix = guess
    ? `did you mean ${guess}?${guessDeprecated ? ` (deprecated: better ${guessDeprecated.replacement})` : ''}`
    : elsewhere.length > 0
      ? `${excerpt(node.keyword)} belongs in ${[...new Set(elsewhere)].slice(0, 3).join(' or ')}, not in ${show(section)}`
      : `remove it, or see keepalived.conf(5) for what ${show(section)} accepts`;
  out.push(finding('unknown-keyword', node, `unknown keyword '${excerpt(node.keyword)}' in ${show(section)} (keepalived ignores it)`, fix));
}

/** What the keepalived version linted for reads beyond (or instead of) the tables of 2.2.7. */
export type Accepts = (section: string, keyword: string) => boolean;

function walk(nodes: ConfNode[], section: string, out: Finding[], accepts: Accepts | undefined): void {
  const spec = SECTIONS.get(section);
  if (!spec || spec.list) return;
  for (const node of nodes) {
    if (node.keyword === '{') continue;
    if (!spec.keywords.has(node.keyword)) {
      // The version's own table says whether it reads the keyword there; its tables are per
      // top-level block, so a keyword known to be gone from this very section stays refused.
      if (REMOVED[section]?.[node.keyword] || !accepts?.(section, node.keyword)) unknownKeyword(node, section, spec.keywords, out);
      continue;
    }
    const slashes = node.args.find((a) => a.startsWith('//'));
    if (slashes !== undefined) {
      out.push(finding('not-a-comment', node, `'${excerpt(slashes)}' after ${node.keyword} is not a comment: keepalived reads it as a value`, 'start comments with # or !'));
    }
    const deprecated = DEPRECATED[section]?.[node.keyword];
    // Deprecated only where the replacement exists: vrrp_track_file is the one spelling of 2.0.
    const replacement = deprecated?.replacement.split(' ')[0];
    if (deprecated && (accepts === undefined || (replacement !== undefined && accepts(section, replacement)))) out.push(finding('deprecated-keyword', node, `${node.keyword} is deprecated`, `use ${deprecated.replacement}`));
    const path = childSection(section, node.keyword);
    headerRules(node, path, out);
    VALUE_RULES[path]?.(node, out);
    if (section.startsWith('virtual_server/real_server/')) CHECKER_VALUE_RULES[node.keyword]?.(node, out);
    if (node.children) walk(node.children, path, out, accepts);
  }
}

function instanceRules(director: Director, out: Finding[]): void {
  const byVrid = new Map<string, ConfNode>();
  for (const inst of director.instances) {
    const node = inst.node;
    if (inst.vrid === undefined && !first(node, 'virtual_router_id')) {
      out.push(finding('missing-keyword', node, `vrrp_instance ${excerpt(inst.name)} has no virtual_router_id: keepalived refuses it`, 'add virtual_router_id N (1..255), the same on every director of the instance'));
    }
    const unicast = first(node, 'unicast_peer');
    if (inst.interface === undefined && !unicast) {
      out.push(finding('missing-keyword', node, `vrrp_instance ${excerpt(inst.name)} has no interface`, 'add interface IFNAME (the link the directors share)'));
    }
    if (inst.interface === undefined) {
      for (const vip of first(node, 'virtual_ipaddress')?.children ?? []) {
        if (!vip.args.includes('dev')) {
          out.push(finding('vip-without-interface', vip, `VIP ${excerpt(vip.keyword)} names no dev and vrrp_instance ${excerpt(inst.name)} has no interface`, `append dev IFNAME to the VIP or set interface on ${excerpt(inst.name)}`));
        }
      }
    }
    const nopreempt = first(node, 'nopreempt');
    if (nopreempt && inst.state === 'MASTER') {
      out.push(finding('nopreempt-master', nopreempt, `nopreempt with state MASTER in ${excerpt(inst.name)}: keepalived ignores nopreempt`, 'set state BACKUP on every director of the instance and let priority decide'));
    }
    const unicastOnly = ['unicast_src_ip', 'unicast_ttl', 'unicast_fault_no_peer', 'check_unicast_src'].map((k) => first(node, k)).find((n) => n !== undefined);
    if (unicastOnly && (!unicast || (unicast.children ?? []).length === 0)) {
      out.push(finding('unicast-without-peer', unicastOnly, `${unicastOnly.keyword} in ${excerpt(inst.name)} without unicast peers: keepalived falls back to multicast`, 'list the other directors in unicast_peer { ADDRESS }'));
    }
    if (director.strict) strictRules(inst.name, node, out);
    if (inst.vrid !== undefined && inst.condition === undefined) {
      const key = `${inst.interface ?? ''} ${inst.vrid} ${inst.vips[0]?.includes(':') ? 6 : 4}`;
      const other = byVrid.get(key);
      if (other) {
        out.push(finding('duplicate-vrid', first(node, 'virtual_router_id') ?? node, `vrrp_instance ${excerpt(inst.name)} reuses virtual_router_id ${inst.vrid} of ${excerpt(other.args[0] ?? '')} (${other.file}:${other.line}) on ${inst.interface ?? 'the same interface'}`, 'give each instance on one link its own virtual_router_id'));
      } else byVrid.set(key, node);
    }
  }
}

function strictRules(name: string, node: ConfNode, out: Finding[]): void {
  const conflict = (at: ConfNode, what: string, fix: string) =>
    out.push(finding('strict-mode-conflict', at, `vrrp_strict: ${what} in ${excerpt(name)}`, fix));
  const auth = first(node, 'authentication');
  if (auth) conflict(auth, 'authentication is not supported', 'remove the authentication block, or vrrp_strict');
  const peers = first(node, 'unicast_peer');
  if (peers) conflict(peers, 'unicast peers are not allowed', 'use multicast, or remove vrrp_strict');
  const delay = first(node, 'preempt_delay');
  if (delay) conflict(delay, 'preempt_delay is not supported', 'remove preempt_delay, or vrrp_strict');
  if ((first(node, 'virtual_ipaddress')?.children ?? []).length === 0) conflict(node, 'an instance needs at least one VIP', 'add a virtual_ipaddress');
  const state = first(node, 'state');
  if (state?.args[0] === 'MASTER' && first(node, 'priority')?.args[0] !== '255') {
    conflict(state, 'state MASTER needs priority 255', 'set state BACKUP, or priority 255 on the address owner');
  }
}

function virtualServerRules(director: Director, out: Finding[]): void {
  for (const vs of director.virtualServers) {
    const hasReal = (vs.node.children ?? []).some((c) => c.keyword === 'real_server');
    if (!hasReal && !first(vs.node, 'sorry_server')) {
      out.push(finding('missing-keyword', vs.node, `virtual_server ${excerpt(vs.node.args.join(' '))} has no real_server`, 'add real_server ADDRESS PORT { … } blocks (or a sorry_server)'));
    }
  }
}

export function fileFindings(conf: ParsedConf, director: Director, accepts?: Accepts): Finding[] {
  const out: Finding[] = [];
  for (const p of conf.problems) {
    const f = finding('parse-error', p, p.message, p.fix ?? 'fix the syntax at this line');
    if (p.severity === 'warning') f.severity = 'warning';
    out.push(f);
  }
  walk(conf.nodes, '', out, accepts);
  instanceRules(director, out);
  virtualServerRules(director, out);
  return out;
}
