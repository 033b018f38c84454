import type { VrrpVerdict } from './facts.js';

/**
 * Whether a firewall drops VRRP (IP protocol 112), judged conservatively: a chain "drops VRRP" only
 * when a rule clearly matches it (by protocol, or everything on an interface) with drop or reject
 * before anything could accept it, or when the chain's policy is drop and no rule could accept it.
 * A rule this reading does not understand (addresses, marks, jumps) counts as one that might accept.
 */

/** One rule as far as VRRP is concerned. */
interface RuleView {
  /** `vrrp`: matches protocol 112 (maybe among others); `other`: cannot match VRRP; `any`: no protocol condition. */
  proto: 'vrrp' | 'other' | 'any';
  iface?: string;
  /** Conditions this reading does not evaluate. */
  unknownMatches: boolean;
  verdict: 'accept' | 'drop' | 'continue' | 'other';
  /** How to name the rule to its owner. */
  label: string;
}

interface ChainView {
  label: string;
  policy: 'accept' | 'drop';
  rules: RuleView[];
  /** The command that inserts an accept for VRRP at the head of the chain. */
  acceptCommand: string;
}

function judgeChain(chain: ChainView): string | undefined {
  let mightAccept = false;
  for (const rule of chain.rules) {
    if (rule.proto === 'other') continue;
    const clear = !rule.unknownMatches;
    if (rule.verdict === 'drop' && clear) return `${chain.label}: ${rule.label} drops VRRP${rule.iface ? ` on ${rule.iface}` : ''}`;
    if (rule.verdict === 'accept' && clear && !rule.iface) return undefined;
    if (rule.verdict === 'accept' || rule.verdict === 'other') mightAccept = true;
  }
  return chain.policy === 'drop' && !mightAccept ? `${chain.label}: policy drop, and no rule accepts VRRP` : undefined;
}

function judgeChains(chains: ChainView[]): VrrpVerdict {
  const drops = chains.flatMap((chain) => {
    const where = judgeChain(chain);
    return where ? [{ where, fix: chain.acceptCommand }] : [];
  });
  if (drops.length === 0) return { dropped: false };
  return { dropped: true, where: drops.map((d) => d.where).join('; '), fix: drops.map((d) => d.fix).join(' && ') };
}

const VRRP_NAMES = new Set(['vrrp', '112']);
/** conntrack states a VRRP advert never has: multicast gets no reply, so every advert is NEW. */
const NOT_VRRP_STATES = new Set(['established', 'related']);

function values(right: unknown): string[] {
  if (Array.isArray(right)) return right.flatMap(values);
  if (right && typeof right === 'object' && 'set' in right) return values((right as { set: unknown }).set);
  return typeof right === 'string' || typeof right === 'number' ? [String(right).toLowerCase()] : ['?'];
}

type NftExpr = Record<string, unknown>;
interface NftMatch {
  op: string;
  left: { meta?: { key: string }; payload?: { protocol?: string; field?: string }; ct?: { key: string } };
  right: unknown;
}

function nftRuleView(expr: NftExpr[], label: string): RuleView {
  const view: RuleView = { proto: 'any', unknownMatches: false, verdict: 'continue', label };
  for (const statement of expr) {
    const [kind] = Object.keys(statement);
    if (kind === 'match') {
      const match = statement.match as NftMatch;
      const positive = match.op === '==' || match.op === 'in';
      const meta = match.left.meta?.key;
      const payload = match.left.payload;
      const matched = values(match.right);
      if (positive && (meta === 'l4proto' || (payload?.protocol === 'ip' && payload.field === 'protocol'))) {
        view.proto = matched.some((v) => VRRP_NAMES.has(v)) ? 'vrrp' : 'other';
      } else if (positive && (meta === 'iifname' || meta === 'oifname')) {
        if (matched.length === 1 && matched[0] === 'lo') view.proto = 'other';
        else view.iface = matched.join(',');
      } else if (positive && match.left.ct?.key === 'state' && matched.every((v) => NOT_VRRP_STATES.has(v))) {
        view.proto = 'other';
      } else if (positive && payload?.protocol !== undefined && !['ip', 'ether'].includes(payload.protocol)) {
        // A tcp/udp/icmp/ip6 header field: the rule only sees that protocol.
        view.proto = 'other';
      } else {
        view.unknownMatches = true;
      }
    } else if (kind === 'accept') view.verdict = 'accept';
    else if (kind === 'drop' || kind === 'reject') view.verdict = 'drop';
    else if (kind === 'jump' || kind === 'goto' || kind === 'return' || kind === 'queue') view.verdict = 'other';
    else if (kind === 'limit' || kind === 'quota') view.unknownMatches = true;
    // counter, log, comment and the like change nothing.
  }
  return view;
}

