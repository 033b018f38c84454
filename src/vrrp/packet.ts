import { isIP } from 'node:net';

/**
 * VRRP adverts as they arrive on the wire: VRRPv2 (RFC 3768, IPv4 only) and VRRPv3 (RFC 5798, IPv4
 * and IPv6). Pure: bytes in, an advert or the reason it is refused out; never throws. Nothing of an
 * advert's authentication data leaves this file: only its type and whether it matches the
 * password the caller holds.
 */

export const VRRP_PROTOCOL = 112;
export const VRRP_TTL = 255;

/** A datagram from the raw socket (native/vrrp-socket.c). */
export interface Datagram {
  family: 4 | 6;
  /** IPv4: the whole packet, IP header included; IPv6: the VRRP payload (the kernel strips IPv6 headers). */
  data: Uint8Array;
  /** From the socket: the IPv6 source and destination (for IPv4 the header's are used). */
  source: string;
  destination: string;
  /** The IPv6 hop limit from ancillary data; for IPv4 the header's TTL is used. */
  hopLimit: number;
}

export type AuthType = 'none' | 'simple' | 'ah' | 'unknown';

export interface Advert {
  version: 2 | 3;
  family: 4 | 6;
  source: string;
  destination: string;
  vrid: number;
  priority: number;
  /** Milliseconds between adverts: v2 counts seconds, v3 centiseconds. */
  intervalMs: number;
  /** The virtual addresses the advert lists. */
  addresses: string[];
  /** VRRPv2 only. `matches`: whether a simple password equals the one expected for the VRID (unset when none is). */
  auth?: { type: AuthType; matches?: boolean };
}

export const MALFORMED_REASONS = ['truncated', 'ip-header', 'ip-checksum', 'not-vrrp', 'version', 'type', 'vrid', 'interval', 'length', 'checksum', 'ttl', 'v2-over-ipv6'] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

export type Parsed = { ok: true; advert: Advert } | { ok: false; reason: MalformedReason; detail: string };

export interface ParseOptions {
  /**
   * The simple-text password configured for a VRID on this host (at most 8 bytes, as keepalived
   * keeps it), so an advert can be said to match it or not. The password is compared here and
   * goes nowhere else.
   */
  passwordFor?: (vrid: number) => Uint8Array | undefined;
}

const V2_AUTH_BYTES = 8;
const AUTH_TYPES: Record<number, AuthType> = { 0: 'none', 1: 'simple', 2: 'ah' };

/** The Internet checksum (RFC 1071) of the parts, as if concatenated. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      if (odd === undefined) odd = part[i]!;
      else {
        sum += (odd << 8) | part[i]!;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Text(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function ipv6Text(b: Uint8Array, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[at + i]! << 8) | b[at + i + 1]!).toString(16));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** An address in text as the socket gives it → its bytes; undefined when it is not one. */
