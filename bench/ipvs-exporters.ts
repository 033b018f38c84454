/**
 * Scrapes kawatch and node_exporter on one IPVS table: a generated procfs tree on the host, or the
 * kernel's own table in the test VM (bench/ipvs-vm.ts). Shared by both so that the two sides of
 * every comparison are measured the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { freePort } from '../src/core/net.js';
import { pollUntil } from './support.js';

const SCRAPE_TIMEOUT_MS = 600_000;
/** Under TCG a Node daemon takes tens of seconds to start. */
const START_POLL = { timeoutMs: 180_000, intervalMs: 100 };
const root = new URL('../../', import.meta.url).pathname;

export type ExporterName = 'kawatch' | 'node_exporter';

export interface ExporterFigures {
  /** Scrape times, request to last byte, in the order taken. */
  scrapesMs: number[];
  /** VmRSS once it answers, before the first scrape (kawatch has read the table once by then). */
  startRssMb: number;
  /** VmHWM of the process after the scrapes. */
  peakRssMb: number;
  /** Backend series in the first scrape (`…ipvs_backend_weight{` lines). */
  backendSeries: number;
}

export interface Comparison {
  kawatchPath: 'procfs' | 'netlink';
  /** Which exporter was scraped first in each round: they take turns. */
  firsts: ExporterName[];
  exporters: Record<ExporterName, ExporterFigures>;
}

interface Exporter {
  name: ExporterName;
  process: ChildProcess;
  url: string;
  backendSeriesPrefix: string;
  startRssMb: number;
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

function waitUntilAnswering(url: string, child: ChildProcess): Promise<void> {
  return pollUntil(
    `${url} to answer`,
    async () => {
      if (child.exitCode !== null) throw new Error(`the process exited with ${child.exitCode}`);
      return new Promise<true | undefined>((resolve) => {
        get(url, (res) => {
          res.resume();
          resolve(true);
        }).on('error', () => resolve(undefined));
      });
    },
    START_POLL,
  ).then(() => undefined);
}

function countLines(body: Buffer[], prefix: string): number {
  const text = Buffer.concat(body).toString('latin1');
  let count = 0;
  for (let at = text.indexOf(`\n${prefix}`); at >= 0; at = text.indexOf(`\n${prefix}`, at + 1)) count++;
  return count;
}

const statusMb = (pid: number, field: 'VmHWM' | 'VmRSS') => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function startNodeExporter(procfs: string): Promise<Exporter> {
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn('prometheus-node-exporter', ['--path.procfs', procfs, '--collector.disable-defaults', '--collector.ipvs', '--web.listen-address', address], { stdio: 'ignore' });
  await waitUntilAnswering(`http://${address}/`, child);
  return { name: 'node_exporter', process: child, url: `http://${address}/metrics`, backendSeriesPrefix: 'node_ipvs_backend_weight{', startRssMb: statusMb(child.pid!, 'VmRSS') };
}

async function startKawatch(procfs: string, path: Comparison['kawatchPath'], dir: string): Promise<Exporter> {
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
      `ipvs: { path: ${path} }`,
    ].join('\n'),
  );
  const child = spawn(join(root, 'bin/kawatch'), ['run', '--config', config, '--procfs', procfs], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitUntilAnswering(`http://${address}/healthz`, child);
  return { name: 'kawatch', process: child, url: `http://${address}/metrics`, backendSeriesPrefix: 'ipvs_backend_weight{', startRssMb: statusMb(child.pid!, 'VmRSS') };
}

async function stop(exporter: Exporter): Promise<void> {
  if (exporter.process.exitCode !== null) return;
  exporter.process.kill('SIGTERM');
  await once(exporter.process, 'exit');
}

/**
 * Starts both exporters on `procfs` (kawatch reading IPVS through `kawatchPath`), scrapes each
 * `scrapes` times, taking turns at going first, and stops them. `dir` holds kawatch's config and state.
 */
export async function compareExporters(procfs: string, kawatchPath: Comparison['kawatchPath'], scrapes: number, dir: string): Promise<Comparison> {
  const started: Exporter[] = [];
  try {
    started.push(await startNodeExporter(procfs), await startKawatch(procfs, kawatchPath, dir));
    const [nodeExporter, kawatch] = started as [Exporter, Exporter];
    const times = new Map<Exporter, number[]>(started.map((e) => [e, []]));
    const series = new Map<Exporter, number>();
    const firsts: ExporterName[] = [];
    // Taking turns: whichever goes second may find caches warm or the machine busier.
    for (let round = 0; round < scrapes; round++) {
      const order = round % 2 === 0 ? [kawatch, nodeExporter] : [nodeExporter, kawatch];
      firsts.push(order[0]!.name);
      for (const e of order) {
        const { ms, body } = await scrape(e.url);
        times.get(e)!.push(ms);
        if (!series.has(e)) series.set(e, countLines(body, e.backendSeriesPrefix));
      }
    }
    const figures = (e: Exporter): ExporterFigures => ({ scrapesMs: times.get(e)!, startRssMb: e.startRssMb, peakRssMb: statusMb(e.process.pid!, 'VmHWM'), backendSeries: series.get(e)! });
    return { kawatchPath, firsts, exporters: { kawatch: figures(kawatch), node_exporter: figures(nodeExporter) } };
  } finally {
    for (const e of started) await stop(e);
  }
}
