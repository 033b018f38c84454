/**
 * The generic netlink path: the kernel's "IPVS" family (include/uapi/linux/ip_vs.h), the way
 * ipvsadm's libipvs reads it: an IPVS_CMD_GET_SERVICE dump, then one IPVS_CMD_GET_DEST dump per
 * service, selected by a nested IPVS_CMD_ATTR_SERVICE. It knows what procfs cannot: per-service and
 * per-backend statistics (64-bit, from the *_STATS64 attributes; the 32-bit STATS only when a
 * kernel lacks them) and persistent connection counts.
 *
 * Decoding is pure (reply payloads → model + problems) and apart from the socket, so captured
 * replies test it. An attribute that does not decode is reported, never guessed: a service or
 * real server whose identity does not decode is left out, a statistics block that does not decode
 * leaves its figures unknown.
 *
 * Real servers are decoded from the raw replies by offset straight into the table's columns: at
 * 100k of them, the netlink package's message objects and a Map, views and bigints per real server
 * were most of the read. The socket is the package's raw one, read with a buffer of the kernel's
 * largest dump message: with the package's peeking reads the kernel sends its dumps in 4 KB
 * messages, eight times as many as needed (measured in the test VM).
 *
 * The family has no command for the global totals of /proc/net/ip_vs_stats (IPVS_CMD_GET_INFO gives
 * the version and connection table size, IPVS_CMD_GET_CONFIG the timeouts), so this reader takes
 * them from `<procfs>/net/ip_vs_stats`.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { getSystemErrorName } from 'node:util';
// The package's raw socket only: its index also loads the rtnetlink, nl80211 and WireGuard
// message tables, a megabyte of code the IPVS reader never runs.
import { RawNetlinkSocket } from 'netlink/dist/raw.js';
import { ipFromBytes } from '../core/ip.js';
import type { ForwardingMethod, IpvsDestination, IpvsProblem, IpvsRates, IpvsService, IpvsStats, ServiceKey, ServiceProtocol } from '../model/ipvs.js';
import { Backends, type CompactIpvsTable, type CompactService, type IpvsReader } from '../model/ipvs-backends.js';
import { parseIpVsStats } from './procfs.js';


export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;
export const IPVS_CMD_GET_SERVICE = 4;
export const IPVS_CMD_GET_DEST = 8;
const IPVS_CMD_ATTR_SERVICE = 1;
const IPVS_CMD_ATTR_DEST = 2;

const SVC = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9, STATS: 10, PE_NAME: 11, STATS64: 12 } as const;
const DEST = {
  ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ACTIVE_CONNS: 7, INACT_CONNS: 8, PERSIST_CONNS: 9,
  STATS: 10, ADDR_FAMILY: 11, STATS64: 12, TUN_TYPE: 13, TUN_PORT: 14, TUN_FLAGS: 15,
} as const;
const STATS = { CONNS: 1, INPKTS: 2, OUTPKTS: 3, INBYTES: 4, OUTBYTES: 5, CPS: 6, INPPS: 7, OUTPPS: 8, INBPS: 9, OUTBPS: 10, PAD: 11 } as const;
/** Known and deliberately not used: thresholds and tunnel encapsulation settings. */
const DEST_IGNORED: ReadonlySet<number> = new Set([DEST.U_THRESH, DEST.L_THRESH, DEST.TUN_TYPE, DEST.TUN_PORT, DEST.TUN_FLAGS]);

const AF_INET = 2;
const AF_INET6 = 10;
const PROTOCOLS: Readonly<Record<number, ServiceProtocol>> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };
const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = { TCP: 6, UDP: 17, SCTP: 132 };
/** IP_VS_CONN_F_FWD_MASK values. */
const FORWARDING: readonly (ForwardingMethod | undefined)[] = ['masq', 'local', 'tunnel', 'route'];
const IP_VS_CONN_F_FWD_MASK = 7;
const IP_VS_SVC_F_PERSISTENT = 0x1;
const IP_VS_SVC_F_HASHED = 0x2;
const IP_VS_SVC_F_ONEPACKET = 0x4;
/** The scheduler flags, named as ipvsadm names them for the schedulers that use them. */
const SCHED_FLAGS = [0x8, 0x10, 0x20] as const;
const SCHED_FLAG_NAMES: Readonly<Record<string, readonly string[]>> = { sh: ['sh-fallback', 'sh-port'], mh: ['mh-fallback', 'mh-port'] };

const NLA_HEADER = 4;
const NLA_TYPE_MASK = 0x3fff;
const NLA_F_NESTED = 0x8000;
const align4 = (n: number) => (n + 3) & ~3;
const littleEndian = endianness() === 'LE';

/**
 * The host-order integers the kernel's nla_put_u16/u32 and nla_get_* use (x86 and arm64 are
 * little-endian), and the network-order ones, from bytes: the offsets are within bounds the
 * attribute walk has checked. Buffer's readUInt* validate their offset through two more calls
 * each; until V8 optimises them (several scrapes under qemu) those calls were a quarter of a read.
 */
