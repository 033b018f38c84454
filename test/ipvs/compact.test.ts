/**
 * The compact path (procfs text → columns → exposition written byte by byte) against a simple
 * reference on random tables: the table as objects, printed in the kernel's procfs format, and
 * the backend series written with one template string per line from the objects.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpVsColumns } from '../../src/ipvs/procfs.js';
import { ipvsExposition } from '../../src/metrics/ipvs.js';
import { BACKEND_LABELS, type ForwardingMethod, type IpvsDestination, type IpvsService, type IpvsTable } from '../../src/model/ipvs.js';
import { compactTable, expandService, expandTable } from '../../src/model/ipvs-backends.js';

const INT_MAX = 2 ** 31 - 1;
const METHODS: ForwardingMethod[] = ['route', 'masq', 'tunnel', 'local'];
const PRINTED: Record<ForwardingMethod, string> = { route: 'Route', masq: 'Masq', tunnel: 'Tunnel', local: 'Local' };
const hex = (n: number, digits: number) => n.toString(16).toUpperCase().padStart(digits, '0');

const ipv4 = fc.nat({ max: 2 ** 32 - 1 }).map((n) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`);
/** Canonical IPv6 text, through the URL parser's compression. */
const ipv6 = fc.array(fc.constantFrom(0, 0, 1, 0xdb8, 0xffff, 0x2001, 0xabc), { minLength: 8, maxLength: 8 }).map((g) => new URL(`http://[${g.map((x) => x.toString(16)).join(':')}]`).hostname.slice(1, -1));
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const rate = fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(2 ** 32 - 1, 2 ** 53 + 2, 2 ** 64));

const destination = (family: 4 | 6, withStats: boolean): fc.Arbitrary<IpvsDestination> =>
  fc
    .record({
      address: family === 4 ? ipv4 : ipv6,
      port: fc.nat({ max: 65535 }),
      forwarding: fc.constantFrom(...METHODS),
      weight: fc.nat({ max: INT_MAX }),
      activeConnections: fc.nat({ max: INT_MAX }),
      inactiveConnections: fc.nat({ max: INT_MAX }),
      persistentConnections: fc.nat({ max: INT_MAX }),
      stats: fc.tuple(u64, u64, u64, u64, u64),
      rates: fc.tuple(rate, rate, rate, rate, rate),
    })
    .map(({ stats, rates, persistentConnections, ...d }) => ({
      family,
      ...d,
      ...(withStats
        ? {
            persistentConnections,
            stats: { connections: stats[0], incomingPackets: stats[1], outgoingPackets: stats[2], incomingBytes: stats[3], outgoingBytes: stats[4] },
            rates: { connectionsPerSecond: rates[0], incomingPacketsPerSecond: rates[1], outgoingPacketsPerSecond: rates[2], incomingBytesPerSecond: rates[3], outgoingBytesPerSecond: rates[4] },
          }
        : {}),
    }));

const service = (withStats: boolean): fc.Arbitrary<IpvsService> =>
  fc
    .record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP', 'FWM' as const), family: fc.constantFrom(4 as const, 6 as const), port: fc.nat({ max: 65535 }), fwmark: fc.nat({ max: 2 ** 32 - 1 }), scheduler: fc.constantFrom('wlc', 'rr', 'sh') })
    .chain((s) =>
      fc.record({
        address: s.protocol === 'FWM' ? fc.constant('') : s.family === 4 ? ipv4 : ipv6,
        destinations: fc.uniqueArray(destination(s.family, withStats), { maxLength: 6, selector: (d) => `${d.address} ${d.port}` }),
      }).map(({ address, destinations }) => ({ ...s, address, port: s.protocol === 'FWM' ? 0 : s.port, fwmark: s.protocol === 'FWM' ? s.fwmark : 0, flags: [], destinations })),
    );

const table = (withStats: boolean): fc.Arbitrary<IpvsTable> =>
  fc.uniqueArray(service(withStats), { maxLength: 8, selector: (s) => `${s.family} ${s.protocol} ${s.address} ${s.port} ${s.fwmark}` }).map((services) => ({
    services,
    totals: { connections: 1n, incomingPackets: 2n, outgoingPackets: 3n, incomingBytes: 4n, outgoingBytes: 5n },
    totalRates: { connectionsPerSecond: 1, incomingPacketsPerSecond: 2, outgoingPacketsPerSecond: 3, incomingBytesPerSecond: 4, outgoingBytesPerSecond: 5 },
    problems: [],
  }));

