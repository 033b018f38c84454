import { digestOf, DumpError, parseVip } from './dump.js';
import { VRRP_SCRIPT_STATES, VRRP_STAT_KEYS, type DumpGroup, type DumpInstance, type Vip, type VrrpScriptState, type VrrpScriptStatus, type VrrpStatKey, type VrrpStats } from '../model/vrrp.js';
import { checkName } from './report.js';
import type { VrrpState } from '../model/vrrp.js';

/**
 * keepalived's text dumps — `keepalived.data` (DATA signal, SIGUSR1) and `keepalived.stats` (STATS
 * signal, SIGUSR2) — read into the same instances the JSON dump gives, for keepalived built without
 * JSON (CentOS 7's 1.3.5, RHEL 8's 2.1.5). One pass over the lines, no backtracking patterns: linear in
 * the size of the input, whatever it holds.
 *
 * The formats, from the sources: 1.3.5 vrrp/vrrp_print.c (vrrp_print(), vrrp_print_stats()); from 2.0
 * vrrp/vrrp_data.c dump_vrrp() and vrrp/vrrp_print.c vrrp_print_stats(). The VIP header reads
 * `Virtual IP = 2` up to 2.0, `Virtual IP :` in 2.1 and `Virtual IP (2):` from 2.2.5; the interface is
 * `Listening device` in 1.3.5 and `Interface` from 2.0.
 */

export class TextDumpError extends DumpError {
  override name = 'TextDumpError';
}

export interface TextDumpOptions {
  dataFile?: string;
  statsFile?: string;
  /** As for parseDump: a keyed digest of the authentication settings; the password goes no further. */
  digestAuth?: (material: string) => string;
  /** As for parseDump: keepalived.conf's settings per instance, for a dump that masks the password. */
  confAuth?: ReadonlyMap<string, string>;
}

// vrrp_data.c get_state_str(); 1.3.5 vrrp_print.c prints the same names.
const STATES: Record<string, VrrpState> = { INIT: 'INIT', BACKUP: 'BACKUP', MASTER: 'MASTER', FAULT: 'FAULT' };
// vrrp.h VRRP_AUTH_NONE 0, VRRP_AUTH_PASS 1, VRRP_AUTH_AH 2, as the JSON dump's auth_type.
const AUTH_TYPES: Record<string, number> = { none: 0, SIMPLE_PASSWORD: 1, IPSEC_AH: 2 };

// keepalived.stats lines, as GROUP/KEY (or KEY for the ungrouped ones), to the JSON dump's names.
const STAT_BY_PATH: Record<string, VrrpStatKey> = {
  'Advertisements/Received': 'advert_rcvd',
  'Advertisements/Sent': 'advert_sent',
  'Became master': 'become_master',
  'Released master': 'release_master',
  'Packet Errors/Length': 'packet_len_err',
  'Packet Errors/TTL': 'ip_ttl_err',
  'Packet Errors/Invalid Type': 'invalid_type_rcvd',
  'Packet Errors/Advertisement Interval': 'advert_interval_err',
  'Packet Errors/Address List': 'addr_list_err',
  'Authentication Errors/Invalid Type': 'invalid_authtype',
  'Authentication Errors/Type Mismatch': 'authtype_mismatch',
  'Authentication Errors/Failure': 'auth_failure',
  'Priority Zero/Received': 'pri_zero_rcvd',
  'Priority Zero/Sent': 'pri_zero_sent',
};

interface Line {
  text: string;
  number: number;
  indent: number;
}

function lines(text: string): Line[] {
  return text.split('\n').map((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    let indent = 0;
    while (line.charCodeAt(indent) === 32) indent++;
    return { text: line, number: i + 1, indent };
  });
}

/** `------< VRRP Topology >------` → "VRRP Topology"; anything else → undefined. */
function sectionName(text: string): string | undefined {
  if (!text.startsWith('------< ') || !text.endsWith(' >------')) return undefined;
  return text.slice('------< '.length, text.length - ' >------'.length);
}

