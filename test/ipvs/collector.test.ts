import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';
import { IpvsCollector, type IpvsPath } from '../../src/ipvs/collector.js';
import { NetlinkReader } from '../../src/ipvs/genl.js';
import type { IpvsReader } from '../../src/model/ipvs-backends.js';
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
