/**
 * The procfs path: `/proc/net/ip_vs` and `/proc/net/ip_vs_stats` as the kernel prints them
 * (net/netfilter/ipvs/ip_vs_ctl.c, `ip_vs_info_seq_show` and `ip_vs_stats_show`). It needs no
 * capability, which is why it is the fallback when generic netlink is refused; it knows no
 * per-service or per-backend statistics and no persistent connection counts.
 *
 * Line shapes (the kernel's format strings):
 *   IPv4 service   "%s  %08X:%04X %s %s "        proto, addr, port, scheduler, "ops " or ""
 *   IPv6 service   "%s  [%pI6]:%04X %s "         (no one-packet flag printed)
 *   FWM service    "FWM  %08X %s %s"             mark, scheduler, "ops " or ""
 *   then           "persistent %d %08X\n" or "\n" timeout in jiffies (seconds × the kernel's HZ), ntohl(netmask)
 *   destination    "  -> %08X:%04X      %-7s %-6d %-10d %-10d\n"  or "  -> [%pI6]:%04X      …"
 * Every line that does not fit is reported with FILE:LINE; destination lines are attached only to
 * the service line right above them, and to none when that line could not be read.
 */
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canonicalIp } from '../core/ip.js';
import type { ForwardingMethod, IpvsDestination, IpvsProblem, IpvsRates, IpvsService, IpvsStats, ServiceProtocol } from '../model/ipvs.js';
import { Backends, expandService, type CompactIpvsTable, type CompactService, type IpvsReader } from '../model/ipvs-backends.js';

const FORWARDING: Readonly<Record<string, ForwardingMethod>> = { Route: 'route', Masq: 'masq', Tunnel: 'tunnel', Local: 'local' };
const ADDRESS_PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);
const DESTINATION = /^ {2}-> (?:([0-9A-F]{8})|\[([0-9a-fA-F:.]{2,45})\]):([0-9A-F]{4}) +(\S+) +(-?\d{1,10}) +(-?\d{1,10}) +(-?\d{1,10}) *$/;
/** What the kernel's `%d` can print: weights and connection counts are C ints. */
const INT_MAX = 2 ** 31 - 1;
const SERVICE_ADDRESS = /^(?:([0-9A-F]{8})|\[([0-9a-fA-F:.]{2,45})\]):([0-9A-F]{4})$/;
const HEX32 = /^[0-9A-F]{1,8}$/;
const HEADER = ['IP Virtual Server version ', 'Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn'];
const PROC_FORMAT = 'PROTO  ADDR:PORT SCHEDULER [ops] [persistent TIMEOUT MASK], FWM  MARK SCHEDULER …, or "  -> ADDR:PORT FORWARD WEIGHT ACTIVE INACTIVE"';

export interface ParsedIpVs {
  services: IpvsService[];
  problems: IpvsProblem[];
}

export interface ParsedIpVsColumns {
  services: CompactService[];
  backends: Backends;
  problems: IpvsProblem[];
}

export interface ParsedIpVsStats {
  totals: IpvsStats;
  rates: IpvsRates;
  problems: IpvsProblem[];
  /** False when the file did not have its two rows of figures; totals and rates are then zeros. */
  complete: boolean;
}

