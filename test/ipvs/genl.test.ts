import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeDestinationReplies,
  decodeService,
  decodeServiceReplies,
  encodeServiceSelector,
  parseAttributes,
  UnknownAttributes,
} from '../../src/ipvs/genl.js';
import type { IpvsService, IpvsTable, ServiceKey } from '../../src/model/ipvs.js';
import { ipvsadmServiceKey, parseIpvsadm, viewOfTable } from '../support/ipvsadm.js';

/**
 * Replies captured from a real kernel (Debian's, under qemu) by scripts/capture-ipvs-fixtures.sh,
 * with ipvsadm's listings of the same moment.
 */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/ipvs/kernel/${name}`, import.meta.url), 'utf8');
const captured = JSON.parse(fixture('genl-replies.json')) as { services: string[]; destinations: { service: ServiceKey; replies: string[] }[] };
const serviceReplies = captured.services.map((hex) => Buffer.from(hex, 'hex'));
const ipvsadm = parseIpvsadm({ list: fixture('ipvsadm-list.txt'), stats: fixture('ipvsadm-stats.txt'), rate: fixture('ipvsadm-rate.txt') });

function decodeCapture(services: Buffer[] = serviceReplies): { table: IpvsTable; unknown: UnknownAttributes } {
  const unknown = new UnknownAttributes();
  const decoded = decodeServiceReplies(services, unknown);
  const problems = [...decoded.problems];
  for (const service of decoded.services) {
    const replies = captured.destinations.find((d) => ipvsadmServiceKey({ ...d.service, scheduler: '', flags: [], destinations: [] }) === ipvsadmServiceKey(service))!.replies;
    const dests = decodeDestinationReplies(service, replies.map((hex) => Buffer.from(hex, 'hex')), unknown);
    service.destinations = dests.destinations;
    problems.push(...dests.problems);
  }
  const zero = { connections: 0n, incomingPackets: 0n, outgoingPackets: 0n, incomingBytes: 0n, outgoingBytes: 0n };
  const zeroRates = { connectionsPerSecond: 0, incomingPacketsPerSecond: 0, outgoingPacketsPerSecond: 0, incomingBytesPerSecond: 0, outgoingBytesPerSecond: 0 };
  return { table: { services: decoded.services, totals: zero, totalRates: zeroRates, problems: [...problems, ...unknown.problems()] }, unknown };
}

type Attr = { type: number; payload: Buffer };

function encode(attrs: Attr[]): Buffer {
  return Buffer.concat(
    attrs.map(({ type, payload }) => {
      const out = Buffer.alloc((4 + payload.length + 3) & ~3);
      out.writeUInt16LE(4 + payload.length, 0);
      out.writeUInt16LE(type, 2);
      payload.copy(out, 4);
      return out;
    }),
  );
}

const attrs = (b: Buffer) => parseAttributes(b).attributes;
const SERVICE = 1;
const SVC_STATS = 10;
const SVC_STATS64 = 12;

/** A captured service reply with its service attributes changed by `edit`. */
function editedService(index: number, edit: (service: Attr[]) => Attr[]): Buffer {
  const inner = attrs(serviceReplies[index]!).find((a) => a.type === SERVICE)!.payload;
  return encode([{ type: SERVICE, payload: encode(edit(attrs(inner))) }]);
}

const natIndex = serviceReplies.findIndex((r) => decodeServiceReplies([r], new UnknownAttributes()).services[0]?.address === '10.40.0.100');

describe('generic netlink decoder on captured kernel replies', () => {
  it('decodes the capture into exactly what ipvsadm listed at that moment, figures and rates included', () => {
    const { table } = decodeCapture();
    expect(table.problems).toEqual([]);
    expect(Object.keys(ipvsadm).length).toBeGreaterThan(1);
    expect(viewOfTable(table, { figures: true })).toEqual(ipvsadm);
  });

  it('the capture has traffic in it, so the figures compared are not all zeros', () => {
    const nat = decodeCapture().table.services[natIndex]!;
    expect(nat.stats!.connections).toBeGreaterThan(0n);
    expect(nat.rates!.outgoingBytesPerSecond).toBeGreaterThan(0);
  });

  it('falls back to the 32-bit STATS when a kernel sends no STATS64, with the same figures', () => {
    const without64 = editedService(natIndex, (a) => a.filter((x) => x.type !== SVC_STATS64));
    const unknown = new UnknownAttributes();
    const { services, problems } = decodeServiceReplies([without64], unknown);
    expect(problems).toEqual([]);
    const full = decodeCapture().table.services[natIndex]!;
    expect(services[0]!.stats).toEqual(full.stats);
    expect(services[0]!.rates).toEqual(full.rates);
  });

  it('prefers STATS64 over STATS: a 32-bit block that disagrees is not used', () => {
    const wrong32 = editedService(natIndex, (a) => a.map((x) => (x.type === SVC_STATS ? { type: SVC_STATS, payload: Buffer.alloc(x.payload.length) } : x)));
    const { services } = decodeServiceReplies([wrong32], new UnknownAttributes());
    expect(services[0]!.stats).toEqual(decodeCapture().table.services[natIndex]!.stats);
  });

  it('leaves out a service whose attributes run past the message, and says where', () => {
    const reply = serviceReplies[natIndex]!;
    const truncated = Buffer.from(reply.subarray(0, reply.length - 7));
    // Keep the outer length consistent with the cut so only the inner stream is broken.
    truncated.writeUInt16LE(truncated.length, 0);
    const { services, problems } = decodeServiceReplies([truncated], new UnknownAttributes());
    expect(services).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.where).toBe('GET_SERVICE reply 1');
    expect(problems[0]!.message).toMatch(/claims \d+ bytes|stray bytes/);
  });

  it('leaves out a service whose address is not 16 bytes instead of guessing one', () => {
    const bad = editedService(natIndex, (a) => a.map((x) => (x.type === 3 ? { type: 3, payload: x.payload.subarray(0, 6) } : x)));
    const { services, problems } = decodeServiceReplies([bad], new UnknownAttributes());
    expect(services).toEqual([]);
    expect(problems[0]!.message).toMatch(/service address .*6 bytes, expected 16; service left out/);
  });

  it('keeps a service whose statistics block is malformed, with its figures unknown rather than zero', () => {
    const bad = editedService(natIndex, (a) =>
      a.map((x) => (x.type === SVC_STATS64 ? { type: SVC_STATS64, payload: encode(attrs(x.payload).map((s) => (s.type === 1 ? { type: 1, payload: s.payload.subarray(0, 3) } : s))) } : x)),
    );
    const { services, problems } = decodeServiceReplies([bad], new UnknownAttributes());
    expect(services[0]!.address).toBe('10.40.0.100');
    expect(services[0]!.stats).toBeUndefined();
    expect(problems.map((p) => p.message)).toEqual(['statistics attribute 1 is 3 bytes, expected 8']);
    expect(problems[0]!.where).toContain('TCP 10.40.0.100:80');
  });

  it('reports an attribute type it does not know once per read, with a count, and still decodes the rest', () => {
    const unknown = new UnknownAttributes();
    const extra = editedService(natIndex, (a) => [...a, { type: 40, payload: Buffer.alloc(4) }]);
    const { services } = decodeServiceReplies([extra, extra], unknown);
    expect(services).toHaveLength(2);
    expect(unknown.problems()).toEqual([{ where: 'IPVS generic netlink', message: 'service attribute type 40 is not known to kawatch (seen 2×); ignored' }]);
  });

  it('leaves out a real server with a forwarding method it does not know', () => {
    const natKey = decodeCapture().table.services[natIndex]!;
    const reply = Buffer.from(captured.destinations.find((d) => d.service.address === '10.40.0.100')!.replies[0]!, 'hex');
    const inner = attrs(reply).find((a) => a.type === 2)!.payload;
    const edited = encode([{ type: 2, payload: encode(attrs(inner).map((x) => (x.type === 3 ? { type: 3, payload: Buffer.from([5, 0, 0, 0]) } : x))) }]);
    const { destinations, problems } = decodeDestinationReplies(natKey, [edited], new UnknownAttributes());
    expect(destinations).toEqual([]);
    expect(problems[0]!.message).toMatch(/forwarding method 5 is not masq \(0\), local \(1\), tunnel \(2\) or route \(3\); real server left out/);
    expect(problems[0]!.where).toContain('real server 10.20.0.2:8080');
  });

  it('selects services for GET_DEST with the identity the kernel gave them (IPv4, IPv6, firewall mark)', () => {
    const { table } = decodeCapture();
    for (const service of table.services) {
      const selector = attrs(encodeServiceSelector(service))[0]!;
      expect(selector.type).toBe(SERVICE);
      const decoded = decodeService(encodeSelectorAsService(selector.payload), 'selector', new UnknownAttributes()).value!;
      expect(ipvsadmServiceKey(decoded)).toBe(ipvsadmServiceKey(service));
    }
    expect(new Set(table.services.map((s: IpvsService) => `${s.protocol}/${s.family}`))).toContain('FWM/6');
  });
});

/** A selector carries only the identity; give it the scheduler and flags a service reply has. */
function encodeSelectorAsService(selector: Buffer): Buffer {
  return encode([...attrs(selector), { type: 6, payload: Buffer.from('rr\0') }, { type: 7, payload: Buffer.alloc(8) }]);
}
