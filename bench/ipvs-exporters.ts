/**
 * Scrapes kawatch and node_exporter on one IPVS table: a generated procfs tree on the host, or the
 * kernel's own table in the test VM (bench/ipvs-vm.ts). Shared by both so that the two sides of
 * every comparison are measured the same way.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { freePort } from '../src/core/net.js';
import { pollUntil } from './support.js';

const SCRAPE_TIMEOUT_MS = 600_000;
/** Under TCG a Node daemon takes tens of seconds to start. */
const START_POLL = { timeoutMs: 180_000, intervalMs: 100 };
const root = new URL('../../', import.meta.url).pathname;

export type ExporterName = 'kawatch' | 'node_exporter' | 'kawatch-against';

export interface ExporterFigures {
  /** Scrape times, request to last byte, in the order taken. */
  scrapesMs: number[];
  /** VmRSS once it answers, before the first scrape (kawatch has read the table once by then). */
  startRssMb: number;
  /** CPU time (user + system) the process spent on each scrape: less bent by a busy machine than wall time. */
  cpuMs: number[];
  /** VmHWM of the process after the scrapes. */
  peakRssMb: number;
  /** Backend series in the first scrape (`…ipvs_backend_weight{` lines). */
  backendSeries: number;
  /** Bytes of the first scrape's answer, as it came over the wire (compressed with --gzip). */
  bytes: number;
}

/** In the VM: kawatch's scrape cut into its read and its exposition, and the kernel's own side (bench/ipvs-vm.ts). */
export interface VmStages {
  readMs: number[];
  expositionMs: number[];
  expositionBytes: number;
  /** `cat /proc/net/ip_vs`: the kernel writing the table node_exporter parses. */
  procMs: number[];
  /** `ipvsadm -Ln --stats --exact`: the netlink dumps kawatch makes, by a C client. */
  ipvsadmMs: number[];
}

export interface Comparison {
  kawatchPath: 'procfs' | 'netlink';
  /** Scraped with `Accept-Encoding: gzip`, as Prometheus scrapes by default. */
  gzip: boolean;
  /** Which exporter was scraped first in each round: they take turns. */
  firsts: ExporterName[];
  exporters: Record<'kawatch' | 'node_exporter', ExporterFigures>;
  /** Another checkout's kawatch on the same table in the same rounds (`--against DIR`): the figures before a change. */
  against?: ExporterFigures & { root: string; flags: string };
  stages?: VmStages;
}

interface Exporter {
  name: ExporterName;
  process: ChildProcess;
  url: string;
  backendSeriesPrefix: string;
  startRssMb: number;
}

/**
 * One GET, timed from the request to the last byte; with `gzip`, asking for a compressed answer as
 * Prometheus does (the time does not include decompressing, which is the scraper's).
 */