interface NftChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  type?: string;
  policy?: string;
}
interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  expr: NftExpr[];
}

const VRRP_HOOKS = new Set(['prerouting', 'input', 'output', 'postrouting']);

/** `nft -j list ruleset` output; base chains of the ip and inet families on the paths VRRP takes. */
export function judgeNftRuleset(json: unknown): VrrpVerdict {
  const items = (json as { nftables?: Array<Record<string, unknown>> }).nftables;
  if (!Array.isArray(items)) throw new Error('not the output of nft -j list ruleset (no "nftables" array)');
  const chains = items.flatMap((i) => (i.chain ? [i.chain as NftChain] : []));
  const rules = items.flatMap((i) => (i.rule ? [i.rule as NftRule] : []));
  const views = chains
    .filter((c) => (c.family === 'ip' || c.family === 'inet') && c.type === 'filter' && c.hook !== undefined && VRRP_HOOKS.has(c.hook))
    .map(
      (c): ChainView => ({
        label: `nftables ${c.family} ${c.table} chain ${c.name} (hook ${c.hook})`,
        policy: c.policy === 'drop' ? 'drop' : 'accept',
        rules: rules
          .filter((r) => r.family === c.family && r.table === c.table && r.chain === c.name)
          .map((r) => nftRuleView(r.expr, `rule handle ${r.handle}${r.comment ? ` (${r.comment})` : ''}`)),
        acceptCommand: `nft insert rule ${c.family} ${c.table} ${c.name} meta l4proto vrrp accept`,
      }),
    );
  return judgeChains(views);
}

function iptablesRuleView(args: string[], label: string): RuleView {
  const view: RuleView = { proto: 'any', unknownMatches: false, verdict: 'continue', label };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1]?.toLowerCase() ?? '';
    if (arg === '!') {
      view.unknownMatches = true;
      i++;
    } else if (arg === '-p') {
      view.proto = VRRP_NAMES.has(next) ? 'vrrp' : 'other';
      i++;
    } else if (arg === '-i' || arg === '-o') {
      if (next === 'lo') view.proto = 'other';
      else view.iface = args[i + 1];
      i++;
    } else if (arg === '-j') {
      view.verdict = next === 'accept' ? 'accept' : next === 'drop' || next === 'reject' ? 'drop' : 'other';
      i++;
    } else if ((arg === '--ctstate' || arg === '--state') && next.split(',').every((s) => NOT_VRRP_STATES.has(s))) {
      view.proto = 'other';
      i++;
    } else if (arg === '-m' && (next === 'conntrack' || next === 'state' || next === 'comment')) {
      i++;
    } else if (arg === '--comment') {
      i++;
    } else if (arg.startsWith('-')) {
      view.unknownMatches = true;
    }
  }
  return view;
}

/** Splits one iptables-save line into words, honouring its double quotes (comments). */
function words(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** `iptables-legacy-save` output: the filter table's INPUT and OUTPUT chains. */
export function judgeIptablesSave(text: string, command = 'iptables-legacy'): VrrpVerdict {
  const chains = new Map<string, ChainView>();
  let table = '';
  let ruleNumber = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      ruleNumber = new Map();
    } else if (table === 'filter' && line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (name === 'INPUT' || name === 'OUTPUT') {
        chains.set(name, { label: `${command} filter chain ${name}`, policy: policy === 'DROP' ? 'drop' : 'accept', rules: [], acceptCommand: `${command} -I ${name} -p vrrp -j ACCEPT` });
      }
    } else if (table === 'filter' && line.startsWith('-A ')) {
      const [, name, ...args] = words(line);
      const chain = chains.get(name ?? '');
      if (!chain) continue;
      const number = (ruleNumber.get(chain.label) ?? 0) + 1;
      ruleNumber.set(chain.label, number);
      chain.rules.push(iptablesRuleView(args, `rule ${number} (${line.trim()})`));
    }
  }
  return judgeChains([...chains.values()]);
}