function ipv4FromHex(hex: string): string {
  const n = parseInt(hex, 16);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * `%pI6` prints all eight groups in full; compressing them here is the RFC 5952 form
 * `canonicalIp` gives, without a URL parse per backend (it shows at 100k backends).
 */
export function ipv6FromFull(text: string): string | undefined {
  if (text.length !== 39) return canonicalIp(text);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) {
    const group = hexAt(text, i * 5, 4, true);
    if ((i < 7 && text.charCodeAt(i * 5 + 4) !== 58) || group < 0) return undefined;
    groups.push(group);
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) [bestStart, bestLength] = [i, end - i];
    i = end;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  return bestStart < 0 ? hex(0, 8) : `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

function address(v4hex: string | undefined, v6text: string | undefined): { family: 4 | 6; address: string } | undefined {
  if (v4hex !== undefined) return { family: 4, address: ipv4FromHex(v4hex) };
  const v6 = v6text === undefined ? undefined : ipv6FromFull(v6text);
  return v6 === undefined || v6.includes('.') ? undefined : { family: 6, address: v6 };
}

const byteSwap32 = (n: number) => (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;

/**
 * The netmask as printed: `ntohl(svc->netmask)`. For IPv6 services the field holds the prefix
 * length in host order, so a little-endian kernel prints 128 as 80000000: both orders are read.
 */
function persistenceMask(family: 4 | 6, hex: string): string | undefined {
  if (!HEX32.test(hex)) return undefined;
  const n = parseInt(hex, 16);
  if (family === 4) return ipv4FromHex(hex.padStart(8, '0'));
  const prefix = n >= 1 && n <= 128 ? n : byteSwap32(n);
  return prefix >= 1 && prefix <= 128 ? String(prefix) : undefined;
}

/** `maskHex`: the printed mask, read once the family is known (an FWM service's comes from its real servers). */
type ServiceLine = { ok: true; service: CompactService; maskHex?: string } | { ok: false; error: string };

function parseServiceLine(line: string, hz: number | undefined): ServiceLine {
  const tokens = line.trim().split(/\s+/);
  const [protocol, target, scheduler] = tokens;
  if (!protocol || !target || !scheduler) return { ok: false, error: `expected ${PROC_FORMAT}` };
  let service: CompactService;
  if (protocol === 'FWM') {
    if (!HEX32.test(target)) return { ok: false, error: `firewall mark ${JSON.stringify(target)} is not 8 hex digits` };
    // The family of an FWM service is not printed; its backends tell it (IPv4 until one does).
    service = { protocol: 'FWM', family: 4, address: '', port: 0, fwmark: parseInt(target, 16), scheduler, flags: [], first: 0, count: 0 };
  } else if (ADDRESS_PROTOCOLS.has(protocol)) {
    const m = SERVICE_ADDRESS.exec(target);
    const addr = m && address(m[1], m[2]);
    if (!m || !addr) return { ok: false, error: `service address ${JSON.stringify(target)} is neither HEX8:PORT nor [IPv6]:PORT` };
    service = { protocol: protocol as ServiceProtocol, ...addr, port: parseInt(m[3]!, 16), fwmark: 0, scheduler, flags: [], first: 0, count: 0 };
  } else {
    return { ok: false, error: `protocol ${JSON.stringify(protocol)} is not TCP, UDP, SCTP or FWM` };
  }
  let rest = tokens.slice(3);
  if (rest[0] === 'ops') {
    service.flags.push('one-packet');
    rest = rest.slice(1);
  }
  let maskHex: string | undefined;
  if (rest[0] === 'persistent') {
    const timeout = rest[1] !== undefined && /^\d{1,10}$/.test(rest[1]) && Number(rest[1]) <= INT_MAX ? Number(rest[1]) : undefined;
    maskHex = rest[2];
    const netmask = maskHex === undefined ? undefined : persistenceMask(service.family, maskHex);
    if (timeout === undefined || netmask === undefined || rest.length !== 3) {
      return { ok: false, error: `expected "persistent TIMEOUT MASK" (jiffies, then 8 hex digits), got ${JSON.stringify(rest.join(' '))}` };
    }
    service.persistence = hz === undefined ? { netmask } : { timeoutSeconds: Math.round(timeout / hz), netmask };
    rest = [];
  }
  if (rest.length > 0) return { ok: false, error: `unexpected ${JSON.stringify(rest.join(' '))} after the scheduler, expected [ops] [persistent TIMEOUT MASK]` };
  return { ok: true, service, maskHex };
}

/**
 * `key` tells real servers of one service apart without a string per line: an IPv4 one is its
 * address × 65536 + port, an IPv6 one its text.
 */
type DestinationLine = { ok: true; destination: IpvsDestination; key: number | string } | { ok: false; error: string };

/** The value of `length` upper-case (or, with `lower`, any case) hex digits at `from`, or -1 (the kernel prints %08X/%04X, and %pI6 in lower case). */
function hexAt(line: string, from: number, length: number, lower = false): number {
  let n = 0;
  for (let i = from; i < from + length; i++) {
    const c = line.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : lower && c >= 97 && c <= 102 ? c - 87 : -1;
    if (digit < 0) return -1;
    n = n * 16 + digit;
  }
  return n;
}

const SPACE = 32;

const METHODS = ['Route', 'Masq', 'Tunnel', 'Local'] as const;

/**
 * A real server line exactly as ip_vs_info_seq_show prints it, read by position in the file's
 * text (`from` to `to`, the newline) into the next row of `backends`; its key, or undefined. At 100k real
 * servers a regular expression per line (its match array and seven captures), and then a string
 * and an object per line, were most of the read. Anything else, or anything out of range, is left
 * to `destinationByPattern` (undefined), which gives the same result for every line this accepts and says
 * what is wrong with the others. Reads past `to` meet the newline, which no check accepts.
 */
function destinationByPosition(text: string, from: number, to: number, backends: Backends): number | string | undefined {
  let v6: string | undefined;
  let address = 0;
  let at: number;
  if (text.charCodeAt(from + 5) === 91) {
    // "  -> [" the 39 characters of %pI6 "]:" HEX4, then blanks
    if (text.charCodeAt(from + 45) !== 93 || text.charCodeAt(from + 46) !== 58) return undefined;
    v6 = ipv6FromFull(text.slice(from + 6, from + 45));
    if (v6 === undefined || v6.includes('.')) return undefined;
    at = from + 47;
  } else {
    // "  -> " HEX8 ":" HEX4, then blanks
    if (text.charCodeAt(from + 13) !== 58) return undefined;
    address = hexAt(text, from + 5, 8);
    if (address < 0) return undefined;
    at = from + 14;
  }
  const port = hexAt(text, at, 4);
  at += 4;
  if (port < 0 || text.charCodeAt(at) !== SPACE) return undefined;
  while (text.charCodeAt(at) === SPACE) at++;
  let method = -1;
  for (let m = 0; m < METHODS.length; m++) {
    const name = METHODS[m]!;
    if (text.startsWith(name, at) && text.charCodeAt(at + name.length) === SPACE) {
      method = m;
      at += name.length;
      break;
    }
  }
  if (method < 0) return undefined;
  let weight = 0;
  let active = 0;
  for (let f = 0; f < 3; f++) {
    if (text.charCodeAt(at) !== SPACE) return undefined;
    while (text.charCodeAt(at) === SPACE) at++;
    let n = 0;
    const start = at;
    for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at)) n = n * 10 + (c - 48);
    if (at === start || at - start > 10 || n > INT_MAX) return undefined;
    if (f === 0) weight = n;
    else if (f === 1) active = n;
    else {
      while (text.charCodeAt(at) === SPACE) at++;
      if (at !== to) return undefined;
      // METHODS is in FORWARDING_METHODS order.
      backends.stage(v6 === undefined ? 4 : 6, v6 === undefined ? address : backends.intern(v6), port, method, weight, active, n);
    }
  }
  return v6 === undefined ? address * 65536 + port : `${v6} port ${port}`;
}

/**
 * Any real server line (`from` to `to` of `text`) into the next row of `backends`, to be committed
 * by the caller: the kernel's IPVS shape by position, everything else by the pattern. Its key, or
 * what is wrong with it.
 */
export function stageDestinationLine(text: string, from: number, to: number, backends: Backends): number | string | { error: string } {
  const key = destinationByPosition(text, from, to, backends);
  if (key !== undefined) return key;
  const parsed = destinationByPattern(text.slice(from, to));
  if (!parsed.ok) return { error: parsed.error };
  backends.stageObject(parsed.destination);
  return parsed.key;
}

/** One real server line as the reference model reads it, through the columns (what the parse does per line). */
export function parseDestinationLine(line: string): DestinationLine {
  const backends = new Backends(1);
  const key = stageDestinationLine(line, 0, line.length, backends);
  return typeof key === 'object' ? { ok: false, error: key.error } : { ok: true, destination: backends.destination(0), key };
}

/** The reference reading of a real server line, and the one that explains a line that does not fit. */
export function destinationByPattern(line: string): DestinationLine {
  const m = DESTINATION.exec(line);
  if (!m) return { ok: false, error: `expected "  -> ADDR:PORT FORWARD WEIGHT ACTIVE INACTIVE" in the kernel's format` };
  const v6 = m[1] === undefined ? ipv6FromFull(m[2]!) : undefined;
  if (m[1] === undefined && (v6 === undefined || v6.includes('.'))) return { ok: false, error: `real server address [${m[2]}] is not an IPv6 address` };
  const forwarding = Object.hasOwn(FORWARDING, m[4]!) ? FORWARDING[m[4]!] : undefined;
  const [weight, active, inactive] = [Number(m[5]), Number(m[6]), Number(m[7])];
  if (weight < 0 || weight > INT_MAX || active < 0 || active > INT_MAX || inactive < 0 || inactive > INT_MAX) {
    return { ok: false, error: `weight ${m[5]}, active ${m[6]} and inactive ${m[7]} connections must be integers 0..${INT_MAX}` };
  }
  if (!forwarding) return { ok: false, error: `forwarding method ${JSON.stringify(m[4])} is not Route, Masq, Tunnel or Local` };
  const port = parseInt(m[3]!, 16);
  return {
    ok: true,
    destination: { family: v6 === undefined ? 4 : 6, address: v6 ?? ipv4FromHex(m[1]!), port, forwarding, weight, activeConnections: active, inactiveConnections: inactive },
    key: v6 === undefined ? parseInt(m[1]!, 16) * 65536 + port : `${v6} port ${port}`,
  };
}

