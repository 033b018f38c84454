import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp } from '../../src/core/ip.js';
import { configHz, destinationByPattern, ipv6FromFull, parseDestinationLine, parseIpVs, parseIpVsStats } from '../../src/ipvs/procfs.js';
import { parseIpvsadm, viewOfTable, withoutFigures } from '../support/ipvsadm.js';
import { DEBIAN_HZ } from './fixtures.js';

const fixture = (tree: string, file: string) => readFileSync(new URL(`../fixtures/ipvs/${tree}/net/${file}`, import.meta.url), 'utf8');
const HEADER = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';

describe('parseIpVs on every line shape of ip_vs_info_seq_show', () => {
  const { services, problems } = parseIpVs(fixture('shapes', 'ip_vs'), 'ip_vs', DEBIAN_HZ);
  const find = (protocol: string, address: string, port: number, fwmark = 0, family?: 4 | 6) =>
    services.find((s) => s.protocol === protocol && s.address === address && s.port === port && s.fwmark === fwmark && (family === undefined || s.family === family));

  it('reads every service and real server without a problem', () => {
    expect(problems).toEqual([]);
    expect(services).toHaveLength(9);
    expect(services.reduce((n, s) => n + s.destinations.length, 0)).toBe(13);
  });

  it('IPv4 TCP: hex address and port, scheduler, every real server in order with its figures', () => {
    const s = find('TCP', '198.18.9.50', 80)!;
    expect(s).toMatchObject({ family: 4, scheduler: 'wlc', flags: [] });
    expect(s.persistence).toBeUndefined();
    expect(s.destinations).toEqual([
      { family: 4, address: '198.18.9.101', port: 80, forwarding: 'route', weight: 1, activeConnections: 12, inactiveConnections: 3 },
      { family: 4, address: '198.18.9.102', port: 80, forwarding: 'route', weight: 0, activeConnections: 0, inactiveConnections: 7 },
      { family: 4, address: '198.18.9.200', port: 8080, forwarding: 'masq', weight: 1, activeConnections: 0, inactiveConnections: 0 },
    ]);
  });

  it('UDP with the one-packet flag; Masq and Tunnel', () => {
    const s = find('UDP', '198.18.9.53', 53)!;
    expect(s.flags).toEqual(['one-packet']);
    expect(s.destinations.map((d) => d.forwarding)).toEqual(['masq', 'tunnel']);
  });

  it('SCTP keeps its own real servers; persistence with an IPv4 netmask; Local forwarding', () => {
    const s = find('SCTP', '198.18.9.60', 3868)!;
    expect(s.persistence).toEqual({ timeoutSeconds: 300, netmask: '255.255.255.0' });
    expect(s.destinations.map((d) => `${d.address} ${d.forwarding}`)).toEqual(['10.2.0.1 route', '10.2.0.2 local']);
  });

  it('IPv6: compressed addresses, the prefix length printed through ntohl', () => {
    const s = find('TCP', '2001:db8::50', 443)!;
    expect(s).toMatchObject({ family: 6, scheduler: 'wrr', persistence: { timeoutSeconds: 600, netmask: '64' } });
    expect(s.destinations.map((d) => [d.family, d.address, d.port])).toEqual([
      [6, '2001:db8::11', 443],
      [6, '2001:db8:0:1::12', 443],
    ]);
  });

  it('a service without real servers and without a scheduler ("none")', () => {
    expect(find('UDP', '2001:db8::53', 53)).toMatchObject({ family: 6, scheduler: 'none', destinations: [] });
    expect(find('TCP', '198.18.9.70', 22)).toMatchObject({ destinations: [] });
  });

  it('FWM: the mark in hex, the family from the real servers, IPv4 and IPv6 services on one mark kept apart', () => {
    const v4 = find('FWM', '', 0, 7, 4)!;
    const v6 = find('FWM', '', 0, 7, 6)!;
    expect(v4).toMatchObject({ scheduler: 'wlc', persistence: { timeoutSeconds: 1800, netmask: '255.255.255.255' } });
    expect(v4.destinations.map((d) => d.address)).toEqual(['10.3.0.1', '10.3.0.2']);
    expect(v6).toMatchObject({ scheduler: 'rr', flags: ['one-packet'] });
    expect(v6.destinations.map((d) => d.address)).toEqual(['2001:db8::11']);
    expect(find('FWM', '', 0, 0x10000)).toMatchObject({ family: 6, persistence: { timeoutSeconds: 60, netmask: '128' } });
  });

  it('FWM: a service without real servers on the mark of another is its twin of the other family, not a repeat; one of the same family is', () => {
    const twins = ['FWM  0000000B wlc ', 'FWM  0000000B rr ', '  -> 0A000002:0050      Route   1      0          0         '].join('\n');
    const kept = parseIpVs(`${HEADER}${twins}\n`, 'ip_vs');
    expect(kept.problems).toEqual([]);
    expect(kept.services.map((s) => [s.scheduler, s.destinations.length])).toEqual([['wlc', 0], ['rr', 1]]);
    const repeated = parseIpVs(`${HEADER}FWM  0000000B rr \n  -> 0A000002:0050      Route   1      0          0         \nFWM  0000000B rr \n  -> 0A000003:0050      Route   1      0          0         \n`, 'ip_vs');
    expect(repeated.problems).toEqual([{ where: 'ip_vs:6', message: expect.stringContaining('firewall-mark service listed twice') }]);
    expect(repeated.services.map((s) => s.destinations.map((d) => d.address))).toEqual([['10.0.0.2']]);
  });

  it('persistence timeouts are printed in jiffies: seconds with the kernel HZ, unknown without it', () => {
    const line = 'TCP  0A000001:0050 rr persistent 75000 FFFFFFFF\n';
    expect(parseIpVs(HEADER + line, 'ip_vs', 250).services[0]!.persistence).toEqual({ timeoutSeconds: 300, netmask: '255.255.255.255' });
    expect(parseIpVs(HEADER + line, 'ip_vs', 1000).services[0]!.persistence).toEqual({ timeoutSeconds: 75, netmask: '255.255.255.255' });
    expect(parseIpVs(HEADER + line, 'ip_vs').services[0]!.persistence).toEqual({ netmask: '255.255.255.255' });
  });

  it("reads HZ from a kernel's build configuration", () => {
    expect(configHz('# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_SCHED_HRTICK=y\n')).toBe(250);
    expect(configHz('CONFIG_HZ_PERIODIC=y\n')).toBeUndefined();
  });

  it('an empty table: the header only', () => {
    expect(parseIpVs(HEADER, 'ip_vs')).toEqual({ services: [], problems: [] });
    expect(parseIpVs('', 'ip_vs')).toEqual({ services: [], problems: [] });
  });
});