function scrape(url: string, gzip: boolean): Promise<{ ms: number; body: Buffer[]; compressed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = get(url, { timeout: SCRAPE_TIMEOUT_MS, headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
      const body: Buffer[] = [];
      const compressed = res.headers['content-encoding'] === 'gzip';
      res.on('data', (chunk: Buffer) => body.push(chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - started, body, compressed }) : reject(new Error(`${url} answered ${res.statusCode}`))));
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

function countLines(body: Buffer[], compressed: boolean, prefix: string): number {
  const whole = Buffer.concat(body);
  const text = (compressed ? gunzipSync(whole) : whole).toString('latin1');
  let count = 0;
  for (let at = text.indexOf(`\n${prefix}`); at >= 0; at = text.indexOf(`\n${prefix}`, at + 1)) count++;
  return count;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime + stime of a process in ms, fields 14 and 15 of /proc/PID/stat (after the parenthesised name). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000;
}

const statusMb = (pid: number, field: 'VmHWM' | 'VmRSS') => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function startNodeExporter(procfs: string): Promise<Exporter> {
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn('prometheus-node-exporter', ['--path.procfs', procfs, '--collector.disable-defaults', '--collector.ipvs', '--web.listen-address', address], { stdio: 'ignore' });
  await waitUntilAnswering(`http://${address}/`, child);
  return { name: 'node_exporter', process: child, url: `http://${address}/metrics`, backendSeriesPrefix: 'node_ipvs_backend_weight{', startRssMb: statusMb(child.pid!, 'VmRSS') };
}

async function startKawatch(procfs: string, path: Comparison['kawatchPath'], dir: string, checkout = root, name: ExporterName = 'kawatch', flags?: string): Promise<Exporter> {
  const address = `127.0.0.1:${await freePort()}`;
  const config = join(dir, `${name}.yml`);
  writeFileSync(
    config,
    [
      'node_name: bench',
      `listen: ${address}`,
      `state_dir: ${dir}/state-${name}`,
      'log_level: warn',
      `keepalived: { pid_file: ${dir}/keepalived.pid }`,
      'sources: { hook: { enabled: false }, fifo: { enabled: false }, netlink: { enabled: false }, dump: { enabled: false } }',
      'jobs: { digest: false, audit: false }',
      `ipvs: { path: ${path} }`,
    ].join('\n'),
  );
  const env = flags === undefined ? process.env : { ...process.env, KAWATCH_NODE_FLAGS: flags };
  const child = spawn(join(checkout, 'bin/kawatch'), ['run', '--config', config, '--procfs', procfs], { stdio: ['ignore', 'ignore', 'inherit'], env });
  await waitUntilAnswering(`http://${address}/healthz`, child);
  return { name, process: child, url: `http://${address}/metrics`, backendSeriesPrefix: 'ipvs_backend_weight{', startRssMb: statusMb(child.pid!, 'VmRSS') };
}

async function stop(exporter: Exporter): Promise<void> {
  if (exporter.process.exitCode !== null) return;
  exporter.process.kill('SIGTERM');
  await once(exporter.process, 'exit');
}

export interface CompareOptions {
  scrapes: number;
  /** Holds kawatch's config and state. */
  dir: string;
  /** Another checkout (built), or this one with other runtime flags in KAWATCH_NODE_FLAGS. */
  against?: { root?: string; flags?: string };
  gzip: boolean;
}

/**
 * Starts both exporters on `procfs` (kawatch reading IPVS through `kawatchPath`), scrapes each
 * `scrapes` times, taking turns at going first, and stops them. With `against`, that kawatch takes
 * its turns too.
 */
export async function compareExporters(procfs: string, kawatchPath: Comparison['kawatchPath'], { scrapes, dir, against, gzip }: CompareOptions): Promise<Comparison> {
  const started: Exporter[] = [];
  try {
    started.push(await startNodeExporter(procfs), await startKawatch(procfs, kawatchPath, dir));
    if (against) started.push(await startKawatch(procfs, kawatchPath, dir, against.root ?? root, 'kawatch-against', against.flags));
    const [nodeExporter, kawatch, before] = started as [Exporter, Exporter, Exporter | undefined];
    const times = new Map<Exporter, number[]>(started.map((e) => [e, []]));
    const cpu = new Map<Exporter, number[]>(started.map((e) => [e, []]));
    const series = new Map<Exporter, number>();
    const bytes = new Map<Exporter, number>();
    const firsts: ExporterName[] = [];
    // Taking turns: whichever goes second may find caches warm or the machine busier.
    for (let round = 0; round < scrapes; round++) {
      const everyone = before ? [kawatch, nodeExporter, before] : [kawatch, nodeExporter];
      const order = everyone.map((_, i) => everyone[(i + round) % everyone.length]!);
      firsts.push(order[0]!.name);
      for (const e of order) {
        const cpuBefore = cpuMs(e.process.pid!);
        const { ms, body, compressed } = await scrape(e.url, gzip);
        if (compressed !== gzip) throw new Error(`${e.name} answered ${compressed ? 'gzip' : 'uncompressed'} to a scrape ${gzip ? 'asking for gzip' : 'that did not ask for it'}`);
        times.get(e)!.push(ms);
        cpu.get(e)!.push(cpuMs(e.process.pid!) - cpuBefore);
        if (!series.has(e)) {
          series.set(e, countLines(body, compressed, e.backendSeriesPrefix));
          bytes.set(e, body.reduce((sum, chunk) => sum + chunk.length, 0));
        }
      }
    }
    const figures = (e: Exporter): ExporterFigures => ({ scrapesMs: times.get(e)!, cpuMs: cpu.get(e)!, startRssMb: e.startRssMb, peakRssMb: statusMb(e.process.pid!, 'VmHWM'), backendSeries: series.get(e)!, bytes: bytes.get(e)! });
    return { kawatchPath, gzip, firsts, exporters: { kawatch: figures(kawatch), node_exporter: figures(nodeExporter) }, ...(before ? { against: { ...figures(before), root: against?.root ?? root, flags: against?.flags ?? process.env.KAWATCH_NODE_FLAGS ?? '' } } : {}) };
  } finally {
    for (const e of started) await stop(e);
  }
}