/** The identity the kernel keeps unique; a torn read of a changing table can repeat a service. */
const serviceIdentity = (s: CompactService) => `${s.family} ${s.protocol} ${s.address} ${s.port} ${s.fwmark}`;

/**
 * `/proc/net/ip_vs` → services, their real servers in columns; `file` names the file in problems.
 * `hz` is the kernel's tick rate, which turns the printed persistence timeouts into seconds;
 * without it they are unknown. `capacity`: real servers to make room for (the previous read's).
 */
export function parseIpVsColumns(text: string, file: string, hz?: number, capacity?: number): ParsedIpVsColumns {
  const problems: IpvsProblem[] = [];
  const services: CompactService[] = [];
  const backends = new Backends(capacity);
  const seenServices = new Set<string>();

  let current: CompactService | undefined;
  let currentMask: string | undefined;
  let currentLine = 0;
  let seenDestinations = new Set<number | string>();
  /** Why real server lines that follow have no service: set by a service line that was refused. */
  let refusedService: string | undefined;
  /** Real server lines with no service to belong to: reported once per run, never attached. */
  let orphans: { from: number; to: number; reason: string } | undefined;
  const closeOrphans = () => {
    if (!orphans) return;
    const { from, to, reason } = orphans;
    const count = to - from + 1;
    problems.push({ where: count === 1 ? `${file}:${from}` : `${file}:${from}-${to}`, message: `${count} real server line${count === 1 ? '' : 's'} left out: ${reason}` });
    orphans = undefined;
  };
  const closeService = () => {
    if (!current) return;
    current.count = backends.length - current.first;
    if (current.protocol === 'FWM' && current.count > 0 && backends.family[current.first] === 6) {
      current.family = 6;
      if (current.persistence) {
        const prefix = persistenceMask(6, currentMask!);
        if (prefix === undefined) problems.push({ where: `${file}:${currentLine}`, message: `persistence mask ${currentMask} of an IPv6 firewall-mark service is no prefix length; shown as ''` });
        current.persistence.netmask = prefix ?? '';
      }
    }
    // procfs prints no family for a firewall-mark service: only its real servers tell it. One
    // without any may be the IPv6 (or IPv4) twin of another on the same mark, so it is never taken
    // for a repeat; it adds nothing to the sums its labels share.
    const identity = current.protocol === 'FWM' && current.count === 0 ? undefined : serviceIdentity(current);
    if (identity === undefined) {
      services.push(current);
    } else if (seenServices.has(identity)) {
      problems.push({ where: `${file}:${currentLine}`, message: 'firewall-mark service listed twice (the table changed during the read); the first one is kept' });
      // Its rows are the last ones: they go with it.
      backends.length = current.first;
    } else {
      seenServices.add(identity);
      services.push(current);
    }
    current = undefined;
  };

  // Line by line without splitting, and real server lines without a string each: an array of
  // 100k lines would outlive the parse in the old generation.
  for (let i = 0, start = 0; start < text.length; i++) {
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? text.length : newline;
    const from = start;
    start = newline < 0 ? text.length : newline + 1;
    const header = HEADER[i];
    if (header !== undefined) {
      if (!text.startsWith(header, from) || end - from < header.length) problems.push({ where: `${file}:${i + 1}`, message: `expected the header line ${JSON.stringify(header.trim())}` });
      continue;
    }
    if (text.startsWith('  -> ', from) && end - from >= 5) {
      if (!current) {
        if (orphans) orphans.to = i + 1;
        else orphans = { from: i + 1, to: i + 1, reason: refusedService ?? 'no service line before them' };
        continue;
      }
      const key = stageDestinationLine(text, from, end, backends);
      if (typeof key === 'object') {
        problems.push({ where: `${file}:${i + 1}`, message: `${key.error}, got ${JSON.stringify(text.slice(from, Math.min(end, from + 160)))}` });
        continue;
      }
      if (seenDestinations.has(key)) {
        problems.push({
          where: `${file}:${i + 1}`,
          message: `real server ${backends.addressText(backends.length)} port ${backends.port[backends.length]} is listed twice for the same service (the table changed during the read); the first line is kept`,
        });
        continue;
      }
      seenDestinations.add(key);
      backends.commit();
      continue;
    }
    const line = text.slice(from, end);
    closeOrphans();
    closeService();
    seenDestinations = new Set();
    refusedService = undefined;
    if (line.trim() === '') {
      problems.push({ where: `${file}:${i + 1}`, message: 'unexpected empty line' });
      continue;
    }
    const parsed = parseServiceLine(line, hz);
    if (!parsed.ok) {
      problems.push({ where: `${file}:${i + 1}`, message: `${parsed.error}; line ${JSON.stringify(line.slice(0, 160))}` });
      refusedService = `the service line at ${`${file}:${i + 1}`} above them could not be read`;
    } else if (parsed.service.protocol !== 'FWM' && seenServices.has(serviceIdentity(parsed.service))) {
      problems.push({ where: `${file}:${i + 1}`, message: 'service listed twice (the table changed during the read); the first one is kept' });
      refusedService = `they belong to the repeated service at ${`${file}:${i + 1}`}`;
    } else {
      current = parsed.service;
      current.first = backends.length;
      currentMask = parsed.maskHex;
      currentLine = i + 1;
    }
  }
  closeOrphans();
  closeService();
  return { services, backends, problems };
}