const readU16 = littleEndian ? (b: Uint8Array, at = 0) => b[at]! | (b[at + 1]! << 8) : (b: Uint8Array, at = 0) => (b[at]! << 8) | b[at + 1]!;
const readS32 = littleEndian
  ? (b: Uint8Array, at = 0) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)
  : (b: Uint8Array, at = 0) => (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
const readU32 = (b: Uint8Array, at = 0) => readS32(b, at) >>> 0;
const networkReadU16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const networkReadU32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const hostU16 = (n: number) => {
  const b = Buffer.alloc(2);
  if (littleEndian) b.writeUInt16LE(n);
  else b.writeUInt16BE(n);
  return b;
};
const hostU32 = (n: number) => {
  const b = Buffer.alloc(4);
  if (littleEndian) b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
};
/** Ports travel in network order (nla_put_be16). */
const networkU16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

interface Attribute {
  type: number;
  payload: Buffer;
}

/**
 * Walks the netlink attribute stream `from`..`to` of `buffer`, giving each attribute's type and the
 * bounds of its payload to `visit`; returns what is wrong with the stream (a length that runs past
 * it is a problem, not a guess), after the attributes before the fault were visited. Byte offsets
 * in the message are counted from `from`.
 */
function walkAttributes(buffer: Buffer, visit: (type: number, from: number, to: number) => void, from = 0, to = buffer.length): string | undefined {
  let offset = from;
  while (offset + NLA_HEADER <= to) {
    // Offsets, not subarrays, for the headers: a Buffer view per read shows at 100k real servers.
    // The two host-order u16s (length, then type) in one read: this loop is the read's hottest.
    const header = readS32(buffer, offset);
    const length = littleEndian ? header & 0xffff : header >>> 16;
    const type = (littleEndian ? header >>> 16 : header) & NLA_TYPE_MASK;
    if (length < NLA_HEADER || offset + length > to) return `attribute at byte ${offset - from} claims ${length} bytes, ${to - offset} remain`;
    visit(type, offset + NLA_HEADER, offset + length);
    offset += align4(length);
  }
  return offset < to ? `${to - offset} stray bytes after the last attribute` : undefined;
}

/**
 * The payload bounds, by type, of the attributes of one stream: read one stream at a time and
 * synchronously, with no Map and no views. The last attribute of a type counts.
 */
class Slots {
  readonly from: Int32Array;
  readonly to: Int32Array;
  /** Types without a slot (0 and those above), in order of appearance. */
  readonly beyond: number[] = [];
  private readonly record = (type: number, from: number, to: number): void => {
    if (type < this.from.length) {
      this.from[type] = from;
      this.to[type] = to;
    } else {
      this.beyond.push(type);
    }
  };

  constructor(size: number) {
    this.from = new Int32Array(size);
    this.to = new Int32Array(size);
  }

  fill(buffer: Buffer, from: number, to: number): string | undefined {
    this.from.fill(-1);
    this.beyond.length = 0;
    return walkAttributes(buffer, this.record, from, to);
  }

  has(type: number): boolean {
    return this.from[type]! >= 0;
  }

  length(type: number): number {
    return this.to[type]! - this.from[type]!;
  }
}

/** A netlink attribute stream → attributes, each a view of its payload. */
export function parseAttributes(buffer: Buffer): { attributes: Attribute[]; error?: string } {
  const attributes: Attribute[] = [];
  const error = walkAttributes(buffer, (type, from, to) => attributes.push({ type, payload: buffer.subarray(from, to) }));
  return error === undefined ? { attributes } : { attributes, error };
}

function encodeAttribute(type: number, payload: Buffer): Buffer {
  return Buffer.concat([hostU16(NLA_HEADER + payload.length), hostU16(type), payload, Buffer.alloc(align4(payload.length) - payload.length)]);
}

/** IPVS_CMD_ATTR_SERVICE selecting one service, as IPVS_CMD_GET_DEST wants it. */
export function encodeServiceSelector(service: ServiceKey): Buffer {
  const parts = [encodeAttribute(SVC.AF, hostU16(service.family === 6 ? AF_INET6 : AF_INET))];
  if (service.protocol === 'FWM') {
    parts.push(encodeAttribute(SVC.FWMARK, hostU32(service.fwmark)));
  } else {
    const address = Buffer.alloc(16);
    addressBytes(service.family, service.address).copy(address);
    parts.push(encodeAttribute(SVC.PROTOCOL, hostU16(PROTOCOL_NUMBERS[service.protocol]!)), encodeAttribute(SVC.ADDR, address), encodeAttribute(SVC.PORT, networkU16(service.port)));
  }
  return encodeAttribute(IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, Buffer.concat(parts));
}

function addressBytes(family: 4 | 6, text: string): Buffer {
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export const serviceName = (s: ServiceKey) => (s.protocol === 'FWM' ? `FWM ${s.fwmark} (IPv${s.family})` : `${s.protocol} ${s.family === 6 ? `[${s.address}]` : s.address}:${s.port}`);

/** Unknown attribute types are collected per read and reported once each, with how often they came. */
export class UnknownAttributes {
  private readonly seen = new Map<string, number>();
  note(container: string, type: number): void {
    const key = `${container} attribute type ${type}`;
    this.seen.set(key, (this.seen.get(key) ?? 0) + 1);
  }
  problems(): IpvsProblem[] {
    return [...this.seen].map(([key, count]) => ({ where: 'IPVS generic netlink', message: `${key} is not known to kawatch (seen ${count}×); ignored` }));
  }
}

interface Decoded<T> {
  value?: T;
  problems: IpvsProblem[];
}

/**
 * Where a problem was found: the text, or how to make it. Per real server it is made only when a
 * problem is reported: two texts for each of 100k real servers showed in the read's time.
 */
type Where = string | (() => string);
const whereText = (where: Where) => (typeof where === 'string' ? where : where());

function expectLength(payload: Buffer, lengths: number[], what: string, where: Where, problems: IpvsProblem[]): boolean {
  if (lengths.includes(payload.length)) return true;
  problems.push({ where: whereText(where), message: `${what} is ${payload.length} bytes, expected ${lengths.join(' or ')}` });
  return false;
}

const STATS_FIGURES = Object.values(STATS).filter((t) => t !== STATS.PAD);
const ALL_FIGURES = (1 << (STATS.OUTBPS + 1)) - 2;

/** Figures of one statistics block, reused: read one block at a time. */
const figures = new Float64Array(STATS_FIGURES.length * 2);
const figure = (k: number) => (figures[k * 2]! * 2 ** 32) + figures[k * 2 + 1]!;
const bigFigure = (k: number) => (BigInt(figures[k * 2]!) << 32n) | BigInt(figures[k * 2 + 1]!);

const NO_BYTES = new Uint8Array(0);

/**
 * Reads STATS (`wide` false: 32-bit packet, connection and rate fields) and STATS64 blocks into
 * `figures`, the ten figures in attribute order, each as its high and low 32 bits. One block at a
 * time, so the walk's visitor is made once and keeps its state here: a closure per block was one
 * more allocation per real server.
 */
class StatsReader {
  private buffer: Uint8Array = NO_BYTES;
  private wide = false;
  private seen = 0;
  private found = 0;
  private where: Where = '';
  private unknown?: UnknownAttributes;
  private sizeProblems?: IpvsProblem[];
  private readonly visit = (type: number, at: number, end: number): void => {
    if (type < 31) this.seen |= 1 << type;
    if (type === STATS.PAD) return;
    if (type < STATS.CONNS || type > STATS.OUTBPS) {
      this.unknown!.note(this.wide ? 'STATS64' : 'STATS', type);
      return;
    }
    const size = this.wide || type === STATS.INBYTES || type === STATS.OUTBYTES ? 8 : 4;
    if (end - at !== size) {
      (this.sizeProblems ??= []).push({ where: whereText(this.where), message: `statistics attribute ${type} is ${end - at} bytes, expected ${size}` });
      return;
    }
    this.found |= 1 << type;
    const k = (type - STATS.CONNS) * 2;
    const buffer = this.buffer;
    if (size === 4) {
      figures[k] = 0;
      figures[k + 1] = readU32(buffer, at);
    } else {
      figures[k] = readU32(buffer, littleEndian ? at + 4 : at);
      figures[k + 1] = readU32(buffer, littleEndian ? at : at + 4);
    }
  };

  /** The block at `from`..`to` of `buffer`; false, with the problems pushed, when its figures are not all there. */
  read(buffer: Buffer, from: number, to: number, wide: boolean, where: Where, unknown: UnknownAttributes, problems: IpvsProblem[]): boolean {
    this.buffer = buffer;
    this.wide = wide;
    this.where = where;
    this.unknown = unknown;
    this.seen = this.found = 0;
    this.sizeProblems = undefined;
    const error = walkAttributes(buffer, this.visit, from, to);
    // The visitor has set them during the walk, which the compiler cannot see.
    const sizeProblems = this.sizeProblems as IpvsProblem[] | undefined;
    const seen = this.seen;
    const found = this.found;
    // Nothing of this block is held once it is read.
    this.buffer = NO_BYTES;
    this.unknown = this.sizeProblems = undefined;
    this.where = '';
    if (error !== undefined) {
      problems.push({ where: whereText(where), message: `statistics: ${error}` });
      return false;
    }
    if (sizeProblems) problems.push(...sizeProblems);
    // Every figure there (the usual case): nothing to look for.
    const missing = found === ALL_FIGURES ? [] : STATS_FIGURES.filter((t) => !(seen & (1 << t)));
    if (missing.length > 0) problems.push({ where: whereText(where), message: `statistics lack attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; figures left unknown` });
    return !sizeProblems && missing.length === 0;
  }
}

const statsReader = new StatsReader();

/** A STATS or STATS64 block as objects (services). */
export function decodeStats(payload: Buffer, wide: boolean, where: Where, unknown: UnknownAttributes): Decoded<{ stats: IpvsStats; rates: IpvsRates }> {
  const problems: IpvsProblem[] = [];
  if (!statsReader.read(payload, 0, payload.length, wide, where, unknown, problems)) return { problems };
  return {
    value: {
      stats: { connections: bigFigure(0), incomingPackets: bigFigure(1), outgoingPackets: bigFigure(2), incomingBytes: bigFigure(3), outgoingBytes: bigFigure(4) },
      rates: {
        connectionsPerSecond: figure(5),
        incomingPacketsPerSecond: figure(6),
        outgoingPacketsPerSecond: figure(7),
        incomingBytesPerSecond: figure(8),
        outgoingBytesPerSecond: figure(9),
      },
    },
    problems,
  };
}

/** STATS64 when present, else the 32-bit STATS. */
function pickStats(stats64: Buffer | undefined, stats32: Buffer | undefined, where: Where, unknown: UnknownAttributes): Decoded<{ stats: IpvsStats; rates: IpvsRates }> {
  if (stats64) return decodeStats(stats64, true, where, unknown);
  if (stats32) return decodeStats(stats32, false, where, unknown);
  return { problems: [{ where: whereText(where), message: 'no statistics attribute; figures left unknown' }] };
}

function family(af: Buffer | undefined): 4 | 6 | undefined {
  if (af?.length !== 2) return undefined;
  const n = readU16(af);
  return n === AF_INET ? 4 : n === AF_INET6 ? 6 : undefined;
}

function addressText(fam: 4 | 6, payload: Buffer): string | undefined {
  // nf_inet_addr: 16 bytes whatever the family; an IPv4 address is its first four.
  if (payload.length !== 16 && !(fam === 4 && payload.length === 4)) return undefined;
  // IPv4 written out directly: a view and an array per real server show at 100k of them.
  if (fam === 4) return `${payload[0]}.${payload[1]}.${payload[2]}.${payload[3]}`;
  return ipFromBytes(payload.subarray(0, 16));
}

const cString = (b: Buffer) => {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('latin1');
};

function serviceFlags(flags: number, scheduler: string): string[] {
  const names: string[] = [];
  if (flags & IP_VS_SVC_F_ONEPACKET) names.push('one-packet');
  SCHED_FLAGS.forEach((bit, i) => {
    const named = Object.hasOwn(SCHED_FLAG_NAMES, scheduler) ? SCHED_FLAG_NAMES[scheduler]?.[i] : undefined;
    if (flags & bit) names.push(named ?? `flag-${i + 1}`);
  });
  return names;
}

/** The nested IPVS_CMD_ATTR_SERVICE of a GET_SERVICE reply → a service with no destinations yet. */
export function decodeService(payload: Buffer, where: string, unknown: UnknownAttributes): Decoded<IpvsService> {
  const parsed = parseAttributes(payload);
  if (parsed.error) return { problems: [{ where, message: `service attributes: ${parsed.error}; service left out` }] };
  const a = new Map<number, Buffer>();
  for (const { type, payload: p } of parsed.attributes) {
    if (type >= SVC.AF && type <= SVC.STATS64) a.set(type, p);
    else unknown.note('service', type);
  }
  const fam = family(a.get(SVC.AF));
  if (fam === undefined) return { problems: [{ where, message: 'service address family missing or not AF_INET/AF_INET6; service left out' }] };
  let key: ServiceKey;
  const fwmark = a.get(SVC.FWMARK);
  if (fwmark) {
    if (fwmark.length !== 4) return { problems: [{ where, message: `firewall mark is ${fwmark.length} bytes, expected 4; service left out` }] };
    key = { protocol: 'FWM', family: fam, address: '', port: 0, fwmark: readU32(fwmark) };
  } else {
    const proto = a.get(SVC.PROTOCOL);
    const protocol = proto?.length === 2 ? PROTOCOLS[readU16(proto)] : undefined;
    const addr = a.get(SVC.ADDR);
    const address = addr && addressText(fam, addr);
    const port = a.get(SVC.PORT);
    if (!protocol) return { problems: [{ where, message: `service protocol ${proto?.length === 2 ? readU16(proto) : 'missing'} is not TCP (6), UDP (17) or SCTP (132); service left out` }] };
    if (!address) return { problems: [{ where, message: `service address missing or ${addr?.length} bytes, expected 16; service left out` }] };
    if (port?.length !== 2) return { problems: [{ where, message: 'service port missing or not 2 bytes; service left out' }] };
    key = { protocol, family: fam, address, port: port.readUInt16BE(0), fwmark: 0 };
  }
  const name = `${where} (${serviceName(key)})`;
  const problems: IpvsProblem[] = [];
  const schedName = a.get(SVC.SCHED_NAME);
  if (!schedName) problems.push({ where: name, message: 'no scheduler name' });
  const scheduler = schedName ? cString(schedName) : '';
  const flagsAttr = a.get(SVC.FLAGS);
  let flags = 0;
  if (!flagsAttr) problems.push({ where: name, message: 'no service flags; persistence and flags left unknown' });
  else if (expectLength(flagsAttr, [8], 'service flags', name, problems)) flags = readU32(flagsAttr) & ~IP_VS_SVC_F_HASHED;
  const service: IpvsService = { ...key, scheduler, flags: serviceFlags(flags, scheduler), destinations: [] };
  const pe = a.get(SVC.PE_NAME);
  if (pe) service.persistenceEngine = cString(pe);
  if (flags & IP_VS_SVC_F_PERSISTENT) {
    const timeout = a.get(SVC.TIMEOUT);
    const netmask = a.get(SVC.NETMASK);
    if (timeout?.length === 4 && netmask?.length === 4) {
      // IPv4: the mask in network order; IPv6: a prefix length in host order (ipvsadm sends it so).
      service.persistence = { timeoutSeconds: readU32(timeout), netmask: fam === 4 ? ipFromBytes(netmask)! : String(readU32(netmask)) };
    } else {
      problems.push({ where: name, message: 'persistent service without a 4-byte timeout and netmask; persistence left unknown' });
    }
  }
  const stats = pickStats(a.get(SVC.STATS64), a.get(SVC.STATS), name, unknown);
  problems.push(...stats.problems);
  if (stats.value) [service.stats, service.rates] = [stats.value.stats, stats.value.rates];
  return { value: service, problems };
}

/** Kernel forwarding method (IP_VS_CONN_F_FWD_MASK) → FORWARDING_METHODS index (route, masq, tunnel, local). */
const METHOD_INDEX = [1, 3, 2, 0];
const destSlots = new Slots(DEST.STATS64 + 1);

/**
 * Where the real server being decoded is, for its problems: the GET_DEST reply and, once they are
 * decoded, its address and port. One for all real servers (they are decoded one at a time), its
 * texts made only when a problem is reported: closures per real server showed in the read's time.
 */
class DestinationPlace {
  service?: ServiceKey;
  reply = 0;
  family: 4 | 6 = 4;
  /** As in Backends: the IPv4 address, or the index of the IPv6 text in `texts`. */
  address = 0;
  port = 0;
  texts: readonly string[] = [];
  readonly inReply = (): string => `GET_DEST reply ${this.reply} for ${serviceName(this.service!)}`;
  readonly ofServer = (): string => `${this.inReply()} (real server ${this.addressText(true)}:${this.port})`;

  addressText(bracketed: boolean): string {
    const a = this.address;
    if (this.family === 6) return bracketed ? `[${this.texts[a]}]` : this.texts[a]!;
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  }
}

const place = new DestinationPlace();
/** The connection figures' problems of the real server being decoded. */
const ownProblems: IpvsProblem[] = [];

/**
 * A weight or connection count of the real server being decoded, or -1 with its problem in
 * `ownProblems`: they are C ints the kernel keeps non-negative, so a negative one is not a figure.
 */
function connectionFigure(buffer: Buffer, type: number, what: string): number {
  const a = destSlots;
  if (!a.has(type) || a.length(type) !== 4) {
    ownProblems.push({ where: place.ofServer(), message: `${what} missing or not 4 bytes` });
    return -1;
  }
  const n = readS32(buffer, a.from[type]!);
  if (n >= 0) return n;
  ownProblems.push({ where: place.ofServer(), message: `${what} ${n} is negative` });
  return -1;
}

/**
 * The nested IPVS_CMD_ATTR_DEST at `from`..`to` of GET_DEST reply `reply` for `service` → the
 * next row of `backends`; `service` gives the family when the kernel omits the real server's own.
 * What is wrong is pushed to `problems`; a real server whose identity or connection figures do
 * not decode is left out.
 */
function decodeDestinationInto(buffer: Buffer, from: number, to: number, service: ServiceKey, reply: number, unknown: UnknownAttributes, backends: Backends, problems: IpvsProblem[]): void {
  const a = destSlots;
  place.service = service;
  place.reply = reply;
  const error = a.fill(buffer, from, to);
  if (error !== undefined) {
    problems.push({ where: place.inReply(), message: `real server attributes: ${error}; real server left out` });
    return;
  }
  const beyond = a.beyond;
  for (let i = 0; i < beyond.length; i++) if (!DEST_IGNORED.has(beyond[i]!)) unknown.note('real server', beyond[i]!);
  let fam: 4 | 6 | undefined = service.family;
  if (a.has(DEST.ADDR_FAMILY)) {
    const n = a.length(DEST.ADDR_FAMILY) === 2 ? readU16(buffer, a.from[DEST.ADDR_FAMILY]!) : -1;
    fam = n === AF_INET ? 4 : n === AF_INET6 ? 6 : undefined;
  }
  if (fam === undefined) {
    problems.push({ where: place.inReply(), message: 'real server address family not AF_INET/AF_INET6; real server left out' });
    return;
  }
  const addrLength = a.has(DEST.ADDR) ? a.length(DEST.ADDR) : undefined;
  // nf_inet_addr: 16 bytes whatever the family; an IPv4 address is its first four.
  if (addrLength === undefined || !(addrLength === 16 || (fam === 4 && addrLength === 4))) {
    problems.push({ where: place.inReply(), message: `real server address missing or ${addrLength} bytes, expected 16; real server left out` });
    return;
  }
  const at = a.from[DEST.ADDR]!;
  const address = fam === 4 ? networkReadU32(buffer, at) : backends.intern(ipFromBytes(buffer.subarray(at, at + 16))!);
  place.family = fam;
  place.address = address;
  place.texts = backends.texts;
  if (!a.has(DEST.PORT) || a.length(DEST.PORT) !== 2) {
    problems.push({ where: place.inReply(), message: `real server ${place.addressText(false)}: port missing or not 2 bytes; real server left out` });
    return;
  }
  const port = networkReadU16(buffer, a.from[DEST.PORT]!);
  place.port = port;
  const fwd = a.has(DEST.FWD_METHOD) && a.length(DEST.FWD_METHOD) === 4 ? readU32(buffer, a.from[DEST.FWD_METHOD]!) : undefined;
  const method = fwd === undefined ? undefined : METHOD_INDEX[fwd & IP_VS_CONN_F_FWD_MASK];
  if (method === undefined) {
    problems.push({ where: place.ofServer(), message: `forwarding method ${fwd ?? 'missing'} is not masq (0), local (1), tunnel (2) or route (3); real server left out` });
    return;
  }
  ownProblems.length = 0;
  const weight = connectionFigure(buffer, DEST.WEIGHT, 'weight');
  const active = connectionFigure(buffer, DEST.ACTIVE_CONNS, 'active connections');
  const inactive = connectionFigure(buffer, DEST.INACT_CONNS, 'inactive connections');
  if (weight < 0 || active < 0 || inactive < 0) {
    for (const p of ownProblems) problems.push({ ...p, message: `${p.message}; real server left out` });
    return;
  }
  const row = backends.stage(fam, address, port, method, weight, active, inactive);
  const persistent = connectionFigure(buffer, DEST.PERSIST_CONNS, 'persistent connections');
  if (persistent >= 0) backends.persistent[row] = persistent;
  if (ownProblems.length > 0) problems.push(...ownProblems);
  const wide = a.has(DEST.STATS64);
  const stats = wide ? DEST.STATS64 : DEST.STATS;
  if (!a.has(stats)) problems.push({ where: place.ofServer(), message: 'no statistics attribute; figures left unknown' });
  else if (statsReader.read(buffer, a.from[stats]!, a.to[stats]!, wide, place.ofServer, unknown, problems)) {
    for (let k = 0; k < 5; k++) backends.setCounter(row, k, figures[k * 2]!, figures[k * 2 + 1]!);
    for (let k = 5; k < 10; k++) backends.setRate(row, k - 5, figure(k));
  }
  backends.commit();
}

/** One reply's payload (after the genl header) → the nested attribute `container` holds. */
function nested(payload: Buffer, container: number, what: string, where: Where, unknown: UnknownAttributes): Decoded<Buffer> {
  const found = nestedFinder.find(payload, 0, payload.length, container, what, where, unknown);
  return typeof found === 'object' ? { problems: [found] } : { value: payload.subarray(found, nestedFinder.end), problems: [] };
}

/**
 * Finds the nested attribute of a reply payload, one reply at a time (its visitor is made once, not
 * per reply): `start` is where its payload begins (-1: not there), `end` where it ends.
 */
class NestedFinder {
  container = 0;
  start = -1;
  end = 0;
  others?: number[];
  private readonly visit = (type: number, at: number, stop: number): void => {
    if (type === this.container) {
      this.start = at;
      this.end = stop;
    } else {
      (this.others ??= []).push(type);
    }
  };

  /** `start`, or the problem. */
  find(buffer: Buffer, from: number, to: number, container: number, what: string, where: Where, unknown: UnknownAttributes): number | IpvsProblem {
    this.container = container;
    this.start = -1;
    this.others = undefined;
    const error = walkAttributes(buffer, this.visit, from, to);
    if (error !== undefined) return { where: whereText(where), message: `${what} reply: ${error}` };
    const others = this.others as number[] | undefined;
    if (others) for (const type of others) unknown.note(`${what} reply`, type);
    if (this.start < 0) return { where: whereText(where), message: `${what} reply without its nested attribute ${container}` };
    return this.start;
  }
}

const nestedFinder = new NestedFinder();

/** GET_SERVICE dump replies → services in kernel order, without destinations. */
export function decodeServiceReplies(replies: readonly Buffer[], unknown: UnknownAttributes): { services: IpvsService[]; problems: IpvsProblem[] } {
  const services: IpvsService[] = [];
  const problems: IpvsProblem[] = [];
  replies.forEach((reply, i) => {
    const where = `GET_SERVICE reply ${i + 1}`;
    const inner = nested(reply, IPVS_CMD_ATTR_SERVICE, 'GET_SERVICE', where, unknown);
    problems.push(...inner.problems);
    if (!inner.value) return;
    const decoded = decodeService(inner.value, where, unknown);
    problems.push(...decoded.problems);
    if (decoded.value) services.push(decoded.value);
  });
  return { services, problems };
}

/** GET_DEST reply `reply` for `service` (its payload `from`..`to` of `buffer`, after the genl header) → a row of `backends`. */
function decodeDestinationReply(buffer: Buffer, from: number, to: number, service: ServiceKey, reply: number, unknown: UnknownAttributes, backends: Backends, problems: IpvsProblem[]): void {
  place.service = service;
  place.reply = reply;
  const start = nestedFinder.find(buffer, from, to, IPVS_CMD_ATTR_DEST, 'GET_DEST', place.inReply, unknown);
  if (typeof start === 'object') problems.push(start);
  else decodeDestinationInto(buffer, start, nestedFinder.end, service, reply, unknown, backends, problems);
}

/** GET_DEST dump replies for one service → its real servers (the reference model). */
export function decodeDestinationReplies(service: ServiceKey, replies: readonly Buffer[], unknown: UnknownAttributes): { destinations: IpvsDestination[]; problems: IpvsProblem[] } {
  const backends = new Backends(replies.length);
  const problems: IpvsProblem[] = [];
  replies.forEach((reply, i) => decodeDestinationReply(reply, 0, reply.length, service, i + 1, unknown, backends, problems));
  const destinations: IpvsDestination[] = [];
  for (let row = 0; row < backends.length; row++) destinations.push(backends.destination(row));
  return { destinations, problems };
}

const NLMSG_HEADER = 16;
const GENL_HEADER = 4;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_OVERRUN = 4;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 16;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
/**
 * What one read takes: the kernel fills dump messages up to SKB_WITH_OVERHEAD(32768) bytes once a
 * read has offered that much (netlink_recvmsg's max_recvmsg_len), and sends 4 KB ones otherwise.
 */
const RECEIVE_BYTES = 32_768;

/** Visits each reply message of a request: its datagram and the bounds of its payload after the genl header. */
export type ReplyVisitor = (buffer: Buffer, from: number, to: number) => void;

interface Pending {
  seq: number;
  visit: ReplyVisitor;
  dump: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The socket side: requests of the IPVS family, their replies handed over by offset. */
export class IpvsGenlClient {
  private socket?: RawNetlinkSocket;
  private familyId?: number;
  private seq = 0;
  private pending?: Pending;

  constructor(private readonly timeoutMs = 5_000) {}

  /** A dump of `cmd` with `attributes`, each reply visited in order as it arrives. */
  async dump(cmd: number, attributes: Buffer, visit: ReplyVisitor): Promise<void> {
    const familyId = await this.open();
    try {
      await this.request(familyId, cmd, attributes, visit, true);
    } catch (err) {
      // A fresh socket next time: a timed-out dump may still be arriving on this one, and the
      // family id changes when ip_vs is reloaded.
      this.close();
      const message = (err as Error).message;
      throw new Error(/EPERM/.test(message) ? `${message}: reading IPVS over generic netlink needs CAP_NET_ADMIN` : message);
    }
  }

  /** The GET_SERVICE dump as reply payloads (what the decoders take, and what fixtures capture). */
  async dumpServices(): Promise<Buffer[]> {
    return this.payloads(IPVS_CMD_GET_SERVICE, Buffer.alloc(0));
  }

  /** One service's GET_DEST dump as reply payloads. */
  async dumpDestinations(service: ServiceKey): Promise<Buffer[]> {
    return this.payloads(IPVS_CMD_GET_DEST, encodeServiceSelector(service));
  }

  close(): void {
    this.pending?.reject(new Error('the netlink socket was closed'));
    this.pending = undefined;
    this.socket?.close();
    this.socket = undefined;
    this.familyId = undefined;
  }

  private async payloads(cmd: number, attributes: Buffer): Promise<Buffer[]> {
    const replies: Buffer[] = [];
    await this.dump(cmd, attributes, (buffer, from, to) => replies.push(Buffer.from(buffer.subarray(from, to))));
    return replies;
  }

  private async open(): Promise<number> {
    if (this.socket && this.familyId !== undefined) return this.familyId;
    try {
      const socket = new RawNetlinkSocket(NETLINK_GENERIC, { messagePeeking: false, msgBufferSize: RECEIVE_BYTES, recvBufferSize: 0, sendBufferSize: 0 }); // 0: the system's socket buffers
      this.socket = socket;
      socket.on('message', (buffer: Buffer) => this.receive(buffer));
      socket.on('truncatedMessage', (_: Buffer, info: { truncated?: number }) => this.fail(new Error(`a netlink reply of ${info.truncated} bytes did not fit the ${RECEIVE_BYTES}-byte read`)));
      socket.on('error', (err: Error) => this.fail(err));
      let id: number | undefined;
      const name = Buffer.from(`${IPVS_GENL_NAME}\0`, 'latin1');
      await this.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, encodeAttribute(CTRL_ATTR_FAMILY_NAME, name), (buffer, from, to) => {
        walkAttributes(buffer, (type, at, end) => {
          if (type === CTRL_ATTR_FAMILY_ID && end - at === 2) id = readU16(buffer, at);
        }, from, to);
      }, false);
      if (id === undefined) throw new Error('no family id in the answer');
      this.familyId = id;
      return id;
    } catch (err) {
      this.close();
      throw new Error(`generic netlink family ${IPVS_GENL_NAME} not available (is the ip_vs module loaded?): ${(err as Error).message}`);
    }
  }

  /** Sends one request and settles once its replies are in (DONE for a dump, the reply or an error otherwise). */
  private request(type: number, cmd: number, attributes: Buffer, visit: ReplyVisitor, dump: boolean): Promise<void> {
    const socket = this.socket!;
    this.seq = (this.seq % 0xffffffff) + 1;
    const seq = this.seq;
    const message = Buffer.alloc(NLMSG_HEADER + GENL_HEADER + attributes.length);
    const u16 = littleEndian ? message.writeUInt16LE.bind(message) : message.writeUInt16BE.bind(message);
    const u32 = littleEndian ? message.writeUInt32LE.bind(message) : message.writeUInt32BE.bind(message);
    u32(message.length, 0);
    u16(type, 4);
    u16(NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0), 6);
    u32(seq, 8);
    message[NLMSG_HEADER] = cmd;
    message[NLMSG_HEADER + 1] = IPVS_GENL_VERSION;
    attributes.copy(message, NLMSG_HEADER + GENL_HEADER);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no complete netlink answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        if (this.pending?.seq === seq) this.pending = undefined;
      };
      this.pending = { seq, visit, dump, resolve: () => (settle(), resolve()), reject: (err) => (settle(), reject(err)) };
      socket.send(message, {}, (err?: Error) => err && this.fail(err));
    });
  }

  private fail(err: Error): void {
    this.pending?.reject(err);
  }

  /** One datagram: the messages of the pending request are visited; any others (late replies of an abandoned one) are not. */
  private receive(buffer: Buffer): void {
    for (let at = 0; at + NLMSG_HEADER <= buffer.length; ) {
      const length = readU32(buffer, at);
      const type = readU16(buffer, at + 4);
      const seq = readU32(buffer, at + 8);
      if (length < NLMSG_HEADER || at + length > buffer.length) return this.fail(new Error(`a netlink message at byte ${at} claims ${length} bytes, ${buffer.length - at} remain`));
      const pending = this.pending;
      if (pending && seq === pending.seq) {
        if (type === NLMSG_ERROR || type === NLMSG_DONE) {
          // NLMSG_ERROR carries the negative errno (0: an acknowledgement); a dump's DONE may carry one too.
          const errno = length >= NLMSG_HEADER + 4 ? (littleEndian ? buffer.readInt32LE(at + NLMSG_HEADER) : buffer.readInt32BE(at + NLMSG_HEADER)) : 0;
          if (errno < 0) pending.reject(new Error(`netlink request failed: ${getSystemErrorName(errno)}`));
          else pending.resolve();
        } else if (type === NLMSG_OVERRUN) {
          pending.reject(new Error('netlink reply overrun'));
        } else if (length >= NLMSG_HEADER + GENL_HEADER) {
          pending.visit(buffer, at + NLMSG_HEADER + GENL_HEADER, at + length);
          if (!pending.dump) pending.resolve();
        }
      }
      at += align4(length);
    }
  }
}