/** `   Key = value` → [Key, value] (the first ` = ` splits: values may hold one). */
function keyValue(text: string): [string, string] | undefined {
  const at = text.indexOf(' = ');
  return at < 0 ? undefined : [text.slice(0, at).trim(), text.slice(at + 3).trim()];
}

const DIGITS = /^\d+$/;
const DECIMAL = /^\d+(?:\.\d+)?$/;

interface VipHeader {
  excluded: boolean;
  /** The count the header announces; null when it announces none. */
  expected: number | null;
}

/**
 * The `Virtual IP` and `Virtual IP Excluded` headers in their three spellings (`= 2` up to 2.0,
 * ` :` in 2.1, `(2):` from 2.2.5) → which list follows and the count it announces.
 */
function vipHeader(text: string): VipHeader | undefined {
  let t = text.trim();
  if (!t.startsWith('Virtual IP ')) return undefined;
  t = t.slice('Virtual IP '.length);
  const excluded = t.startsWith('Excluded ');
  if (excluded) t = t.slice('Excluded '.length);
  if (t === ':') return { excluded, expected: null };
  if (t.startsWith('(') && t.endsWith('):')) {
    const n = t.slice(1, -2);
    return DIGITS.test(n) ? { excluded, expected: Number(n) } : undefined;
  }
  if (t.startsWith('= ')) {
    const n = t.slice(2);
    return DIGITS.test(n) ? { excluded, expected: Number(n) } : undefined;
  }
  return undefined;
}

const noTopology = (file: string) =>
  new TextDumpError(`${file}: no "------< VRRP Topology >------" section; expected keepalived's keepalived.data (written on the DATA signal, SIGUSR1)`);

interface InstanceDraft {
  name: string;
  line: number;
  fields: Map<string, { value: string; line: number }>;
  vips: Vip[];
  excludedVips: Vip[];
}

export function parseTextDump(data: string, stats: string | undefined, options: TextDumpOptions = {}): DumpInstance[] {
  const dataFile = options.dataFile ?? 'keepalived.data';
  const drafts = readTopology(data, dataFile);
  const statsByName = stats === undefined ? undefined : readStats(stats, options.statsFile ?? 'keepalived.stats');
  if (statsByName) {
    const names = new Set(drafts.map((d) => d.name));
    for (const name of statsByName.keys()) {
      if (!names.has(name)) {
        throw new TextDumpError(
          `${options.statsFile ?? 'keepalived.stats'}: instance ${name} is not in ${dataFile}; the two dumps are from different configurations (a reload in between): dump both again`,
        );
      }
    }
    // keepalived prints the counters of every instance it runs: one missing is a write not yet finished.
    for (const name of names) {
      if (!statsByName.has(name)) {
        throw new TextDumpError(`${options.statsFile ?? 'keepalived.stats'}: no counters for instance ${name} of ${dataFile}; an incomplete write is retried`);
      }
    }
  }
  const scripts = parseTextScripts(data, dataFile);
  return drafts.map((draft) => ({ ...toInstance(draft, dataFile, statsByName?.get(draft.name), options), scripts: scripts.get(draft.name) ?? [] }));
}

interface ScriptDraft {
  name: string;
  line: number;
  status?: string;
  state?: string;
  /** 2.2+: `Init state = INIT` until the first run ends, when Status already says BAD. */
  initState?: string;
  /** The instances that track it. */
  trackers: string[];
}

/** The headers of a script's list of tracking instances: `VRRP instances = 1` (2.0), `VRRP instances :`, `Tracking instances :` (2.1+). */
const TRACKERS_HEADER = /^(?:VRRP|Tracking) instances(?: = \d+| :)$/;

/**
 * The `vrrp_script`s and their verdicts, by the instance that tracks them. 1.3.5 prints each
 * tracked script inside its instance (` VRRP Script = NAME` among the instance's lines); 2.0 and
 * later print them once, in `------< VRRP Scripts >------`, each with the instances tracking it.
 * Read beside the JSON dump too, which has no verdicts.
 */
