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
 * The family has no command for the global totals of /proc/net/ip_vs_stats (IPVS_CMD_GET_INFO gives
 * the version and connection table size, IPVS_CMD_GET_CONFIG the timeouts), so this reader takes
 * them from `<procfs>/net/ip_vs_stats`.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
// The package's core and its generic netlink layer only: its index also loads the rtnetlink,
// nl80211 and WireGuard message tables, a megabyte of code the IPVS reader never runs.
import { FlagsGet } from 'netlink/dist/constants.js';
import { createGenericNetlink } from 'netlink/dist/genl/genl.js';
import * as genl from 'netlink/dist/genl/structs.js';
import { ipFromBytes } from '../core/ip.js';
import type { ForwardingMethod, IpvsDestination, IpvsProblem, IpvsRates, IpvsReader, IpvsService, IpvsStats, IpvsTable, ServiceKey, ServiceProtocol } from '../model/ipvs.js';
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

/** The host-order integers the kernel's nla_put_u16/u32/u64 and nla_get_* use (x86 and arm64 are little-endian). */
const readU16 = (b: Buffer, offset = 0) => (littleEndian ? b.readUInt16LE(offset) : b.readUInt16BE(offset));
const readU32 = (b: Buffer, offset = 0) => (littleEndian ? b.readUInt32LE(offset) : b.readUInt32BE(offset));
const readS32 = (b: Buffer) => (littleEndian ? b.readInt32LE(0) : b.readInt32BE(0));
const readU64 = (b: Buffer, offset = 0) => (littleEndian ? b.readBigUInt64LE(offset) : b.readBigUInt64BE(offset));
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
 * Walks a netlink attribute stream, giving each attribute's type and the bounds of its payload to
 * `visit`; returns what is wrong with the stream (a length that runs past the buffer is a problem,
 * not a guess), after the attributes before the fault were visited.
 */
