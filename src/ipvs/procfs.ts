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
import { open, readFile } from 'node:fs/promises';
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

/** The value of hex digit `c` (a character code, either case), or -1. */
const hexDigit = (c: number) => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);

/** Room for the RFC 5952 text of an IPv6 address: eight groups of four and their colons. */
const v6Text = Buffer.alloc(39);

/**
 * The 39 bytes of `%pI6` at `from` (all eight groups in full, either case) as the RFC 5952 text
 * `canonicalIp` gives, or undefined. Written from the printed digits without a number, array or
 * string per group, and without a URL parse: at 100k real servers all of these showed.
 */
function ipv6At(bytes: Uint8Array, from: number): string | undefined {
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    const at = from + g * 5;
    if (g < 7 && bytes[at + 4] !== 58) return undefined;
    let zero = true;
    for (let i = at; i < at + 4; i++) {
      const digit = hexDigit(bytes[i]!);
      if (digit < 0) return undefined;
      if (digit !== 0) zero = false;
    }
    if (!zero) runStart = -1;
    else if (runStart < 0) runStart = g;
    if (zero && g + 1 - runStart > bestLength) [bestStart, bestLength] = [runStart, g + 1 - runStart];
  }
  let out = 0;
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      v6Text[out++] = 58;
      v6Text[out++] = 58;
      g += bestLength - 1;
      continue;
    }
    if (out > 0 && v6Text[out - 1] !== 58) v6Text[out++] = 58;
    const at = from + g * 5;
    let i = at;
    while (i < at + 3 && bytes[i] === 48) i++;
    // Lower case, as the kernel prints it and canonicalIp gives it: digits are unchanged by the bit.
    for (; i < at + 4; i++) v6Text[out++] = bytes[i]! | 0x20;
  }
  return v6Text.toString('latin1', 0, out);
}

/** `%pI6` prints all eight groups in full; anything else is left to `canonicalIp`. */
export function ipv6FromFull(text: string): string | undefined {
  if (text.length !== 39) return canonicalIp(text);
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length === 39 ? ipv6At(bytes, 0) : undefined;
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
 * `key` tells real servers of one service apart: an IPv4 one is its address × 65536 + port, an
 * IPv6 one its text.
 */
type DestinationLine = { ok: true; destination: IpvsDestination; key: number | string } | { ok: false; error: string };

const SPACE = 32;
const NEWLINE = 10;

/** The value of `length` upper-case hex digits at `from` (the kernel prints %08X/%04X), or -1. */
function hexAt(bytes: Uint8Array, from: number, length: number): number {
  let n = 0;
  for (let i = from; i < from + length; i++) {
    const c = bytes[i]!;
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (digit < 0) return -1;
    n = n * 16 + digit;
  }
  return n;
}

/** The forwarding methods as printed, in FORWARDING_METHODS order. */
const METHODS = ['Route', 'Masq', 'Tunnel', 'Local'].map((name) => Buffer.from(name, 'latin1'));

/** The method printed at `at` and followed by a blank: its index, or -1. */
function methodAt(bytes: Uint8Array, at: number): number {
  for (let m = 0; m < METHODS.length; m++) {
    const name = METHODS[m]!;
    let i = 0;
    while (i < name.length && bytes[at + i] === name[i]) i++;
    if (i === name.length && bytes[at + i] === SPACE) return m;
  }
  return -1;
}

/** A text's UTF-8 bytes and their length, with the newline the parse expects after them. */
function withNewline(text: string): { bytes: Buffer; length: number } {
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(text) + 1);
  const length = bytes.write(text, 0, 'utf8');
  bytes[length] = NEWLINE;
  return { bytes, length };
}

/**
 * A real server line exactly as ip_vs_info_seq_show prints it, read by position from its bytes at
 * `from` into the next row of `backends`; the index of its newline, or -1. At 100k real servers a
 * regular expression per line (its match array and seven captures), a string per line and an
 * object per line were most of the read. Anything else, or anything out of range, is left to
 * `destinationByPattern` (-1), which gives the same result for every line this accepts and says
 * what is wrong with the others. Every byte up to the newline is checked in turn before it is
 * accepted, so a read stops at the newline, which no check accepts, and never runs past it.
 */