export function parseTextScripts(text: string, file = 'keepalived.data'): Map<string, VrrpScriptStatus[]> {
  if (!lines(text).some((l) => sectionName(l.text) === 'VRRP Topology')) throw noTopology(file);
  const byInstance = new Map<string, VrrpScriptStatus[]>();
  let section: string | undefined;
  let instance: string | undefined;
  let script: ScriptDraft | undefined;
  let listing = false;
  const finish = () => {
    if (!script) return;
    const error = checkName(script.name, 'vrrp_script');
    if (error) throw new TextDumpError(`${file}:${script.line}: ${error}`);
    const status: VrrpScriptStatus = { name: script.name };
    // 1.3.5 also says INIT, INIT/GOOD, INIT/FAILED and DISABLED, 2.0 and 2.1 INIT before the first run
    // ends, 2.2+ BAD then with `Init state = INIT` (vrrp_data.c dump_vscript()): no verdict to export.
    const answered = script.initState !== 'INIT' && script.initState !== 'INIT/RELOAD';
    if (answered && (script.status === 'GOOD' || script.status === 'BAD')) status.good = script.status === 'GOOD';
    if (script.state !== undefined && (VRRP_SCRIPT_STATES as readonly string[]).includes(script.state)) status.state = script.state as VrrpScriptState;
    for (const tracker of new Set(script.trackers)) byInstance.set(tracker, [...(byInstance.get(tracker) ?? []), status]);
    script = undefined;
  };
  for (const line of lines(text)) {
    const name = sectionName(line.text);
    if (name !== undefined) {
      finish();
      section = name;
      instance = undefined;
      continue;
    }
    if (section !== 'VRRP Topology' && section !== 'VRRP Scripts') continue;
    if (line.indent === 1 && line.text.startsWith(' VRRP Instance = ')) {
      finish();
      instance = line.text.slice(' VRRP Instance = '.length).trim();
      continue;
    }
    if (line.indent === 1 && line.text.startsWith(' VRRP Script = ')) {
      finish();
      const inline = section === 'VRRP Topology';
      // Inside an instance (1.3.5) only a tracked script is printed, and its tracker is that instance.
      if (inline && instance === undefined) continue;
      script = { name: line.text.slice(' VRRP Script = '.length).trim(), line: line.number, trackers: inline ? [instance!] : [] };
      listing = false;
      continue;
    }
    if (!script) continue;
    if (line.indent === 3) {
      const t = line.text.trim();
      listing = section === 'VRRP Scripts' && TRACKERS_HEADER.test(t);
      const kv = keyValue(line.text);
      if (kv?.[0] === 'Status') script.status ??= kv[1];
      if (kv?.[0] === 'State') script.state ??= kv[1];
      if (kv?.[0] === 'Init state') script.initState ??= kv[1];
    } else if (line.indent === 5 && listing) {
      // `VI_2, weight 5`
      const tracker = line.text.trim().split(',')[0]!.trim();
      if (tracker !== '') script.trackers.push(tracker);
    }
  }
  finish();
  return byInstance;
}

/**
 * The sync groups of keepalived.data (`------< VRRP Sync groups >------`), with the state keepalived
 * holds for each: ` VRRP Sync Group = NAME, STATE`, then its members, listed as `   monitor = VI_1`
 * (1.3.5 vrrp_print.c vgroup_print()) or under `   VRRP member instances = 2` (2.0) / ` :` (2.1+,
 * vrrp_data.c dump_vrrp_sync_group(): get_state_str(), INIT, BACKUP, MASTER or FAULT). keepalived
 * drops a group of one member at start, so a dump lists only groups of two or more.
 *
 * 1.3.5 prints MASTER or else BACKUP, whatever the group's state: there a group that is not MASTER is
 * FAULT when one of its members (`instances`, of the same dump) is, as vrrp_sync.c vrrp_sync_fault()
 * makes it, and BACKUP otherwise.
 */