describe('parseIpVs on malformed input: reported with FILE:LINE, never attributed to another service', () => {
  const { services, problems } = parseIpVs(fixture('malformed', 'ip_vs'), '/proc/net/ip_vs', DEBIAN_HZ);
  const messages = problems.map((p) => `${p.where} ${p.message}`);

  it('keeps exactly the real servers that sit under a readable service line', () => {
    expect(services.map((s) => [s.protocol, s.address, s.port, s.destinations.map((d) => d.address)])).toEqual([
      ['TCP', '198.18.9.50', 80, ['10.9.0.2']],
      ['SCTP', '198.18.9.60', 3868, ['10.9.0.7']],
      ['UDP', '198.18.9.62', 53, ['10.9.0.10']],
    ]);
  });

  it('reports each fault where it is', () => {
    const at = (where: string) => messages.filter((m) => m.startsWith(`/proc/net/ip_vs:${where} `));
    expect(at('4')).toEqual([expect.stringContaining('1 real server line left out: no service line before them')]);
    expect(at('7')).toEqual([expect.stringContaining('forwarding method "Bogus" is not Route, Masq, Tunnel or Local')]);
    expect(at('8')).toEqual([expect.stringContaining('expected "  -> ADDR:PORT FORWARD WEIGHT ACTIVE INACTIVE"')]);
    expect(at('9')).toEqual([expect.stringContaining('protocol "IP_132" is not TCP, UDP, SCTP or FWM')]);
    expect(at('10-11')).toEqual([expect.stringContaining('2 real server lines left out: the service line at /proc/net/ip_vs:9 above them could not be read')]);
    expect(at('14')).toEqual([expect.stringContaining('expected "persistent TIMEOUT MASK"')]);
    expect(at('15')).toEqual([expect.stringContaining('the service line at /proc/net/ip_vs:14')]);
    expect(at('16')).toEqual([expect.stringContaining('service listed twice')]);
    expect(at('17')).toEqual([expect.stringContaining('they belong to the repeated service at /proc/net/ip_vs:16')]);
    expect(at('20')).toEqual([expect.stringContaining('real server 10.9.0.10 port 53 is listed twice')]);
    expect(at('21')).toEqual([expect.stringContaining('neither HEX8:PORT nor [IPv6]:PORT')]);
    expect(at('22')).toEqual(['/proc/net/ip_vs:22 unexpected empty line']);
    expect(at('23')).toEqual([expect.stringContaining('unexpected "sticky" after the scheduler')]);
    expect(problems).toHaveLength(13);
  });

  it('a missing header is reported, and a table without one is still read', () => {
    const { services, problems } = parseIpVs('TCP  0A000001:0050 rr  \n  -> 0A000002:0050      Route   1      0          0         \n', 'ip_vs');
    expect(problems.map((p) => p.where)).toEqual(['ip_vs:1', 'ip_vs:2']);
    // Line 1 is where the header should be: neither it nor the real server below becomes a service.
    expect(services).toEqual([]);
  });
});