function destinationByPosition(bytes: Uint8Array, from: number, backends: Backends): number {
  let v6: string | undefined;
  let address = 0;
  let at: number;
  if (bytes[from + 5] === 91) {
    // "  -> [" the 39 characters of %pI6 "]:" HEX4, then blanks
    if (bytes[from + 45] !== 93 || bytes[from + 46] !== 58) return -1;
    v6 = ipv6At(bytes, from + 6);
    if (v6 === undefined) return -1;
    at = from + 47;
  } else {
    // "  -> " HEX8 ":" HEX4, then blanks
    if (bytes[from + 13] !== 58) return -1;
    address = hexAt(bytes, from + 5, 8);
    if (address < 0) return -1;
    at = from + 14;
  }
  const port = hexAt(bytes, at, 4);
  at += 4;
  if (port < 0 || bytes[at] !== SPACE) return -1;
  while (bytes[at] === SPACE) at++;
  const method = methodAt(bytes, at);
  if (method < 0) return -1;
  at += METHODS[method]!.length;
  let weight = 0;
  let active = 0;
  for (let f = 0; f < 3; f++) {
    if (bytes[at] !== SPACE) return -1;
    while (bytes[at] === SPACE) at++;
    let n = 0;
    const start = at;
    for (let c = bytes[at]!; c >= 48 && c <= 57; c = bytes[++at]!) n = n * 10 + (c - 48);
    if (at === start || at - start > 10 || n > INT_MAX) return -1;
    if (f === 0) weight = n;
    else if (f === 1) active = n;
    else {
      while (bytes[at] === SPACE) at++;
      if (bytes[at] !== NEWLINE) return -1;
      // METHODS is in FORWARDING_METHODS order.
      backends.stage(v6 === undefined ? 4 : 6, v6 === undefined ? address : backends.intern(v6), port, method, weight, active, n);
    }
  }
  return at;
}

/** The key `destinationByPattern` gives for a staged row. */
function keyOf(backends: Backends, row: number): number | string {
  return backends.family[row] === 4 ? backends.address[row]! * 65536 + backends.port[row]! : `${backends.addressText(row)} port ${backends.port[row]}`;
}

