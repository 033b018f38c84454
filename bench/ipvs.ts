/**
 * IPVS scrape cost against node_exporter's ipvs collector, on the same table, through both of
 * kawatch's read paths.
 *
 *   npm run build && node dist/bench/ipvs.js [--backends 1000,10000,100000,300000] [--scrapes N]
 *                                            [--netlink-backends 100000] [--vm-scrapes N] [--no-vm]
 *                                            [--against DIR] [--against-flags "FLAGS"] [--gzip] [--json FILE]
 *
 * procfs: for each size, `scripts/gen-ipvs-proc` writes a tree (100 real servers per service,
 * IPv4/IPv6 TCP/UDP, FWM and persistent services in the kernel's formats); Debian's
 * prometheus-node-exporter (`--path.procfs DIR --collector.disable-defaults --collector.ipvs`) and
 * a kawatch daemon (`kawatch run --procfs DIR`, IPVS through procfs, every other source off) are
 * scraped N times each from loopback, taking turns at going first: uncompressed, or with `--gzip`
 * asking `Accept-Encoding: gzip` as Prometheus does by default (both exporters then answer gzip, and
 * the answer size is what crosses the wire).
 *
 * netlink: the host kernel has no IPVS, so the test VM (qemu, TCG; test/support/vm.ts) boots with
 * Debian's kernel under /tmp/kawatch-vm.lock, loads a real table of --netlink-backends real servers
 * with `ipvsadm -R`, and runs bench/ipvs-vm.ts there: kawatch reading it through generic netlink,
 * node_exporter reading /proc/net/ip_vs of the same kernel. Under TCG everything is an order of
 * magnitude slower than on the host (a netlink read of 100,000 real servers takes about 9 s, the
 * whole run about 10 minutes; a smaller --netlink-backends is quicker), so the figures compare the
 * two exporters with each other, never with the host's. Beside them: kawatch's read and exposition
 * timed on their own, and the floor no exporter reading this kernel goes below (bench/ipvs-vm.ts).
 *
 * `--against DIR`: the kawatch of another checkout (built, e.g. the commit before a change) is
 * scraped in the same rounds on the same table, so a change is judged on figures of one run;
 * `--against-flags "FLAGS"`: that kawatch (by default this checkout's) runs with these runtime
 * flags in KAWATCH_NODE_FLAGS instead, so a V8 setting is judged the same way. Each exporter's CPU
 * time per scrape is printed too: on a busy machine it moves less than the wall time.
 *
 * Printed for each: scrape time p50 (request to last byte), peak RSS (VmHWM), the ratios, and the
 * backend series each exposes. The goals (bench/support.ts) are stated for 100k real servers.
 * Then how both grow with the table: scrape time and peak RSS per 1,000 added real servers from
 * one size to the next, and whether the step between the two largest sizes costs per real server
 * no more than 1.5× the step below it (linear growth).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestVm } from '../test/support/vm.js';
import { compareExporters, type Comparison, type VmStages } from './ipvs-exporters.js';
import { BenchReport, checkOptions, countOption, countsOption, flag, IPVS_GOAL_BACKENDS, option, percentile, rawOption, REPORT_OPTIONS } from './support.js';

const run = promisify(execFile);
const SIZES = countsOption('--backends', [1000, 10_000, IPVS_GOAL_BACKENDS, 300_000]).sort((a, b) => a - b);
const SCRAPES = countOption('--scrapes', 5);
const WITH_VM = !flag('--no-vm');
const NETLINK_BACKENDS = countOption('--netlink-backends', IPVS_GOAL_BACKENDS);
const VM_SCRAPES = countOption('--vm-scrapes', 3);
const AGAINST = option('--against', '');
const AGAINST_FLAGS = rawOption('--against-flags');
const GZIP = flag('--gzip');
const BACKENDS_PER_SERVICE = 100;
const VM_LOCK = '/tmp/kawatch-vm.lock';
const VM_LOCK_WAIT_S = 1800;
/** Loading the table, two exporter start-ups and the scrapes, under TCG. */
const VM_RUN_TIMEOUT_MS = 30 * 60_000;
const root = new URL('../../', import.meta.url).pathname;