export function parseTextGroups(text: string, instances: readonly Pick<DumpInstance, 'name' | 'state'>[], file = 'keepalived.data'): DumpGroup[] {
  const drafts: { name: string; line: number; state: string; members: string[]; legacy: boolean }[] = [];
  let section: string | undefined;
  let listing = false;
  for (const line of lines(text)) {
    const name = sectionName(line.text);
    if (name !== undefined) {
      section = name;
      continue;
    }
    if (section !== 'VRRP Sync groups') continue;
    const group = drafts.at(-1);
    if (line.indent === 1 && line.text.startsWith(' VRRP Sync Group = ')) {
      const rest = line.text.slice(' VRRP Sync Group = '.length);
      const comma = rest.lastIndexOf(', ');
      const groupName = comma < 0 ? '' : rest.slice(0, comma).trim();
      const error = comma < 0 ? 'expected "VRRP Sync Group = NAME, STATE"' : checkName(groupName, 'vrrp_sync_group');
      if (error) throw new TextDumpError(`${file}:${line.number}: "${line.text.trim()}": ${error}`);
      if (drafts.some((d) => d.name === groupName)) throw new TextDumpError(`${file}:${line.number}: sync group ${groupName} appears twice`);
      drafts.push({ name: groupName, line: line.number, state: rest.slice(comma + 2).trim(), members: [], legacy: false });
      listing = false;
    } else if (group && line.indent === 3) {
      const t = line.text.trim();
      listing = t.startsWith('VRRP member instances');
      if (t.startsWith('monitor = ')) {
        group.legacy = true;
        group.members.push(t.slice('monitor = '.length).trim());
      }
    } else if (group && line.indent === 5 && listing) {
      group.members.push(line.text.trim());
    }
  }
  const stateOf = new Map(instances.map((i) => [i.name, i.state]));
  return drafts.map((d) => {
    let state = STATES[d.state];
    if (!state) throw new TextDumpError(`${file}:${d.line}: sync group ${d.name} has state "${d.state}"; expected one of ${Object.keys(STATES).join(', ')}`);
    if (d.legacy && state === 'BACKUP' && d.members.some((m) => stateOf.get(m) === 'FAULT')) state = 'FAULT';
    return { name: d.name, state, members: d.members };
  });
}

function readTopology(text: string, file: string): InstanceDraft[] {
  const drafts: InstanceDraft[] = [];
  const names = new Set<string>();
  let section: string | undefined;
  let current: InstanceDraft | undefined;
  let sawTopology = false;
  // The VIP list being read: entries are indented deeper than their header.
  let vipList: { header: Line; announced: VipHeader; vips: Vip[] } | undefined;
  const closeVipList = () => {
    if (!vipList || !current) return;
    const { expected, excluded } = vipList.announced;
    if (expected !== null && expected !== vipList.vips.length) {
      throw new TextDumpError(
        `${file}:${vipList.header.number}: "${vipList.header.text.trim()}" announces ${expected} VIPs but ${vipList.vips.length} follow; an incomplete write is retried`,
      );
    }
    if (excluded) current.excludedVips = vipList.vips;
    else current.vips = vipList.vips;
    vipList = undefined;
  };

  for (const line of lines(text)) {
    const name = sectionName(line.text);
    if (name !== undefined) {
      closeVipList();
      section = name;
      current = undefined;
      sawTopology ||= name === 'VRRP Topology';
      continue;
    }
    if (section !== 'VRRP Topology') continue;
    if (vipList) {
      if (line.indent > vipList.header.indent && line.text.trim() !== '') {
        const vip = parseVip(line.text);
        if (!vip) throw new TextDumpError(`${file}:${line.number}: "${line.text.trim()}" is not a VIP (expected ADDRESS[/PREFIX] [dev IFACE] ...)`);
        vipList.vips.push(vip);
        continue;
      }
      closeVipList();
    }
    if (line.indent === 1 && line.text.startsWith(' VRRP Instance = ')) {
      const instanceName = line.text.slice(' VRRP Instance = '.length).trim();
      if (instanceName === '') throw new TextDumpError(`${file}:${line.number}: a VRRP Instance line without a name`);
      if (names.has(instanceName)) throw new TextDumpError(`${file}:${line.number}: instance ${instanceName} appears twice`);
      current = { name: instanceName, line: line.number, fields: new Map(), vips: [], excludedVips: [] };
      drafts.push(current);
      names.add(instanceName);
      continue;
    }
    if (!current || line.indent !== 3) continue;
    const announced = vipHeader(line.text);
    if (announced !== undefined) {
      vipList = { header: line, announced, vips: [] };
      continue;
    }
    const kv = keyValue(line.text);
    // The first value wins: 1.3.5 prints tracked scripts' own settings inside the instance, after its own.
    if (kv && !current.fields.has(kv[0])) current.fields.set(kv[0], { value: kv[1], line: line.number });
  }
  closeVipList();
  if (!sawTopology) throw noTopology(file);
  return drafts;
}

