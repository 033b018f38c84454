import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { COLLECT_AFTER_BACKENDS, IpvsCollector, type IpvsPath } from '../../src/ipvs/collector.js';
import { NetlinkReader } from '../../src/ipvs/genl.js';
import { compactTable, type IpvsReader } from '../../src/model/ipvs-backends.js';
import { ProcfsReader } from '../../src/ipvs/procfs.js';
import { ipvsFixtures } from './fixtures.js';

const empty = mkdtempSync(join(tmpdir(), 'kawatch-noipvs-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

/** A collector whose log lines are kept, as parsed JSON. */
function collector(path: IpvsPath, procfs: string, netlink: () => IpvsReader = () => new NetlinkReader({ procfs })) {
  const stream = new PassThrough();
  const lines: { level: string; msg: string; [key: string]: unknown }[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l))));
  let reads = 0;
  // The real reader, counted.
  const procfsReader = (): IpvsReader => {
    const reader = new ProcfsReader(procfs);
    return { path: reader.path, read: () => (reads++, reader.read()) };
  };
  const c = new IpvsCollector(path, { netlink, procfs: procfsReader }, createLogger('info', stream));
  return { c, lines, reads: () => reads };
}

describe('IpvsCollector', () => {
  it('reads the table through procfs and reports health', async () => {
    const { c } = collector('procfs', `${ipvsFixtures}shapes`);
    await c.start();
    const { table, health } = await c.scrape();
    expect(health).toMatchObject({ up: true, path: 'procfs', problemsTotal: 0 });
    expect(health.durationSeconds).toBeGreaterThan(0);
    expect(table!.services).toHaveLength(9);
    await c.stop();
  });

  it('auto: falls back to procfs when the netlink reader fails, naming why', async () => {
    // A netlink reader whose totals file (<procfs>/net/ip_vs_stats) is missing fails on every host:
    // without IPVS at the family lookup, with IPVS (as root) after the dumps, without CAP_NET_ADMIN at
    // the dump. Whatever the host, the collector must take procfs and say what netlink answered.
    const netlink = () => new NetlinkReader({ procfs: empty, timeoutMs: 2_000 });
    const probe = netlink();
    const refusal = await probe.read().then(
      () => undefined,
      (err: Error) => err.message,
    );
    probe.close();
    expect(refusal).toMatch(/generic netlink family IPVS not available|needs CAP_NET_ADMIN|ENOENT.*net\/ip_vs_stats/);

    const { c, lines } = collector('auto', `${ipvsFixtures}shapes`, netlink);
    await c.start();
    const { table, health } = await c.scrape();
    expect(health).toMatchObject({ up: true, path: 'procfs' });
    expect(table!.services).toHaveLength(9);
    const chosen = lines.find((l) => l.msg === 'reading IPVS through procfs');
    expect(chosen?.instead).toEqual([`netlink: ${refusal}`]);
    await c.stop();
  });

  it('a host without IPVS shows up 0 and says so once, not at every scrape', async () => {
    const { c, lines } = collector('auto', empty);
    await c.start();
    for (let i = 0; i < 3; i++) expect((await c.scrape()).health).toMatchObject({ up: false, problemsTotal: 0 });
    expect((await c.scrape()).health.path).toBeUndefined();
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!.error)).toContain('net/ip_vs does not exist: no IPVS in this kernel');
    await c.stop();
  });

  it('counts the problems of every read and logs the same ones once', async () => {
    const { c, lines } = collector('procfs', `${ipvsFixtures}malformed`);
    await c.start();
    const first = await c.scrape();
    const perRead = first.table!.problems.length;
    expect(perRead).toBe(14);
    expect(first.health.problemsTotal).toBe(2 * perRead);
    expect((await c.scrape()).health.problemsTotal).toBe(3 * perRead);
    const warnings = lines.filter((l) => l.msg === 'IPVS table has lines or attributes that were left out');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.first).toHaveLength(5);
    await c.stop();
  });

  it('concurrent scrapes share reads (single flight)', async () => {
    const { c, reads } = collector('procfs', `${ipvsFixtures}shapes`);
    await c.start();
    const before = reads();
    const results = await Promise.all([c.scrape(), c.scrape(), c.scrape(), c.scrape()]);
    // The first starts a read; the others ask for one more after it, together.
    expect(reads() - before).toBe(2);
    expect(new Set(results.slice(1).map((r) => r.table)).size).toBe(1);
    await c.stop();
  });
});

describe('IpvsCollector.released', () => {
  // Whether V8 collected cannot be observed from a test; the runtime's `gc` (bin/kawatch's
  // --expose-gc) is replaced by a counter to see when the collector asks for a collection.
  const withGc = async (run: (calls: () => number) => Promise<void>) => {
    const saved = (globalThis as { gc?: () => void }).gc;
    let calls = 0;
    (globalThis as { gc?: () => void }).gc = () => void calls++;
    try {
      await run(() => calls);
    } finally {
      (globalThis as { gc?: () => void }).gc = saved;
    }
  };
  const tableOf = (backends: number): IpvsReader => ({
    path: 'procfs',
    read: async () => compactTable({
      services: [{ protocol: 'TCP', family: 4, address: '10.0.0.1', port: 80, fwmark: 0, scheduler: 'wlc', flags: [], destinations: Array.from({ length: backends }, (_, i) => ({ family: 4, address: `10.1.${i >> 8 & 255}.${i & 255}`, port: 80, forwarding: 'masq', weight: 1, activeConnections: 0, inactiveConnections: 0 })) }],
      totals: { connections: 0n, incomingPackets: 0n, outgoingPackets: 0n, incomingBytes: 0n, outgoingBytes: 0n },
      totalRates: { connectionsPerSecond: 0, incomingPacketsPerSecond: 0, outgoingPacketsPerSecond: 0, incomingBytesPerSecond: 0, outgoingBytesPerSecond: 0 },
      problems: [],
    }),
  });
  const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve));

  it('passes every chunk on, then asks for a collection once a large table was written', async () => {
    await withGc(async (calls) => {
      const c = new IpvsCollector('procfs', { procfs: () => tableOf(COLLECT_AFTER_BACKENDS), netlink: () => tableOf(0) }, createLogger('error'));
      await c.scrape();
      expect([...c.released(['a', 'b'])]).toEqual(['a', 'b']);
      expect(calls()).toBe(0); // not while the handler may still hold the table
      await nextMacrotask();
      expect(calls()).toBe(1);
    });
  });

  it('asks for one as well when the client leaves halfway', async () => {
    await withGc(async (calls) => {
      const c = new IpvsCollector('procfs', { procfs: () => tableOf(COLLECT_AFTER_BACKENDS), netlink: () => tableOf(0) }, createLogger('error'));
      await c.scrape();
      for (const chunk of c.released(['a', 'b', 'c'])) if (chunk === 'a') break;
      await nextMacrotask();
      expect(calls()).toBe(1);
    });
  });

  it('leaves a small table to V8', async () => {
    await withGc(async (calls) => {
      const c = new IpvsCollector('procfs', { procfs: () => tableOf(COLLECT_AFTER_BACKENDS - 1), netlink: () => tableOf(0) }, createLogger('error'));
      await c.scrape();
      expect([...c.released(['a'])]).toEqual(['a']);
      await nextMacrotask();
      expect(calls()).toBe(0);
    });
  });
});
