import { readFileSync } from 'node:fs';
import type { IpvsTable } from '../../src/model/ipvs.js';
import { parseIpVs, parseIpVsStats } from '../../src/ipvs/procfs.js';

export const ipvsFixtures = new URL('../fixtures/ipvs/', import.meta.url).pathname;

/** The HZ of Debian's kernels, which the fixtures' persistence timeouts (in jiffies) were printed with. */
export const DEBIAN_HZ = 250;

/** The table of test/fixtures/ipvs/shapes: every line shape of the kernel's procfs format. */
export function shapesTable(): IpvsTable {
  const text = (file: string) => readFileSync(`${ipvsFixtures}shapes/net/${file}`, 'utf8');
  const { services, problems } = parseIpVs(text('ip_vs'), 'ip_vs', DEBIAN_HZ);
  const stats = parseIpVsStats(text('ip_vs_stats'), 'ip_vs_stats');
  return { services, totals: stats.totals, totalRates: stats.rates, problems: [...problems, ...stats.problems] };
}

/**
 * The shapes table with the figures only generic netlink gives (statistics, rates, persistent
 * connections), derived from each entry's position so every value differs.
 */
export function withNetlinkFigures(table: IpvsTable): IpvsTable {
  let n = 0;
  const figures = () => {
    n++;
    return {
      stats: { connections: BigInt(n), incomingPackets: BigInt(n * 10), outgoingPackets: BigInt(n * 20), incomingBytes: 2n ** 40n + BigInt(n), outgoingBytes: 2n ** 63n + BigInt(n) },
      rates: { connectionsPerSecond: n, incomingPacketsPerSecond: n * 2, outgoingPacketsPerSecond: n * 3, incomingBytesPerSecond: n * 4, outgoingBytesPerSecond: n * 5 },
    };
  };
  for (const s of table.services) {
    Object.assign(s, figures());
    for (const d of s.destinations) Object.assign(d, figures(), { persistentConnections: n });
  }
  return table;
}