function toInstance(draft: InstanceDraft, file: string, stats: VrrpStats | undefined, options: TextDumpOptions): DumpInstance {
  const where = (key: string) => `${file}:${draft.fields.get(key)?.line ?? draft.line}`;
  const raw = (key: string) => draft.fields.get(key)?.value;
  const required = (key: string) => {
    const value = raw(key);
    if (value === undefined) throw new TextDumpError(`${file}:${draft.line}: instance ${draft.name} has no "${key} = ..." line`);
    return value;
  };
  const integer = (key: string, max: number, value = raw(key)): number | undefined => {
    if (value === undefined) return undefined;
    if (!DIGITS.test(value) || Number(value) > max) throw new TextDumpError(`${where(key)}: ${key} "${value}" is not a whole number from 0 to ${max}`);
    return Number(value);
  };

  const stateText = required('State');
  const state = STATES[stateText];
  if (!state) throw new TextDumpError(`${where('State')}: instance ${draft.name} has state "${stateText}"; expected one of ${Object.keys(STATES).join(', ')}`);
  const vrid = integer('Virtual Router ID', 255, required('Virtual Router ID'))!;
  if (vrid < 1) throw new TextDumpError(`${where('Virtual Router ID')}: Virtual Router ID 0; expected 1 to 255`);

  // "Interface = eth0" or, with a VMAC, "Interface = vrrp.51, vmac on eth0".
  const iface = (raw('Interface') ?? raw('Listening device'))?.split(',')[0]!.trim() || undefined;

  const advert = raw('Advert interval');
  let advertInterval: number | undefined;
  if (advert !== undefined) {
    const [amount = '', unit] = advert.split(' ');
    if (!DIGITS.test(amount) || (unit !== 'sec' && unit !== 'milli-sec')) {
      throw new TextDumpError(`${where('Advert interval')}: Advert interval "${advert}"; expected "N sec" or "N milli-sec"`);
    }
    advertInterval = unit === 'sec' ? Number(amount) : Number(amount) / 1000;
  }

  const preempt = raw('Preempt');
  if (preempt !== undefined && preempt !== 'enabled' && preempt !== 'disabled') {
    throw new TextDumpError(`${where('Preempt')}: Preempt "${preempt}"; expected enabled or disabled`);
  }

  const authText = raw('Authentication type');
  const authType = authText === undefined ? undefined : AUTH_TYPES[authText];
  if (authText !== undefined && authType === undefined) {
    throw new TextDumpError(`${where('Authentication type')}: Authentication type "${authText}"; expected ${Object.keys(AUTH_TYPES).join(', ')}`);
  }
  const password = raw('Password');

  // "Last transition = 1796167222.473853 (Tue Dec  1 23:20:22 2026.473853)"; 1.3.5 without the fraction.
  const transition = raw('Last transition')?.split(' ')[0];
  if (transition !== undefined && !DECIMAL.test(transition)) {
    throw new TextDumpError(`${where('Last transition')}: Last transition "${transition}" is not epoch seconds`);
  }

  return {
    name: draft.name,
    vrid,
    interface: iface,
    state,
    basePriority: integer('Priority', 255),
    effectivePriority: integer('Effective priority', 255),
    lastTransition: transition === undefined ? undefined : Number(transition),
    advertInterval,
    nopreempt: preempt === undefined ? undefined : preempt === 'disabled',
    authType,
    // A masked password would give every director the same digest: keepalived.conf's settings, or none.
    authDigest: digestOf(options.digestAuth, `${authType ?? 0}:${password ?? ''}`, options.confAuth?.get(draft.name)),
    garpDelay: integer('Gratuitous ARP delay', Number.MAX_SAFE_INTEGER),
    scriptsAwaited: integer('Number of track scripts init', Number.MAX_SAFE_INTEGER),
    vips: draft.vips.map((v) => ({ ...v, dev: v.dev ?? iface })),
    excludedVips: draft.excludedVips.map((v) => ({ ...v, dev: v.dev ?? iface })),
    stats,
  };
}