describe('parseIpVsStats (ip_vs_stats_show)', () => {
  it('reads 64-bit totals wider than the %8LX columns and the estimator rates', () => {
    const stats = parseIpVsStats(fixture('shapes', 'ip_vs_stats'), 'ip_vs_stats');
    expect(stats.problems).toEqual([]);
    expect(stats.complete).toBe(true);
    expect(stats.totals).toEqual({ connections: 123456789n, incomingPackets: 0x1e33656e5n, outgoingPackets: 12n, incomingBytes: 0x51d8c8883ab3n, outgoingBytes: 18446744073709551615n });
    expect(stats.rates).toEqual({ connectionsPerSecond: 4, incomingPacketsPerSecond: 0x1fb3c, outgoingPacketsPerSecond: 3, incomingBytesPerSecond: 0x1282a8f, outgoingBytesPerSecond: 0x41 });
  });

  it('a truncated file is a problem and gives no figures', () => {
    const stats = parseIpVsStats(fixture('malformed', 'ip_vs_stats'), 'ip_vs_stats');
    expect(stats.complete).toBe(false);
    expect(stats.problems).toEqual([{ where: 'ip_vs_stats:1', message: expect.stringContaining('expected two rows of five hex figures') }]);
  });
});

describe('ipv6FromFull', () => {
  it('compresses the %pI6 form to the text canonicalIp gives', () => {
    const printed = [
      '2001:0db8:0000:0000:0000:0000:0000:0001',
      '0000:0000:0000:0000:0000:0000:0000:0000',
      '0000:0000:0000:0000:0000:0000:0000:0001',
      '0001:0000:0000:0000:0000:0000:0000:0000',
      '2001:0db8:0000:0000:0001:0000:0000:0001',
      '0001:0000:0000:0002:0000:0000:0000:0003',
      '0001:0000:0002:0003:0004:0005:0006:0007',
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      '0001:0002:0003:0004:0005:0006:0007:0000',
    ];
    for (const text of printed) expect(ipv6FromFull(text)).toBe(canonicalIp(text));
    expect(ipv6FromFull('2001:0db8:0000:0000:0000:0000:0000:zzzz')).toBeUndefined();
  });
});

describe('parseIpVs on a real kernel capture', () => {
  // /proc/net/ip_vs of Debian's kernel (HZ 250) under qemu, with ipvsadm's listings of the same moment
  // (scripts/capture-ipvs-fixtures.sh).
  const kernel = (name: string) => readFileSync(new URL(`../fixtures/ipvs/kernel/${name}`, import.meta.url), 'utf8');

  it('gives what ipvsadm lists, but for the figures only netlink knows', () => {
    const { services, problems } = parseIpVs(kernel('net/ip_vs'), 'ip_vs', DEBIAN_HZ);
    expect(problems).toEqual([]);
    const stats = parseIpVsStats(kernel('net/ip_vs_stats'), 'ip_vs_stats');
    const table = { services, totals: stats.totals, totalRates: stats.rates, problems };
    const reference = parseIpvsadm({ list: kernel('ipvsadm-list.txt'), stats: kernel('ipvsadm-stats.txt'), rate: kernel('ipvsadm-rate.txt') });
    expect(viewOfTable(table, { figures: false })).toEqual(withoutFigures(reference));
    expect(services.some((s) => s.persistence?.timeoutSeconds !== undefined)).toBe(true);
  });
});

