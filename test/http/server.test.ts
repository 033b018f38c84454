import { execFileSync } from 'node:child_process';
import { get } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { HTTP_LIMITS } from '../../src/core/limited-server.js';
import { cli, closeAll, healthy, openFds, openMany, startDaemon, watchRss, rssMb, type Daemon } from '../peer/daemon.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { getRaw } from './support.js';
import { waitFor } from '../support/wait.js';

// Clients of the metrics/API listener of a real daemon process, on loopback. The attackers
// connect from 127.0.0.2 and up (Linux routes all of 127/8), the health checks from 127.0.0.1.

vi.setConfig({ testTimeout: 90_000 });

const genIpvsProc = new URL('../../scripts/gen-ipvs-proc', import.meta.url).pathname;
const daemons: Daemon[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) c();
  for (const d of daemons.splice(0)) await d.stop();
});

async function daemon(options: Partial<Parameters<typeof startDaemon>[0]> = {}): Promise<Daemon> {
  const d = await startDaemon({ name: 'lb1', ...options });
  daemons.push(d);
  return d;
}

/** A daemon reading IPVS from a generated table of 50 services of 100 real servers each, and its /metrics. */
async function ipvsDaemon(): Promise<{ d: Daemon; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-ipvs-scrape-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(genIpvsProc, [join(dir, 'proc'), '50', '100']);
  const d = await daemon({ procfs: join(dir, 'proc') });
  return { d, url: `http://127.0.0.1:${d.httpPort}/metrics` };
}

/** A request whose headers never end: the slow client that holds a connection open. */
const SLOW_HEAD = 'GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ';

describeWithPrereqs('the metrics/API listener of a daemon under load', { files: [cli, genIpvsProc] }, () => {
  it('keeps answering its health check while 1,100 slow clients hold connections, and drops them', async () => {
    const d = await daemon();
    const baseline = rssMb(d.pid);
    const rss = watchRss(d.pid);
    const slow = await openMany(d.httpPort, 1100, SLOW_HEAD, '127.0.0.2');
    cleanups.push(() => closeAll(slow));
    expect(await healthy(d.httpPort)).toBe(true);
    // One source holds no more than its share of the descriptors.
    expect(openFds(d.pid)).toBeLessThan(HTTP_LIMITS.maxConnectionsPerSource + 150);
    // Headers that never end are given up on: every slow connection is closed by the daemon.
    await waitFor(() => slow.every((s) => s.destroyed || s.readableEnded), 'the daemon to drop every slow client', 30_000);
    rss.stop();
    expect(rss.peak() - baseline).toBeLessThan(60);
    expect(await healthy(d.httpPort)).toBe(true);
  });

  it('holds its descriptors under slow clients from many sources, and lets a health check in at the cap', async () => {
    const d = await daemon();
    const sources = Array.from({ length: 20 }, (_, i) => `127.0.0.${i + 2}`);
    const slow = (await Promise.all(sources.map((source) => openMany(d.httpPort, 60, SLOW_HEAD, source)))).flat();
    cleanups.push(() => closeAll(slow));
    expect(openFds(d.pid)).toBeLessThan(HTTP_LIMITS.maxConnections + 150);
    // More slow clients than the cap: a newcomer still gets in, in place of one that never sent its headers.
    expect(slow.filter((s) => !s.destroyed).length).toBeGreaterThanOrEqual(HTTP_LIMITS.maxConnections - 1);
    expect(await healthy(d.httpPort)).toBe(true);
    await waitFor(() => slow.every((s) => s.destroyed || s.readableEnded), 'the daemon to drop every slow client', 30_000);
    expect(await healthy(d.httpPort)).toBe(true);
  });

  it('cuts requests whose bodies never end, without holding what they send', async () => {
    const d = await daemon();
    const baseline = rssMb(d.pid);
    const rss = watchRss(d.pid);
    const oversized = await openMany(d.httpPort, 50, 'POST /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1073741824\r\n\r\n', '127.0.0.2');
    cleanups.push(() => closeAll(oversized));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    // Bounded: at most 30 s of 64 KiB every 50 ms per connection, until the daemon hangs up.
    const pump = setInterval(() => {
      for (const s of oversized) if (!s.destroyed && s.writableLength < 1 << 20) s.write(chunk, () => {});
    }, 50);
    cleanups.push(() => clearInterval(pump));
    expect(await healthy(d.httpPort)).toBe(true);
    await waitFor(() => oversized.every((s) => s.destroyed || s.readableEnded), 'the daemon to cut every endless body', 30_000);
    rss.stop();
    expect(rss.peak() - baseline).toBeLessThan(60);
    expect(await healthy(d.httpPort)).toBe(true);
  });

  it('gzips a large streamed exposition to the same series, for scrapers side by side and one that leaves half-way', async () => {
    const { d, url } = await ipvsDaemon();
    const scrape = async (headers: Record<string, string>) => {
      const answer = await getRaw(url, headers);
      return { encoding: answer.headers['content-encoding'], body: answer.body };
    };
    // The table is generated once: every IPVS series is the same in every scrape.
    const ipvsLines = (text: string) => text.split('\n').filter((l) => l.startsWith('ipvs_'));
    // A scraper that takes the first bytes of a compressed answer and goes.
    const leaver = new Promise<void>((resolve, reject) => {
      const request = get(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => res.once('data', () => (request.destroy(), resolve())));
      request.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
    });
    const [plain, first, second] = await Promise.all([scrape({}), scrape({ 'accept-encoding': 'gzip' }), scrape({ 'accept-encoding': 'gzip' }), leaver]);
    const expected = ipvsLines(plain.body.toString());
    expect(expected.filter((l) => l.startsWith('ipvs_backend_weight{'))).toHaveLength(5000);
    for (const answer of [first, second]) {
      expect(answer.encoding).toBe('gzip');
      expect(answer.body.length).toBeLessThan(plain.body.length / 10);
      expect(ipvsLines(gunzipSync(answer.body).toString())).toEqual(expected);
    }
    // Chunks that went back to the pool while the leaver's answer was cut serve the next scrape intact.
    const after = await scrape({ 'accept-encoding': 'gzip' });
    expect(ipvsLines(gunzipSync(after.body).toString())).toEqual(expected);
    expect(d.output()).not.toMatch(/request failed/);
  });

  it('streams a large exposition whole to a scraper that reads it slowly for longer than the request timeout', async () => {
    const { url } = await ipvsDaemon();
    const whole = await (await fetch(url)).text();
    const backendSeries = (text: string) => text.split('\n').filter((l) => l.startsWith('ipvs_backend_weight{')).length;
    expect(backendSeries(whole)).toBe(5000);

    // Paced to take about twice the request timeout, never pausing for as long as the idle timeout.
    const spreadMs = HTTP_LIMITS.requestTimeoutMs * 2;
    const started = Date.now();
    const slowly = await new Promise<{ text: string; complete: boolean }>((resolve, reject) => {
      get(url, (res) => {
        let text = '';
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          received += chunk.length;
          const due = (received / whole.length) * spreadMs - (Date.now() - started);
          if (due > 0) {
            res.pause();
            setTimeout(() => res.resume(), Math.min(due, HTTP_LIMITS.idleTimeoutMs / 5));
          }
        });
        res.on('end', () => resolve({ text, complete: res.complete }));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(Date.now() - started).toBeGreaterThan(HTTP_LIMITS.requestTimeoutMs);
    expect(slowly.complete).toBe(true);
    expect(backendSeries(slowly.text)).toBe(5000);
  });
});