export function addressBytes(text: string): Uint8Array | undefined {
  const family = isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  if (family !== 6) return undefined;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const part = (s: string | undefined) => (s ? s.split(':') : []);
  let groups = part(head);
  const rest = part(tail);
  // An IPv4-mapped tail ("::ffff:1.2.3.4") counts as two groups.
  const expand = (list: string[]) => list.flatMap((g) => (g.includes('.') ? (([a, b, c, d]) => [((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16)])(g.split('.').map(Number)) : [g]));
  groups = expand(groups);
  const restGroups = expand(rest);
  const all = tail === undefined ? groups : [...groups, ...Array<string>(8 - groups.length - restGroups.length).fill('0'), ...restGroups];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

const refuse = (reason: MalformedReason, detail: string): Parsed => ({ ok: false, reason, detail });

/** The IPv4 header of a raw socket's packet: its fields, or why it is refused. */
function ipv4Header(b: Uint8Array): { ok: true; source: string; destination: string; ttl: number; payload: Uint8Array } | { ok: false; parsed: Parsed } {
  if (b.length < 20) return { ok: false, parsed: refuse('truncated', `${b.length} bytes, shorter than an IPv4 header`) };
  const ihl = (b[0]! & 0x0f) * 4;
  if (b[0]! >> 4 !== 4 || ihl < 20 || ihl > b.length) return { ok: false, parsed: refuse('ip-header', `version ${b[0]! >> 4}, header length ${ihl}`) };
  const total = (b[2]! << 8) | b[3]!;
  // Linux hands raw sockets the packet with its total length as sent; a shorter buffer was cut.
  if (total < ihl || total > b.length) return { ok: false, parsed: refuse('truncated', `total length ${total}, ${b.length} bytes received`) };
  if (internetChecksum(b.subarray(0, ihl)) !== 0) return { ok: false, parsed: refuse('ip-checksum', 'IPv4 header checksum does not verify') };
  if (b[9] !== VRRP_PROTOCOL) return { ok: false, parsed: refuse('not-vrrp', `IP protocol ${b[9]}`) };
  return { ok: true, source: ipv4Text(b, 12), destination: ipv4Text(b, 16), ttl: b[8]!, payload: b.subarray(ihl, total) };
}

/** One advert from a datagram of the raw socket, or why it is not one. */
export function parseDatagram(d: Datagram, options: ParseOptions = {}): Parsed {
  if (d.family === 4) {
    const ip = ipv4Header(d.data);
    if (!ip.ok) return ip.parsed;
    return parseAdvert({ family: 4, payload: ip.payload, source: ip.source, destination: ip.destination, ttl: ip.ttl }, options);
  }
  return parseAdvert({ family: 6, payload: d.data, source: d.source, destination: d.destination, ttl: d.hopLimit }, options);
}

export interface Payload {
  family: 4 | 6;
  payload: Uint8Array;
  source: string;
  destination: string;
  /** TTL (IPv4) or hop limit (IPv6) the packet arrived with. */
  ttl: number;
}

/** The VRRP message itself, with the addresses and TTL its IP header carried. */
export function parseAdvert(p: Payload, options: ParseOptions = {}): Parsed {
  const b = p.payload;
  if (b.length < 8) return refuse('truncated', `${b.length} bytes, shorter than a VRRP header`);
  const version = b[0]! >> 4;
  if (version !== 2 && version !== 3) return refuse('version', `VRRP version ${version}`);
  if ((b[0]! & 0x0f) !== 1) return refuse('type', `VRRP type ${b[0]! & 0x0f} (only 1, ADVERTISEMENT, exists)`);
  const vrid = b[1]!;
  if (vrid === 0) return refuse('vrid', 'VRID 0');
  if (version === 2 && p.family === 6) return refuse('v2-over-ipv6', 'VRRPv2 is defined for IPv4 only');
  const count = b[3]!;
  const addressBytesLen = p.family === 4 ? 4 : 16;
  const expected = 8 + count * addressBytesLen + (version === 2 ? V2_AUTH_BYTES : 0);
  if (b.length < expected) return refuse('truncated', `${b.length} bytes for ${count} addresses (${expected} expected)`);
  if (b.length > expected) return refuse('length', `${b.length} bytes for ${count} addresses (${expected} expected)`);
  const intervalMs = version === 2 ? b[5]! * 1000 : (((b[4]! & 0x0f) << 8) | b[5]!) * 10;
  if (intervalMs === 0) return refuse('interval', 'advert interval 0');
  const src = addressBytes(p.source);
  const dst = addressBytes(p.destination);
  if (!src || !dst || src.length !== addressBytesLen || dst.length !== addressBytesLen) return refuse('ip-header', 'source or destination is not an address of the family');
  const sum = version === 2 ? internetChecksum(b) : internetChecksum(pseudoHeader(src, dst, b.length), b);
  if (sum !== 0) return refuse('checksum', `VRRPv${version} checksum does not verify`);
  // Checked last: a well-formed advert that crossed a router is told apart from garbage.
  if (p.ttl !== VRRP_TTL) return refuse('ttl', `${p.family === 4 ? 'TTL' : 'hop limit'} ${p.ttl}, not 255: it crossed a router or was forged`);
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(p.family === 4 ? ipv4Text(b, 8 + 4 * i) : ipv6Text(b, 8 + 16 * i));
  const advert: Advert = { version, family: p.family, source: p.source, destination: p.destination, vrid, priority: b[2]!, intervalMs, addresses };
  if (version === 2) advert.auth = authOf(b[4]!, b.subarray(expected - V2_AUTH_BYTES), options.passwordFor?.(vrid));
  return { ok: true, advert };
}

/** RFC 5798 §5.2.8: source, destination, upper-layer length and protocol, as IPv4 or IPv6 lays them out. */
function pseudoHeader(src: Uint8Array, dst: Uint8Array, length: number): Uint8Array {
  if (src.length === 4) return Uint8Array.from([...src, ...dst, 0, VRRP_PROTOCOL, length >> 8, length & 0xff]);
  return Uint8Array.from([...src, ...dst, 0, 0, length >> 8, length & 0xff, 0, 0, 0, VRRP_PROTOCOL]);
}

/** keepalived pads a simple password with zeros to 8 bytes; compared in constant time over those 8. */
function authOf(type: number, data: Uint8Array, expected: Uint8Array | undefined): { type: AuthType; matches?: boolean } {
  const kind = AUTH_TYPES[type] ?? 'unknown';
  if (kind !== 'simple' || expected === undefined) return { type: kind };
  let diff = 0;
  for (let i = 0; i < V2_AUTH_BYTES; i++) diff |= (data[i] ?? 0) ^ (expected[i] ?? 0);
  return { type: kind, matches: diff === 0 && expected.length <= V2_AUTH_BYTES };
}

export interface EncodeOptions {
  /** VRRPv2 simple password (padded to 8 bytes). */
  password?: string;
  /** VRRPv2 auth type byte; default 1 with a password, else 0. */
  authType?: number;
  ttl?: number;
}

/**
 * The bytes of an advert as a router sends it: for IPv4 the whole packet with its IP header, for
 * IPv6 the VRRP payload (what the raw socket gives, respectively). The inverse of `parseDatagram`,
 * for the tests and the lab's foreign speaker.
 */
export function encodeAdvert(a: Omit<Advert, 'auth'>, options: EncodeOptions = {}): Uint8Array {
  const size = a.family === 4 ? 4 : 16;
  const auth = a.version === 2 ? V2_AUTH_BYTES : 0;
  const vrrp = new Uint8Array(8 + size * a.addresses.length + auth);
  vrrp[0] = (a.version << 4) | 1;
  vrrp[1] = a.vrid;
  vrrp[2] = a.priority;
  vrrp[3] = a.addresses.length;
  if (a.version === 2) {
    vrrp[4] = options.authType ?? (options.password ? 1 : 0);
    vrrp[5] = Math.round(a.intervalMs / 1000);
  } else {
    const cs = Math.round(a.intervalMs / 10) & 0x0fff;
    vrrp[4] = cs >> 8;
    vrrp[5] = cs & 0xff;
  }
  a.addresses.forEach((address, i) => vrrp.set(addressBytes(address)!, 8 + size * i));
  if (options.password) vrrp.set(new TextEncoder().encode(options.password).subarray(0, V2_AUTH_BYTES), vrrp.length - V2_AUTH_BYTES);
  const src = addressBytes(a.source)!;
  const dst = addressBytes(a.destination)!;
  const sum = a.version === 2 ? internetChecksum(vrrp) : internetChecksum(pseudoHeader(src, dst, vrrp.length), vrrp);
  vrrp[6] = sum >> 8;
  vrrp[7] = sum & 0xff;
  if (a.family === 6) return vrrp;
  const packet = new Uint8Array(20 + vrrp.length);
  packet.set([0x45, 0xc0, packet.length >> 8, packet.length & 0xff, 0, 0, 0, 0, options.ttl ?? VRRP_TTL, VRRP_PROTOCOL, 0, 0, ...src, ...dst]);
  const header = internetChecksum(packet.subarray(0, 20));
  packet[10] = header >> 8;
  packet[11] = header & 0xff;
  packet.set(vrrp, 20);
  return packet;
}