/** `/proc/net/ip_vs` → services with their real servers as objects (the reference model). */
export function parseIpVs(text: string, file: string, hz?: number): ParsedIpVs {
  const { services, backends, problems } = parseIpVsColumns(text, file, hz);
  return { services: services.map((s) => expandService(s, backends)), problems };
}

/** The kernel's %8LX/%16LX: at most 16 hex digits, a 64-bit counter. */
const FIGURES = /^\s*[0-9A-F]{1,16}(?:\s+[0-9A-F]{1,16}){4}\s*$/;

/** `/proc/net/ip_vs_stats`: the totals row (`%8LX %8LX %8LX %16LX %16LX`), then the estimator rates row. */
export function parseIpVsStats(text: string, file: string): ParsedIpVsStats {
  const rows: { line: number; values: string[] }[] = [];
  text.split('\n').forEach((line, i) => {
    if (FIGURES.test(line)) rows.push({ line: i + 1, values: line.trim().split(/\s+/) });
  });
  const zeroRates: IpvsRates = { connectionsPerSecond: 0, incomingPacketsPerSecond: 0, outgoingPacketsPerSecond: 0, incomingBytesPerSecond: 0, outgoingBytesPerSecond: 0 };
  const zeroTotals: IpvsStats = { connections: 0n, incomingPackets: 0n, outgoingPackets: 0n, incomingBytes: 0n, outgoingBytes: 0n };
  if (rows.length !== 2) {
    return {
      totals: zeroTotals,
      rates: zeroRates,
      complete: false,
      problems: [{ where: `${file}:1`, message: `expected two rows of five hex figures (totals, then rates per second), found ${rows.length}` }],
    };
  }
  const [totals, rates] = rows.map((row) => row.values.map((v) => BigInt(`0x${v}`))) as [bigint[], bigint[]];
  return {
    totals: { connections: totals[0]!, incomingPackets: totals[1]!, outgoingPackets: totals[2]!, incomingBytes: totals[3]!, outgoingBytes: totals[4]! },
    rates: {
      connectionsPerSecond: Number(rates[0]),
      incomingPacketsPerSecond: Number(rates[1]),
      outgoingPacketsPerSecond: Number(rates[2]),
      incomingBytesPerSecond: Number(rates[3]),
      outgoingBytesPerSecond: Number(rates[4]),
    },
    complete: true,
    problems: [],
  };
}