function walkAttributes(buffer: Buffer, visit: (type: number, from: number, to: number) => void): string | undefined {
  let offset = 0;
  while (offset + NLA_HEADER <= buffer.length) {
    // Offsets, not subarrays, for the headers: a Buffer view per read shows at 100k real servers.
    const length = readU16(buffer, offset);
    const type = readU16(buffer, offset + 2) & NLA_TYPE_MASK;
    if (length < NLA_HEADER || offset + length > buffer.length) return `attribute at byte ${offset} claims ${length} bytes, ${buffer.length - offset} remain`;
    visit(type, offset + NLA_HEADER, offset + length);
    offset += align4(length);
  }
  return offset < buffer.length ? `${buffer.length - offset} stray bytes after the last attribute` : undefined;
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

/** A STATS (`wide` false: 32-bit packet, connection and rate fields) or STATS64 block. */
export function decodeStats(payload: Buffer, wide: boolean, where: Where, unknown: UnknownAttributes): Decoded<{ stats: IpvsStats; rates: IpvsRates }> {
  const problems: IpvsProblem[] = [];
  const values = new Map<number, bigint>();
  /** Types seen, whether or not their figure could be read. */
  const seen = new Set<number>();
  // Read in place, by offset: two statistics blocks of eleven attributes per real server made a
  // view and an object per attribute, which showed at 100k real servers.
  const error = walkAttributes(payload, (type, from, to) => {
    seen.add(type);
    if (type === STATS.PAD) return;
    if (type < STATS.CONNS || type > STATS.OUTBPS) {
      unknown.note(wide ? 'STATS64' : 'STATS', type);
      return;
    }
    const isBytes = type === STATS.INBYTES || type === STATS.OUTBYTES;
    const size = wide || isBytes ? 8 : 4;
    if (to - from !== size) {
      problems.push({ where: whereText(where), message: `statistics attribute ${type} is ${to - from} bytes, expected ${size}` });
      return;
    }
    values.set(type, size === 8 ? readU64(payload, from) : BigInt(readU32(payload, from)));
  });
  if (error !== undefined) return { problems: [{ where: whereText(where), message: `statistics: ${error}` }] };
  // Every figure there (the usual case): nothing to look for.
  const missing = values.size === STATS_FIGURES.length ? [] : STATS_FIGURES.filter((t) => !seen.has(t));
  if (missing.length > 0) problems.push({ where: whereText(where), message: `statistics lack attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; figures left unknown` });
  if (problems.length > 0) return { problems };
  const v = (t: number) => values.get(t)!;
  return {
    value: {
      stats: { connections: v(STATS.CONNS), incomingPackets: v(STATS.INPKTS), outgoingPackets: v(STATS.OUTPKTS), incomingBytes: v(STATS.INBYTES), outgoingBytes: v(STATS.OUTBYTES) },
      rates: {
        connectionsPerSecond: Number(v(STATS.CPS)),
        incomingPacketsPerSecond: Number(v(STATS.INPPS)),
        outgoingPacketsPerSecond: Number(v(STATS.OUTPPS)),
        incomingBytesPerSecond: Number(v(STATS.INBPS)),
        outgoingBytesPerSecond: Number(v(STATS.OUTBPS)),
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

/** The nested IPVS_CMD_ATTR_DEST of a GET_DEST reply; `service` gives the family when the kernel omits the real server's own. */
export function decodeDestination(payload: Buffer, service: ServiceKey, where: Where, unknown: UnknownAttributes): Decoded<IpvsDestination> {
  const parsed = parseAttributes(payload);
  if (parsed.error) return { problems: [{ where: whereText(where), message: `real server attributes: ${parsed.error}; real server left out` }] };
  const a = new Map<number, Buffer>();
  for (const { type, payload: p } of parsed.attributes) {
    if (DEST_IGNORED.has(type)) continue;
    if (type >= DEST.ADDR && type <= DEST.STATS64) a.set(type, p);
    else unknown.note('real server', type);
  }
  const famAttr = a.get(DEST.ADDR_FAMILY);
  const fam = famAttr ? family(famAttr) : service.family;
  if (fam === undefined) return { problems: [{ where: whereText(where), message: 'real server address family not AF_INET/AF_INET6; real server left out' }] };
  const addr = a.get(DEST.ADDR);
  const address = addr && addressText(fam, addr);
  const port = a.get(DEST.PORT);
  if (!address) return { problems: [{ where: whereText(where), message: `real server address missing or ${addr?.length} bytes, expected 16; real server left out` }] };
  if (port?.length !== 2) return { problems: [{ where: whereText(where), message: `real server ${address}: port missing or not 2 bytes; real server left out` }] };
  const name = () => `${whereText(where)} (real server ${fam === 6 ? `[${address}]` : address}:${port.readUInt16BE(0)})`;
  const fwd = a.get(DEST.FWD_METHOD);
  const forwarding = fwd?.length === 4 ? FORWARDING[readU32(fwd) & IP_VS_CONN_F_FWD_MASK] : undefined;
  if (!forwarding) return { problems: [{ where: name(), message: `forwarding method ${fwd?.length === 4 ? readU32(fwd) : 'missing'} is not masq (0), local (1), tunnel (2) or route (3); real server left out` }] };
  const problems: IpvsProblem[] = [];
  /** Weights and connection counts are C ints the kernel keeps non-negative: a negative one is not a figure. */
  const int = (type: number, what: string): number | undefined => {
    const p = a.get(type);
    if (p?.length !== 4) {
      problems.push({ where: name(), message: `${what} missing or not 4 bytes` });
      return undefined;
    }
    const n = readS32(p);
    if (n >= 0) return n;
    problems.push({ where: name(), message: `${what} ${n} is negative` });
    return undefined;
  };
  const weight = int(DEST.WEIGHT, 'weight');
  const active = int(DEST.ACTIVE_CONNS, 'active connections');
  const inactive = int(DEST.INACT_CONNS, 'inactive connections');
  if (weight === undefined || active === undefined || inactive === undefined) return { problems: [...problems.map((p) => ({ ...p, message: `${p.message}; real server left out` }))] };
  const destination: IpvsDestination = { family: fam, address, port: port.readUInt16BE(0), forwarding, weight, activeConnections: active, inactiveConnections: inactive };
  const persistent = int(DEST.PERSIST_CONNS, 'persistent connections');
  if (persistent !== undefined) destination.persistentConnections = persistent;
  const stats = pickStats(a.get(DEST.STATS64), a.get(DEST.STATS), name, unknown);
  problems.push(...stats.problems);
  if (stats.value) [destination.stats, destination.rates] = [stats.value.stats, stats.value.rates];
  return { value: destination, problems };
}

/** One reply's payload (after the genl header) → the nested attribute `container` holds. */
function nested(payload: Buffer, container: number, what: string, where: Where, unknown: UnknownAttributes): Decoded<Buffer> {
  const parsed = parseAttributes(payload);
  if (parsed.error) return { problems: [{ where: whereText(where), message: `${what} reply: ${parsed.error}` }] };
  let found: Buffer | undefined;
  for (const { type, payload: p } of parsed.attributes) {
    if (type === container) found = p;
    else unknown.note(`${what} reply`, type);
  }
  return found ? { value: found, problems: [] } : { problems: [{ where: whereText(where), message: `${what} reply without its nested attribute ${container}` }] };
}

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

/** GET_DEST dump replies for one service → its real servers. */
export function decodeDestinationReplies(service: ServiceKey, replies: readonly Buffer[], unknown: UnknownAttributes): { destinations: IpvsDestination[]; problems: IpvsProblem[] } {
  const destinations: IpvsDestination[] = [];
  const problems: IpvsProblem[] = [];
  replies.forEach((reply, i) => {
    const where = () => `GET_DEST reply ${i + 1} for ${serviceName(service)}`;
    const inner = nested(reply, IPVS_CMD_ATTR_DEST, 'GET_DEST', where, unknown);
    problems.push(...inner.problems);
    if (!inner.value) return;
    const decoded = decodeDestination(inner.value, service, where, unknown);
    problems.push(...decoded.problems);
    if (decoded.value) destinations.push(decoded.value);
  });
  return { destinations, problems };
}

type GenlSocket = ReturnType<typeof createGenericNetlink>;

/** The socket side: dumps as raw reply payloads (what the decoders above take, and what fixtures capture). */
export class IpvsGenlClient {
  private socket?: GenlSocket;
  private familyId?: number;

  constructor(private readonly timeoutMs = 5_000) {}

  async dumpServices(): Promise<Buffer[]> {
    return this.dump(IPVS_CMD_GET_SERVICE, []);
  }

  async dumpDestinations(service: ServiceKey): Promise<Buffer[]> {
    return this.dump(IPVS_CMD_GET_DEST, [encodeServiceSelector(service)]);
  }

  close(): void {
    this.socket?.socket.close();
    this.socket = undefined;
    this.familyId = undefined;
  }

  private async dump(cmd: number, data: Buffer[]): Promise<Buffer[]> {
    const { socket, familyId } = await this.open();
    try {
      const [replies] = await socket.request(familyId, cmd, IPVS_GENL_VERSION, data, { flags: FlagsGet.DUMP, timeout: this.timeoutMs });
      return replies.map((r) => r.data);
    } catch (err) {
      // A fresh socket next time: a timed-out dump may still be arriving on this one, and the
      // family id changes when ip_vs is reloaded.
      this.close();
      const message = (err as Error).message;
      throw new Error(/EPERM/.test(message) ? `${message}: reading IPVS over generic netlink needs CAP_NET_ADMIN` : message);
    }
  }

  private async open(): Promise<{ socket: GenlSocket; familyId: number }> {
    if (this.socket && this.familyId !== undefined) return { socket: this.socket, familyId: this.familyId };
    const socket = createGenericNetlink();
    this.socket = socket;
    try {
      const [family] = await socket.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: IPVS_GENL_NAME }, { timeout: this.timeoutMs });
      if (family?.familyId === undefined) throw new Error('no family id in the answer');
      this.familyId = family.familyId;
      return { socket, familyId: family.familyId };
    } catch (err) {
      this.close();
      throw new Error(`generic netlink family ${IPVS_GENL_NAME} not available (is the ip_vs module loaded?): ${(err as Error).message}`);
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
  /** One dump at a time: the netlink package groups multipart replies per socket, not per request. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: NetlinkReaderOptions = {}) {
    this.client = options.client ?? new IpvsGenlClient(options.timeoutMs);
    this.statsFile = join(options.procfs ?? '/proc', 'net/ip_vs_stats');
  }

  read(): Promise<IpvsTable> {
    const next = this.queue.then(() => this.readNow());
    this.queue = next.catch(() => {});
    return next;
  }

  close(): void {
    this.client.close();
  }

  private async readNow(): Promise<IpvsTable> {
    const unknown = new UnknownAttributes();
    const { services, problems } = decodeServiceReplies(await this.client.dumpServices(), unknown);
    for (const service of services) {
      const dests = decodeDestinationReplies(service, await this.client.dumpDestinations(service), unknown);
      service.destinations = dests.destinations;
      problems.push(...dests.problems);
    }
    const totals = parseIpVsStats(await readFile(this.statsFile, 'utf8'), this.statsFile);
    return {
      services,
      totals: totals.totals,
      totalRates: totals.rates,
      problems: [...problems, ...totals.problems, ...unknown.problems()],
      ...(totals.complete ? {} : { totalsUnknown: true }),
    };
  }
}