describe('parseIpVs bounds what enters', () => {
  it.each([
    ['  -> 0A000001:0050      Masq    9999999999 0          0', 'must be integers 0..2147483647'],
    ['  -> 0A000001:0050      Masq    99999999999 0          0', "in the kernel's format"],
    ['  -> 0A000001:0050      Masq    1      -1         0', 'must be integers 0..2147483647'],
    ['  -> 0A000001:0050      constructor 1  0          0', 'forwarding method "constructor"'],
    ['  -> 0A000001:0050      __proto__ 1    0          0', 'forwarding method "__proto__"'],
  ])('refuses %j', (line, why) => {
    const parsed = parseIpVs(`${HEADER}TCP  0A000064:0050 rr \n${line}\n`, 'ip_vs');
    expect(parsed.services[0]?.destinations).toEqual([]);
    expect(parsed.problems.map((p) => p.message).join('\n')).toContain(why);
  });

  it('a CONFIG_HZ outside what a kernel can have is unknown', () => {
    expect(configHz('CONFIG_HZ=250\n')).toBe(250);
    expect(configHz('CONFIG_HZ=0\n')).toBeUndefined();
    expect(configHz('CONFIG_HZ=99999999999999999999\n')).toBeUndefined();
  });
});

describe('real server lines read by position', () => {
  // Lines in the kernel's shape and near misses of it: every one must read as the pattern reads it.
  const hex = (digits: number) => fc.stringMatching(new RegExp(`^[0-9A-Fa-g]{${digits}}$`));
  const blanks = fc.stringMatching(/^[ \t]{0,3}$/).map((b) => (b === '' ? ' ' : b));
  const figure = fc.oneof(fc.nat({ max: 2 ** 31 + 10 }).map(String), fc.constantFrom('-1', '', '007', '99999999999', '1x', '٣'));
  /** Weight, active and inactive connections, each after blanks. */
  const figures = fc.tuple(blanks, figure, blanks, figure, blanks, figure).map((parts) => parts.join(''));
  const line = fc
    .tuple(
      fc.constantFrom('  -> ', '  ->  ', ' -> ', '  -> ['),
      hex(8),
      fc.constantFrom(':', ';', ''),
      hex(4),
      blanks,
      fc.constantFrom('Route', 'Masq', 'Tunnel', 'Local', 'route', 'Masq2', '__proto__', ''),
      figures,
      fc.constantFrom('', ' ', '       ', '\r', ' x'),
    )
    .map((parts) => parts.join(''));

  const group = fc.oneof(fc.constantFrom('0000', 'ffff', '2001', '0db8', '0001'), fc.stringMatching(/^[0-9a-fA-G]{4}$/));
  const v6Line = fc
    .tuple(
      fc.constantFrom('  -> [', '  -> ', '  ->  ['),
      fc.array(group, { minLength: 7, maxLength: 9 }).map((g) => g.join(':')),
      fc.constantFrom(']:', ']', '];', ':'),
      hex(4),
      blanks,
      fc.constantFrom('Route', 'Masq', 'Local', 'Tunnel2'),
      figures,
      fc.constantFrom('', ' ', '\r'),
    )
    .map((parts) => parts.join(''));

  it('give what the pattern gives, for lines in the kernel shape and near misses alike', () => {
    fc.assert(
      fc.property(fc.oneof(line, v6Line), (text) => {
        expect(parseDestinationLine(text)).toEqual(destinationByPattern(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('the kernel shape is read by position, with its figures', () => {
    expect(parseDestinationLine('  -> 0A100000:0050      Route   32     965        253       ')).toEqual({
      ok: true,
      destination: { family: 4, address: '10.16.0.0', port: 80, forwarding: 'route', weight: 32, activeConnections: 965, inactiveConnections: 253 },
      key: 0x0a100000 * 65536 + 80,
    });
  });
});