/** `CONFIG_HZ=N` of a kernel's build configuration. */
export function configHz(config: string): number | undefined {
  const m = /^CONFIG_HZ=(\d{1,5})$/m.exec(config);
  // The kernel's choices are 100..1000; anything outside 1..10000 is not a tick rate.
  return m && Number(m[1]) >= 1 && Number(m[1]) <= 10_000 ? Number(m[1]) : undefined;
}

/**
 * The running kernel's HZ, from its build configuration: `/boot/config-RELEASE` as distributions
 * install it, else `<procfs>/config.gz` (CONFIG_IKCONFIG_PROC). Nothing in /proc or sysconf tells it
 * otherwise (USER_HZ is not the kernel's HZ).
 */
export async function kernelHz(procfs: string): Promise<number | undefined> {
  const fromBoot = await readFile(`/boot/config-${release()}`, 'utf8').then(configHz, () => undefined);
  if (fromBoot !== undefined) return fromBoot;
  // zlib only here, and only on kernels that install no /boot/config: the idle daemon does without it.
  return readFile(join(procfs, 'config.gz'))
    .then(async (gz) => promisify((await import('node:zlib')).gunzip)(gz))
    .then((config) => configHz(config.toString('utf8')), () => undefined);
}

/** Reads `<procfs>/net/ip_vs` and `<procfs>/net/ip_vs_stats` at every call. */
export class ProcfsReader implements IpvsReader {
  readonly path = 'procfs';
  private readonly tableFile: string;
  private readonly statsFile: string;
  private hz?: Promise<number | undefined>;
  /** Real servers of the last read: the next one makes room for as many at once. */
  private lastBackends = 0;