export interface NetlinkReaderOptions {
  /** Where the global totals come from: `<procfs>/net/ip_vs_stats`. */
  procfs?: string;
  timeoutMs?: number;
  /** The socket side; tests pass one that also records the raw replies. */
  client?: IpvsGenlClient;
}

export class NetlinkReader implements IpvsReader {
  readonly path = 'netlink';
  private readonly client: IpvsGenlClient;
  private readonly statsFile: string;
  /** One dump at a time: a netlink socket runs one dump at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Real servers of the last read: the next one makes room for as many at once. */
  private lastBackends = 0;

  constructor(options: NetlinkReaderOptions = {}) {
    this.client = options.client ?? new IpvsGenlClient(options.timeoutMs);
    this.statsFile = join(options.procfs ?? '/proc', 'net/ip_vs_stats');
  }

  read(): Promise<CompactIpvsTable> {
    const next = this.queue.then(() => this.readNow());
    this.queue = next.catch(() => {});
    return next;
  }

  close(): void {
    this.client.close();
  }

  private async readNow(): Promise<CompactIpvsTable> {
    const unknown = new UnknownAttributes();
    const { services: found, problems } = decodeServiceReplies(await this.client.dumpServices(), unknown);
    const backends = new Backends(this.lastBackends);
    const services: CompactService[] = [];
    for (const { destinations: _, ...service } of found) {
      const first = backends.length;
      let n = 0;
      // The kernel dumps the real servers of one service per request (ip_vs_genl_dump_dests).
      await this.client.dump(IPVS_CMD_GET_DEST, encodeServiceSelector(service), (buffer, from, to) =>
        decodeDestinationReply(buffer, from, to, service, ++n, unknown, backends, problems),
      );
      services.push({ ...service, first, count: backends.length - first });
    }
    this.lastBackends = backends.length;
    const totals = parseIpVsStats(await readFile(this.statsFile, 'utf8'), this.statsFile);
    return {
      services,
      backends,
      totals: totals.totals,
      totalRates: totals.rates,
      problems: [...problems, ...totals.problems, ...unknown.problems()],
      ...(totals.complete ? {} : { totalsUnknown: true }),
    };
  }
}