/**
 * `ipvsadm -R` input for a real table shaped like gen-ipvs-proc's: per ten services four IPv4 TCP
 * (one persistent), two IPv4 UDP, two IPv6 TCP and two firewall-mark services, each with `perService`
 * masqueraded real servers of varied weights. Pure.
 */
function ipvsadmRules(backends: number, perService: number): string {
  const lines: string[] = [];
  const services = Math.ceil(backends / perService);
  const v4 = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const v6 = (n: number) => `[2001:db8::${((n >> 16) & 0xffff).toString(16)}:${(n & 0xffff).toString(16)}]`;
  for (let s = 0; s < services; s++) {
    const kind = s % 10;
    const six = kind === 6 || kind === 7;
    const service =
      kind < 4 ? `-t ${v4(0xc80000 + s)}:${80 + (s % 50)}`
      : kind < 6 ? `-u ${v4(0xc80000 + s)}:${53 + (s % 50)}`
      : six ? `-t ${v6(0xc80000 + s)}:443`
      : `-f ${0x1000 + s}`;
    lines.push(`-A ${service} -s wlc${kind === 3 ? ' -p 60' : ''}`);
    for (let b = 0; b < perService && s * perService + b < backends; b++) {
      const n = 0x100000 + s * perService + b;
      const port = six ? 443 : 8000 + (s % 50);
      lines.push(`-a ${service} -r ${six ? v6(n) : v4(n)}:${port} -m -w ${b % 5}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Holds an flock on `path` until the returned release is called or this process ends (the lock is
 * held by `flock` running `cat` on a pipe from here: when the pipe closes, cat exits and the lock goes).
 */
async function holdLock(path: string): Promise<() => Promise<void>> {
  const holder = spawn('flock', ['--exclusive', '--wait', String(VM_LOCK_WAIT_S), path, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const locked = new Promise<void>((resolve, reject) => {
    holder.stdout!.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`could not take ${path} within ${VM_LOCK_WAIT_S} s (flock exited ${code})`)));
  });
  await locked;
  return async () => {
    holder.stdin!.end();
    if (holder.exitCode === null) await once(holder, 'exit');
  };
}

function report(bench: BenchReport, label: string, backends: number, comparison: Comparison): void {
  const { kawatch, node_exporter: nodeExporter } = comparison.exporters;
  const note = backends === IPVS_GOAL_BACKENDS ? {} : { goalNote: `applies at ${IPVS_GOAL_BACKENDS}` };
  const name = `${label}, ${backends} backends:`;
  bench.figure({ name: `${name} scrape p50`, value: percentile(kawatch.scrapesMs, 50), unit: 'ms', digits: 0, baseline: { name: 'node_exporter', value: percentile(nodeExporter.scrapesMs, 50) }, goal: 'ipvsScrapeTime', ...note });
  bench.figure({ name: `${name} peak RSS`, value: kawatch.peakRssMb, unit: 'MB', digits: 0, baseline: { name: 'node_exporter', value: nodeExporter.peakRssMb }, goal: 'ipvsPeakRss', ...note });
  bench.figure({ name: `${name} CPU per scrape p50`, value: percentile(kawatch.cpuMs, 50), unit: 'ms', digits: 0, baseline: { name: 'node_exporter', value: percentile(nodeExporter.cpuMs, 50) } });
  bench.figure({ name: `${name} backend series`, value: kawatch.backendSeries, unit: '', digits: 0, baseline: { name: 'node_exporter', value: nodeExporter.backendSeries } });
  bench.figure({ name: `${name} answer size${comparison.gzip ? ' (gzip)' : ''}`, value: kawatch.bytes / 2 ** 20, unit: 'MB', digits: 1, baseline: { name: 'node_exporter', value: nodeExporter.bytes / 2 ** 20 } });
  if (comparison.stages) reportStages(bench, name, comparison.stages, comparison.exporters);
  if (comparison.against) {
    const before = comparison.against;
    const was = `${name} before (${before.root}${before.flags ? ` ${before.flags}` : ''})`;
    bench.figure({ name: `${was} scrape p50`, value: percentile(before.scrapesMs, 50), unit: 'ms', digits: 0, baseline: { name: 'node_exporter', value: percentile(nodeExporter.scrapesMs, 50) }, goal: 'ipvsScrapeTime', ...note });
    bench.figure({ name: `${was} peak RSS`, value: before.peakRssMb, unit: 'MB', digits: 0, baseline: { name: 'node_exporter', value: nodeExporter.peakRssMb }, goal: 'ipvsPeakRss', ...note });
    bench.figure({ name: `${name} scrape p50, now against before`, value: percentile(kawatch.scrapesMs, 50), unit: 'ms', digits: 0, baseline: { name: 'before', value: percentile(before.scrapesMs, 50) } });
    bench.figure({ name: `${name} CPU per scrape p50, now against before`, value: percentile(kawatch.cpuMs, 50), unit: 'ms', digits: 0, baseline: { name: 'before', value: percentile(before.cpuMs, 50) } });
    bench.figure({ name: `${name} peak RSS, now against before`, value: kawatch.peakRssMb, unit: 'MB', digits: 0, baseline: { name: 'before', value: before.peakRssMb } });
  }
  if (kawatch.backendSeries !== backends || nodeExporter.backendSeries !== backends) {
    bench.note(`  DIFFERENT: ${backends} real servers in the table, kawatch exposes ${kawatch.backendSeries} backend series, node_exporter ${nodeExporter.backendSeries}`);
  }
}

/**
 * Where kawatch's scrape in the VM goes, and the floor under any exporter there: each stage and
 * each floor against node_exporter's whole scrape, so that the ratio a stage alone takes is read
 * off the same run.
 */
function reportStages(bench: BenchReport, name: string, stages: VmStages, exporters: Comparison['exporters']): void {
  const baseline = { name: 'node_exporter scrape', value: percentile(exporters.node_exporter.scrapesMs, 50) };
  const [read, exposition] = [percentile(stages.readMs, 50), percentile(stages.expositionMs, 50)];
  const rest = percentile(exporters.kawatch.scrapesMs, 50) - read - exposition;
  bench.figure({ name: `${name} kawatch's stages: netlink read p50`, value: read, unit: 'ms', digits: 0, baseline });
  bench.figure({ name: `${name} kawatch's stages: exposition p50 (${(stages.expositionBytes / 2 ** 20).toFixed(1)} MB to buffers)`, value: exposition, unit: 'ms', digits: 0, baseline });
  bench.figure({ name: `${name} kawatch's stages: the rest of a scrape (HTTP, the client reading)`, value: Math.max(0, rest), unit: 'ms', digits: 0, baseline });
  bench.figure({ name: `${name} floor: the kernel writing /proc/net/ip_vs p50`, value: percentile(stages.procMs, 50), unit: 'ms', digits: 0, baseline });
  bench.figure({ name: `${name} floor: ipvsadm -Ln --stats, the same netlink dumps in C, p50`, value: percentile(stages.ipvsadmMs, 50), unit: 'ms', digits: 0, baseline });
}

/** Per 1,000 added real servers from one size to the next, for one exporter's figure. Pure. */
function growthSteps(sizes: readonly { backends: number; value: number }[]): { from: number; to: number; perThousand: number }[] {
  return sizes.slice(1).map((to, i) => {
    const from = sizes[i]!;
    return { from: from.backends, to: to.backends, perThousand: ((to.value - from.value) / (to.backends - from.backends)) * 1000 };
  });
}

function reportGrowth(bench: BenchReport, measured: { backends: number; comparison: Comparison }[]): void {
  if (measured.length < 2) return;
  bench.note('growth per 1,000 added real servers (procfs), from one size to the next:');
  const figures = {
    'scrape p50': { unit: 'ms', pick: (f: Comparison['exporters']['kawatch']) => percentile(f.scrapesMs, 50) },
    'peak RSS': { unit: 'MB', pick: (f: Comparison['exporters']['kawatch']) => f.peakRssMb },
  };
  for (const [what, { unit, pick }] of Object.entries(figures)) {
    const steps = (name: 'kawatch' | 'node_exporter') => growthSteps(measured.map((m) => ({ backends: m.backends, value: pick(m.comparison.exporters[name]) })));
    const [ours, theirs] = [steps('kawatch'), steps('node_exporter')];
    ours.forEach((step, i) => {
      bench.figure({ name: `${what} per 1k backends, ${step.from}→${step.to}`, value: step.perThousand, unit, digits: 2, baseline: { name: 'node_exporter', value: theirs[i]!.perThousand } });
    });
    if (ours.length >= 2) {
      const [below, top] = [ours.at(-2)!, ours.at(-1)!];
      bench.figure({ name: `${what}: per backend ${top.from}→${top.to} / ${below.from}→${below.to}`, value: top.perThousand / below.perThousand, unit: '×', digits: 2, goal: 'ipvsLinearGrowth' });
    }
  }
}

async function procfsComparison(backends: number): Promise<Comparison> {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-bench-ipvs-'));
  try {
    const procfs = join(dir, 'proc');
    await run('python3', [join(root, 'scripts/gen-ipvs-proc'), procfs, String(Math.ceil(backends / BACKENDS_PER_SERVICE)), String(BACKENDS_PER_SERVICE)]);
    return await compareExporters(procfs, 'procfs', { scrapes: SCRAPES, dir, against: AGAINST || AGAINST_FLAGS !== undefined ? { root: AGAINST || undefined, flags: AGAINST_FLAGS } : undefined, gzip: GZIP });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function netlinkComparison(bench: BenchReport, backends: number): Promise<Comparison> {
  const release = await holdLock(VM_LOCK);
  try {
    // The scrapes' answers are read whole inside the VM (tens of MB per 10k real servers), beside both exporters.
    const memoryMb = Math.max(1536, Math.ceil(backends / 1000) * 40);
    const vm = await TestVm.boot({ memoryMb });
    try {
      bench.note(`VM booted in ${vm.bootSeconds.toFixed(1)} s (qemu TCG, 1 vCPU, ${memoryMb} MB)`);
      writeFileSync(join(vm.exchange, 'ipvs.rules'), ipvsadmRules(backends, BACKENDS_PER_SERVICE));
      const loaded = await vm.ok('ipvsadm -C && ipvsadm -R < /tmp/vm-exchange/ipvs.rules && ipvsadm -Ln | grep -c "^  -> [0-9[]"', VM_RUN_TIMEOUT_MS);
      if (Number(loaded.trim()) !== backends) throw new Error(`the VM's IPVS table has ${loaded.trim()} real servers after ipvsadm -R, expected ${backends}`);
      const against = AGAINST ? ` --against ${AGAINST}` : '';
      const out = await vm.ok(`node ${join(root, 'dist/bench/ipvs-vm.js')} --scrapes ${VM_SCRAPES} --dir /tmp/kawatch-bench-ipvs-vm${against}${GZIP ? ' --gzip' : ''}`, VM_RUN_TIMEOUT_MS);
      return JSON.parse(out) as Comparison;
    } finally {
      await vm.shutdown();
    }
  } finally {
    await release();
  }
}

async function main(): Promise<void> {
  const bench = new BenchReport('ipvs', { backends: SIZES, scrapes: SCRAPES, netlinkBackends: WITH_VM ? NETLINK_BACKENDS : null, vmScrapes: VM_SCRAPES, backendsPerService: BACKENDS_PER_SERVICE, gzip: GZIP });
  const comparisons: (Comparison & { backends: number; where: string })[] = [];
  const encoding = GZIP ? 'asking for gzip' : 'uncompressed';
  bench.note(`IPVS scrape: kawatch (procfs, streamed exposition) vs prometheus-node-exporter --collector.ipvs on the same generated tree, ${SCRAPES} scrapes each, taking turns, ${encoding}`);
  const procfs: { backends: number; comparison: Comparison }[] = [];
  for (const backends of SIZES) {
    const comparison = await procfsComparison(backends);
    comparisons.push({ ...comparison, backends, where: 'host, generated procfs tree' });
    procfs.push({ backends, comparison });
    report(bench, 'procfs', backends, comparison);
  }
  reportGrowth(bench, procfs);
  if (WITH_VM) {
    bench.note(`IPVS scrape in the test VM (real IPVS kernel, qemu TCG): kawatch through generic netlink vs node_exporter on /proc/net/ip_vs of the same table, ${VM_SCRAPES} scrapes each, taking turns, ${encoding}`);
    const comparison = await netlinkComparison(bench, NETLINK_BACKENDS);
    comparisons.push({ ...comparison, backends: NETLINK_BACKENDS, where: 'VM, real IPVS table' });
    report(bench, 'netlink (VM, TCG)', NETLINK_BACKENDS, comparison);
  }
  bench.write({ comparisons });
}

checkOptions(...REPORT_OPTIONS);
await main();