/** `%pI6`: all eight groups in full. */
const fullIpv6 = (text: string) => {
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((g) => g.padStart(4, '0')).join(':');
};
const printedAddress = (family: 4 | 6, address: string, port: number) =>
  family === 4 ? `${hex(address.split('.').reduce((n, o) => n * 256 + Number(o), 0), 8)}:${hex(port, 4)}` : `[${fullIpv6(address)}]:${hex(port, 4)}`;

/** The kernel's ip_vs_info_seq_show. */
function printProcfs(t: IpvsTable): string {
  const lines = ['IP Virtual Server version 1.2.1 (size=4096)', 'Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn'];
  for (const s of t.services) {
    lines.push(s.protocol === 'FWM' ? `FWM  ${hex(s.fwmark, 8)} ${s.scheduler} ` : `${s.protocol}  ${printedAddress(s.family, s.address, s.port)} ${s.scheduler} `);
    for (const d of s.destinations) {
      lines.push(`  -> ${printedAddress(d.family, d.address, d.port)}      ${PRINTED[d.forwarding].padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.activeConnections).padEnd(10)} ${String(d.inactiveConnections).padEnd(10)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The backend series of a table, one template string per line from the objects. */
function referenceBackendLines(t: IpvsTable): string[] {
  const families: [string, (d: IpvsDestination) => number | bigint | undefined][] = [
    ['ipvs_backend_weight', (d) => d.weight],
    ['ipvs_backend_connections_active', (d) => d.activeConnections],
    ['ipvs_backend_connections_inactive', (d) => d.inactiveConnections],
    ['ipvs_backend_connections_persistent', (d) => d.persistentConnections],
    ...(['connections', 'incomingPackets', 'outgoingPackets', 'incomingBytes', 'outgoingBytes'] as const).map((k, i): [string, (d: IpvsDestination) => bigint | undefined] => [
      `ipvs_backend_${['connections_total', 'incoming_packets_total', 'outgoing_packets_total', 'incoming_bytes_total', 'outgoing_bytes_total'][i]}`,
      (d) => d.stats?.[k],
    ]),
    ...(['connectionsPerSecond', 'incomingPacketsPerSecond', 'outgoingPacketsPerSecond', 'incomingBytesPerSecond', 'outgoingBytesPerSecond'] as const).map((k, i): [string, (d: IpvsDestination) => number | undefined] => [
      `ipvs_backend_${['connections_per_second', 'incoming_packets_per_second', 'outgoing_packets_per_second', 'incoming_bytes_per_second', 'outgoing_bytes_per_second'][i]}`,
      (d) => d.rates?.[k],
    ]),
  ];
  const lines: string[] = [];
  const labels = (s: IpvsService, d: IpvsDestination) => {
    const fwm = s.protocol === 'FWM';
    return `local_address="${fwm ? '' : s.address}",local_port="${fwm ? 0 : s.port}",remote_address="${d.address}",remote_port="${d.port}",proto="${s.protocol}",local_mark="${fwm ? hex(s.fwmark, 8) : ''}"`;
  };
  for (const [name, value] of families) {
    for (const s of t.services) for (const d of s.destinations) if (value(d) !== undefined) lines.push(`${name}{${labels(s, d)}} ${value(d)}`);
  }
  for (const s of t.services) for (const d of s.destinations) lines.push(`ipvs_backend_info{${labels(s, d)},forwarding="${d.forwarding}"} 1`);
  return lines;
}

const backendLines = (t: IpvsTable) =>
  [...ipvsExposition({ table: compactTable(t), health: { up: true, durationSeconds: 0, problemsTotal: 0 }, backendLabels: BACKEND_LABELS, backendRates: true, checkers: [] })]
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('ipvs_backend_'));

describe('the compact table', () => {
  it('reads the procfs text of any table into the rows the objects describe', () => {
    fc.assert(
      fc.property(table(false), (t) => {
        const parsed = parseIpVsColumns(printProcfs(t), 'ip_vs');
        expect(parsed.problems).toEqual([]);
        const expected = t.services.map((s) => ({ ...s, family: s.protocol === 'FWM' ? (s.destinations[0]?.family ?? 4) : s.family }));
        expect(parsed.services.map((s) => expandService(s, parsed.backends))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps every figure of netlink rows, 64-bit counters exactly', () => {
    fc.assert(
      fc.property(table(true), (t) => {
        expect(expandTable(compactTable(t))).toEqual(t);
      }),
      { numRuns: 300 },
    );
  });

  it('writes the backend series the reference writes, procfs and netlink tables alike', () => {
    fc.assert(
      fc.property(fc.boolean().chain(table), (t) => {
        expect(backendLines(t)).toEqual(referenceBackendLines(t));
      }),
      { numRuns: 300 },
    );
  });
});
