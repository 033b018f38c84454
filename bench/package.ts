/**
 * The packaged daemon (dist-pkg: the sh launcher, its own Node runtime, the esbuild bundle) next to
 * the compiled tree on this machine's Node: time from spawn to /healthz answering, and RSS after an
 * idle spell, in one run, rounds alternating so that both see the same machine load.
 *
 *   npm run build && npm run package && node dist/bench/package.js [--rounds N] [--idle-seconds S] [--json FILE]
 *
 * Both run examples/kawatch.yml (every source as shipped) with its directories moved to a temporary
 * one and the API on a free loopback port; /healthz is polled every 5 ms, the poll's resolution.
 * The sizes of the artifacts in dist-pkg/ come first (the image's is printed by
 * test/packaging/image.lab.test.ts, which builds it).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { freePort } from '../src/core/net.js';
import { BenchReport, checkOptions, countOption, percentile, pollUntil, REPORT_OPTIONS } from './support.js';

const CHECKOUT = resolve(import.meta.dirname, '../..');
const ROUNDS = countOption('--rounds', 5);
const IDLE_SECONDS = countOption('--idle-seconds', 10);
const HEALTHZ_POLL = { timeoutMs: 30_000, intervalMs: 5 };

interface Variant {
  name: string;
  command: string;
  args: string[];
}

interface Sample {
  startupMs: number;
  rssMb: number;
}

async function configFile(dir: string, port: number): Promise<string> {
  const config = parseDocument(await readFile(join(CHECKOUT, 'examples/kawatch.yml'), 'utf8'));
  config.setIn(['listen'], `127.0.0.1:${port}`);
  config.setIn(['state_dir'], join(dir, 'state'));
  config.setIn(['sources', 'hook', 'spool_dir'], join(dir, 'spool'));
  config.setIn(['sources', 'fifo', 'paths'], [join(dir, 'keepalived.fifo')]);
  config.setIn(['watchdog', 'track_dir'], join(dir, 'track'));
  const file = join(dir, 'kawatch.yml');
  await writeFile(file, config.toString());
  return file;
}

/** One daemon start: spawn to the first 200 from /healthz, then its RSS after the idle spell. */
async function sample(variant: Variant): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'kawatch-bench-package-'));
  const port = await freePort();
  const config = await configFile(dir, port);
  const started = performance.now();
  // The launcher execs the runtime: the spawned pid is the daemon's.
  const daemon = spawn(variant.command, [...variant.args, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const startupMs = await pollUntil(
      `${variant.name} to answer /healthz`,
      async () => {
        if (daemon.exitCode !== null) throw new Error(`exited ${daemon.exitCode}: ${stderr}`);
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200 ? performance.now() - started : undefined;
      },
      HEALTHZ_POLL,
    );
    await sleep(IDLE_SECONDS * 1000);
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${daemon.pid}/status`, 'utf8'))![1]);
    return { startupMs, rssMb: rssKb / 1024 };
  } finally {
    const exited = new Promise((ok) => daemon.once('exit', ok));
    if (daemon.exitCode === null) daemon.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const launcher = join(CHECKOUT, 'dist-pkg/root/usr/bin/kawatch');
  const runtime = join(CHECKOUT, 'dist-pkg/root/usr/lib/kawatch/node');
  if (!existsSync(runtime)) throw new Error(`${runtime} is missing: run npm run package first`);
  const packaged: Variant = { name: 'packaged', command: launcher, args: [] };
  const compiled: Variant = { name: `node ${process.version}`, command: process.execPath, args: [join(CHECKOUT, 'dist/src/cli/main.js')] };
  const report = new BenchReport('package', { rounds: ROUNDS, idleSeconds: IDLE_SECONDS });
  report.note(`packaged: ${launcher} (runtime ${(await readFile(join(CHECKOUT, 'packaging/runtime.json'), 'utf8')).match(/"version": "([^"]+)"/)?.[1]}); baseline: ${compiled.name} dist/src/cli/main.js`);
  const dist = join(CHECKOUT, 'dist-pkg');
  for (const artifact of readdirSync(dist).filter((f) => /\.(deb|rpm|tar\.gz)$/.test(f)).sort()) {
    report.figure({ name: `size of ${artifact}`, value: statSync(join(dist, artifact)).size / 1048576, unit: 'MiB' });
  }
  const samples = new Map<Variant, Sample[]>([
    [packaged, []],
    [compiled, []],
  ]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of round % 2 === 0 ? [compiled, packaged] : [packaged, compiled]) samples.get(variant)!.push(await sample(variant));
  }
  const median = (variant: Variant, pick: (s: Sample) => number) => percentile(samples.get(variant)!.map(pick), 50);
  const baselineStartup = { name: compiled.name, value: median(compiled, (s) => s.startupMs) };
  const baselineRss = { name: compiled.name, value: median(compiled, (s) => s.rssMb) };
  report.figure({ name: `start-up to /healthz, ${compiled.name} (median)`, value: baselineStartup.value, unit: 'ms' });
  report.figure({ name: 'start-up to /healthz, packaged (median)', value: median(packaged, (s) => s.startupMs), unit: 'ms', baseline: baselineStartup });
  report.figure({ name: `idle RSS after ${IDLE_SECONDS} s, ${compiled.name} (median)`, value: baselineRss.value, unit: 'MB' });
  report.figure({ name: `idle RSS after ${IDLE_SECONDS} s, packaged (median)`, value: median(packaged, (s) => s.rssMb), unit: 'MB', baseline: baselineRss });
  report.write({ samples: Object.fromEntries([...samples].map(([v, s]) => [v.name, s])) });
}

checkOptions(...REPORT_OPTIONS);
await main();
