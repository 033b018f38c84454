/**
 * IPVS scrape cost against node_exporter's ipvs collector, on the same generated procfs tree.
 *
 *   npm run build && node dist/bench/ipvs.js [--backends 10000,100000] [--scrapes N]
 *
 * For each size, `scripts/gen-ipvs-proc` writes a tree (100 real servers per service, IPv4/IPv6
 * TCP/UDP, FWM and persistent services in the kernel's formats); then Debian's
 * prometheus-node-exporter (`--path.procfs DIR --collector.disable-defaults --collector.ipvs`)
 * and a kawatch daemon (`kawatch run --procfs DIR`, IPVS through procfs, every other source off)
 * are each scraped N times in turn, uncompressed, from loopback. Printed: scrape time p50 (request
 * to last byte), peak RSS (VmHWM) of each process, the ratios, and the backend series each exposes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { formatMs, percentile } from './support.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1]! : fallback;
};
const SIZES = option('--backends', '10000,100000').split(',').map(Number);
const SCRAPES = Number(option('--scrapes', '5'));
const BACKENDS_PER_SERVICE = 100;
const START_TIMEOUT_MS = 30_000;
const SCRAPE_TIMEOUT_MS = 300_000;
const root = new URL('../../', import.meta.url).pathname;

interface Exporter {
  name: string;
  process: ChildProcess;
  url: string;
  /** The first line of every backend series of one family: `ipvs_backend_weight{` and alike. */
  backendSeries: string;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** One uncompressed GET, timed from the request to the last byte. */
function scrape(url: string): Promise<{ ms: number; body: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = get(url, { timeout: SCRAPE_TIMEOUT_MS }, (res) => {
      const body: Buffer[] = [];
      res.on('data', (chunk: Buffer) => body.push(chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - started, body }) : reject(new Error(`${url} answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer within ${SCRAPE_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

async function waitUntilAnswering(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited with ${child.exitCode}`);
    const answered = await new Promise<boolean>((resolve) => {
      get(url, (res) => {
        res.resume();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (answered) return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${START_TIMEOUT_MS} ms`);
}

function countLines(body: Buffer[], prefix: string): number {
  const text = Buffer.concat(body).toString('latin1');
  let count = 0;
  for (let at = text.indexOf(`\n${prefix}`); at >= 0; at = text.indexOf(`\n${prefix}`, at + 1)) count++;
  return count;
}

const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function startNodeExporter(procfs: string): Promise<Exporter> {
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn('prometheus-node-exporter', ['--path.procfs', procfs, '--collector.disable-defaults', '--collector.ipvs', '--web.listen-address', address], { stdio: 'ignore' });
  await waitUntilAnswering(`http://${address}/`, child);
  return { name: 'node_exporter', process: child, url: `http://${address}/metrics`, backendSeries: 'node_ipvs_backend_weight{' };
}

async function startKawatch(procfs: string, dir: string): Promise<Exporter> {
  const address = `127.0.0.1:${await freePort()}`;
  const config = join(dir, 'kawatch.yml');
  writeFileSync(
    config,
    [
      'node_name: bench',
      `listen: ${address}`,
      `state_dir: ${dir}/state`,
      'log_level: warn',
      `keepalived: { pid_file: ${dir}/keepalived.pid }`,
      'sources: { hook: { enabled: false }, fifo: { enabled: false }, netlink: { enabled: false }, dump: { enabled: false } }',
      'jobs: { digest: false, audit: false }',
      'ipvs: { path: procfs }',
    ].join('\n'),
  );
  const child = spawn(join(root, 'bin/kawatch'), ['run', '--config', config, '--procfs', procfs], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitUntilAnswering(`http://${address}/healthz`, child);
  return { name: 'kawatch', process: child, url: `http://${address}/metrics`, backendSeries: 'ipvs_backend_weight{' };
}

async function stop(exporter: Exporter): Promise<void> {
  if (exporter.process.exitCode !== null) return;
  exporter.process.kill('SIGTERM');
  await once(exporter.process, 'exit');
}

interface Figures {
  p50: number;
  peakRssMb: number;
  series: number;
}

async function measure(backends: number): Promise<Record<'kawatch' | 'node_exporter', Figures>> {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-bench-ipvs-'));
  const procfs = join(dir, 'proc');
  const exporters: Exporter[] = [];
  try {
    await run('python3', [join(root, 'scripts/gen-ipvs-proc'), procfs, String(Math.ceil(backends / BACKENDS_PER_SERVICE)), String(BACKENDS_PER_SERVICE)]);
    exporters.push(await startNodeExporter(procfs), await startKawatch(procfs, dir));
    const times = new Map<Exporter, number[]>(exporters.map((e) => [e, []]));
    const series = new Map<Exporter, number>();
    // In turn, so both see the same load on a shared machine.
    for (let i = 0; i < SCRAPES; i++) {
      for (const e of exporters) {
        const { ms, body } = await scrape(e.url);
        times.get(e)!.push(ms);
        if (i === 0) series.set(e, countLines(body, e.backendSeries));
      }
    }
    const figures = (e: Exporter): Figures => ({ p50: percentile(times.get(e)!, 50), peakRssMb: peakRssMb(e.process.pid!), series: series.get(e)! });
    return { node_exporter: figures(exporters[0]!), kawatch: figures(exporters[1]!) };
  } finally {
    for (const e of exporters) await stop(e);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`IPVS scrape: kawatch (procfs, streamed exposition) vs prometheus-node-exporter --collector.ipvs, ${SCRAPES} scrapes each, uncompressed`);
  for (const backends of SIZES) {
    const { kawatch, node_exporter } = await measure(backends);
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    console.log(
      `${String(backends).padStart(6)} backends  scrape p50: kawatch ${formatMs(kawatch.p50, 0)}, node_exporter ${formatMs(node_exporter.p50, 0)}, ratio ${ratio(kawatch.p50, node_exporter.p50)}` +
        `   peak RSS: kawatch ${kawatch.peakRssMb.toFixed(0)} MB, node_exporter ${node_exporter.peakRssMb.toFixed(0)} MB, ratio ${ratio(kawatch.peakRssMb, node_exporter.peakRssMb)}` +
        `   backend series: kawatch ${kawatch.series}, node_exporter ${node_exporter.series}${kawatch.series === node_exporter.series ? '' : '  (DIFFERENT)'}`,
    );
  }
  console.log('goals at 100000 backends: scrape time ratio <= 0.25, peak RSS ratio <= 0.5, the same number of backend series');
}

await main();