function readStats(text: string, file: string): Map<string, VrrpStats> {
  const byName = new Map<string, VrrpStats>();
  let current: { name: string; line: number; values: Partial<VrrpStats> } | undefined;
  let group: string | undefined;
  const finish = () => {
    if (!current) return;
    const missing = VRRP_STAT_KEYS.filter((k) => current!.values[k] === undefined);
    if (missing.length > 0) {
      throw new TextDumpError(`${file}:${current.line}: instance ${current.name} lacks ${missing.join(', ')}; an incomplete write is retried`);
    }
    byName.set(current.name, current.values as VrrpStats);
  };
  for (const line of lines(text)) {
    if (line.text.trim() === '') continue;
    if (line.indent === 0) {
      if (!line.text.startsWith('VRRP Instance: ')) {
        throw new TextDumpError(`${file}:${line.number}: "${line.text.slice(0, 60)}" where a "VRRP Instance: NAME" line belongs; expected keepalived's keepalived.stats`);
      }
      finish();
      const name = line.text.slice('VRRP Instance: '.length).trim();
      if (byName.has(name) || name === '') throw new TextDumpError(`${file}:${line.number}: instance "${name}" ${name ? 'appears twice' : 'has no name'}`);
      current = { name, line: line.number, values: {} };
      group = undefined;
      continue;
    }
    if (!current) throw new TextDumpError(`${file}:${line.number}: counters before any "VRRP Instance: NAME" line`);
    const colon = line.text.indexOf(':');
    if (colon < 0) continue;
    const key = line.text.slice(0, colon).trim();
    const value = line.text.slice(colon + 1).trim();
    if (value === '') {
      if (line.indent === 2) group = key;
      continue;
    }
    const stat = STAT_BY_PATH[line.indent === 2 ? key : `${group}/${key}`];
    if (!stat) continue; // counters later releases add, which the JSON dump's shape has no place for
    if (!DIGITS.test(value)) throw new TextDumpError(`${file}:${line.number}: ${key} "${value}" is not a counter`);
    current.values[stat] = Number(value);
  }
  finish();
  return byName;
}

/**
 * The instances a text dump shows as MASTER though keepalived has not made them MASTER yet: 1.3.5
 * sets the state at "Transition to MASTER STATE" and counts the transition (become_master, Last
 * transition, the VIPs) only at "Entering MASTER STATE", a moment later, so a dump in between
 * would tell a transition keepalived has not made. Against the previous dump of the same
 * keepalived: MASTER now, not then, and become_master unchanged. Without one, none is known.
 */
export function halfMadeMasters(previous: readonly DumpInstance[] | undefined, current: readonly DumpInstance[]): string[] {
  if (!previous) return [];
  const before = new Map(previous.map((i) => [i.name, i]));
  return current
    .filter((i) => {
      const was = before.get(i.name);
      return i.state === 'MASTER' && was !== undefined && was.state !== 'MASTER' && i.stats !== undefined && was.stats !== undefined && i.stats.become_master === was.stats.become_master;
    })
    .map((i) => i.name);
}