  /** `hz`: the kernel's tick rate when known (configuration); otherwise read from the kernel's build configuration once. */
  constructor(
    private readonly procfs: string,
    hz?: number,
  ) {
    this.tableFile = join(procfs, 'net/ip_vs');
    this.statsFile = join(procfs, 'net/ip_vs_stats');
    if (hz !== undefined) this.hz = Promise.resolve(hz);
  }

  async read(): Promise<CompactIpvsTable> {
    // One after the other, so a kernel without IPVS is always told by the same file.
    const read = (file: string) =>
      readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'ENOENT' ? new Error(`${file} does not exist: no IPVS in this kernel (is the ip_vs module loaded?)`) : err;
      });
    const table = await read(this.tableFile);
    const stats = await read(this.statsFile);
    this.hz ??= kernelHz(this.procfs);
    const parsed = parseIpVsColumns(table, this.tableFile, await this.hz, this.lastBackends);
    this.lastBackends = parsed.backends.length;
    const totals = parseIpVsStats(stats, this.statsFile);
    return {
      services: parsed.services,
      backends: parsed.backends,
      totals: totals.totals,
      totalRates: totals.rates,
      problems: [...parsed.problems, ...totals.problems],
      ...(totals.complete ? {} : { totalsUnknown: true }),
    };
  }
}