/** One real server line as the reference model reads it, through the columns (what the parse does per line). */
export function parseDestinationLine(line: string): DestinationLine {
  const backends = new Backends(1);
  const { bytes, length } = withNewline(line);
  if (destinationByPosition(bytes, 0, backends) !== length) {
    const parsed = destinationByPattern(line);
    if (!parsed.ok) return parsed;
    backends.stageObject(parsed.destination);
  }
  return { ok: true, destination: backends.destination(0), key: keyOf(backends, 0) };
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

/**
 * The real servers of the current service, as rows of `backends` in an open-addressing set, so
 * telling a repeated line (a torn read) costs no key per line. A slot belongs to the service that
 * filled it: the next service finds the table empty without clearing it.
 */
class SeenRows {
  private slots = new Int32Array(256);
  private owners = new Int32Array(256);
  /** Slots of no service yet hold 0. */
  private service = 1;
  private count = 0;

  constructor(private readonly backends: Backends) {}

  /** Forgets the rows seen so far. */
  next(): void {
    this.service++;
    this.count = 0;
  }

  /** Adds `row` (family, address and port) unless a row seen has the same; false when one has. */
  add(row: number): boolean {
    const b = this.backends;
    const mask = this.slots.length - 1;
    for (let slot = this.hash(row) & mask; ; slot = (slot + 1) & mask) {
      if (this.owners[slot] !== this.service) {
        this.slots[slot] = row;
        this.owners[slot] = this.service;
        if (++this.count * 2 > this.slots.length) this.grow();
        return true;
      }
      const seen = this.slots[slot]!;
      if (b.address[seen] === b.address[row] && b.port[seen] === b.port[row] && b.family[seen] === b.family[row]) return false;
    }
  }

  private hash(row: number): number {
    const b = this.backends;
    return Math.imul(b.address[row]! ^ Math.imul(b.port[row]! | (b.family[row]! << 16), 0x85ebca6b), 0x9e3779b1) >>> 8;
  }

  private grow(): void {
    const rows = this.slots.filter((_, slot) => this.owners[slot] === this.service);
    this.slots = new Int32Array(this.slots.length * 2);
    this.owners = new Int32Array(this.slots.length);
    this.service = 1;
    this.count = 0;
    for (const row of rows) this.add(row);
  }
}

/** The identity the kernel keeps unique; a torn read of a changing table can repeat a service. */
const serviceIdentity = (s: CompactService) => `${s.family} ${s.protocol} ${s.address} ${s.port} ${s.fwmark}`;

const startsWith = (bytes: Uint8Array, from: number, prefix: Uint8Array) => {
  for (let i = 0; i < prefix.length; i++) if (bytes[from + i] !== prefix[i]) return false;
  return true;
};
const HEADER_BYTES = HEADER.map((h) => Buffer.from(h, 'latin1'));
const ARROW = Buffer.from('  -> ', 'latin1');

/**
 * `/proc/net/ip_vs` → services, their real servers in columns; `file` names the file in problems.
 * `hz` is the kernel's tick rate, which turns the printed persistence timeouts into seconds;
 * without it they are unknown. `capacity`: real servers to make room for (the previous read's).
 */
export function parseIpVsColumns(text: string, file: string, hz?: number, capacity?: number): ParsedIpVsColumns {
  const { bytes, length } = withNewline(text);
  return parseIpVsBytes(bytes, length, file, hz, capacity);
}

/**
 * `parseIpVsColumns` on the file's bytes, `length` of them, which a newline must follow (at
 * `bytes[length]`). The text is read as UTF-8, but real server lines, nearly all of the file, are
 * read from the bytes: no string of the whole file, nor one per line.
 */
function parseIpVsBytes(bytes: Buffer, length: number, file: string, hz: number | undefined, capacity: number | undefined): ParsedIpVsColumns {
  const problems: IpvsProblem[] = [];
  const services: CompactService[] = [];
  const backends = new Backends(capacity);
  const seenServices = new Set<string>();
  const seenDestinations = new SeenRows(backends);

  let current: CompactService | undefined;
  let currentMask: string | undefined;
  let currentLine = 0;
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

  for (let i = 0, start = 0; start < length; i++) {
    const from = start;
    const header = HEADER_BYTES[i];
    if (header !== undefined) {
      start = bytes.indexOf(NEWLINE, from) + 1;
      if (!startsWith(bytes, from, header)) problems.push({ where: `${file}:${i + 1}`, message: `expected the header line ${JSON.stringify(HEADER[i]!.trim())}` });
      continue;
    }
    if (startsWith(bytes, from, ARROW)) {
      if (!current) {
        start = bytes.indexOf(NEWLINE, from) + 1;
        if (orphans) orphans.to = i + 1;
        else orphans = { from: i + 1, to: i + 1, reason: refusedService ?? 'no service line before them' };
        continue;
      }
      let end = destinationByPosition(bytes, from, backends);
      if (end < 0) {
        end = bytes.indexOf(NEWLINE, from);
        const line = bytes.toString('utf8', from, end);
        const parsed = destinationByPattern(line);
        if (!parsed.ok) {
          problems.push({ where: `${file}:${i + 1}`, message: `${parsed.error}, got ${JSON.stringify(line.slice(0, 160))}` });
          start = end + 1;
          continue;
        }
        backends.stageObject(parsed.destination);
      }
      start = end + 1;
      if (!seenDestinations.add(backends.length)) {
        problems.push({
          where: `${file}:${i + 1}`,
          message: `real server ${backends.addressText(backends.length)} port ${backends.port[backends.length]} is listed twice for the same service (the table changed during the read); the first line is kept`,
        });
        continue;
      }
      backends.commit();
      continue;
    }
    const end = bytes.indexOf(NEWLINE, from);
    start = end + 1;
    const line = bytes.toString('utf8', from, end);
    closeOrphans();
    closeService();
    seenDestinations.next();
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

/** The file buffer of a reader's first read; it grows to the table's size and is kept. */
const FIRST_BUFFER_BYTES = 64 * 1024;

/**
 * All of `file` in `buffer`, or in a larger one when it does not fit, with a newline after it: the
 * buffer and the file's length. procfs files have no size to allocate for up front.
 */
async function readInto(file: string, buffer: Buffer): Promise<{ bytes: Buffer; length: number }> {
  const handle = await open(file, 'r');
  try {
    let length = 0;
    for (;;) {
      // Room to read into, and for the newline after the text.
      if (buffer.length - length < 2) {
        const grown = Buffer.allocUnsafeSlow(buffer.length * 2);
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - 1 - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    buffer[length] = NEWLINE;
    return { bytes: buffer, length };
  } finally {
    await handle.close();
  }
}

/** Reads `<procfs>/net/ip_vs` and `<procfs>/net/ip_vs_stats` at every call. */
export class ProcfsReader implements IpvsReader {
  readonly path = 'procfs';
  private readonly tableFile: string;
  private readonly statsFile: string;
  private hz?: Promise<number | undefined>;
  /** Real servers of the last read: the next one makes room for as many at once. */
  private lastBackends = 0;
  /**
   * The table file's bytes are read into this one buffer at every read (megabytes at 100k real
   * servers), not into a new buffer and a string each time; a read that finds it taken by another
   * under way uses one of its own.
   */
  private buffer?: Buffer;

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
    const missing = (file: string) => (err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new Error(`${file} does not exist: no IPVS in this kernel (is the ip_vs module loaded?)`) : err;
    };
    // One after the other, so a kernel without IPVS is always told by the same file.
    const buffer = this.buffer ?? Buffer.allocUnsafeSlow(FIRST_BUFFER_BYTES);
    this.buffer = undefined;
    const table = await readInto(this.tableFile, buffer).catch(missing(this.tableFile));
    const stats = await readFile(this.statsFile, 'utf8').catch(missing(this.statsFile));
    this.hz ??= kernelHz(this.procfs);
    const parsed = parseIpVsBytes(table.bytes, table.length, this.tableFile, await this.hz, this.lastBackends);
    this.buffer = table.bytes;
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
