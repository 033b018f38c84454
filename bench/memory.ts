/**
 * Where the daemon's memory goes at idle: the daemon started as it ships (the packaged launcher and
 * runtime in dist-pkg/ when `npm run package` made them, else bin/kawatch on this machine's Node
 * and dist/), first with every part off, then with one part at a time, then with every part on
 * (hook, FIFO, dumps, netlink, IPVS on a procfs fixture, peers, witness, mail, jobs), next to
 * prometheus-node-exporter idling with its default collectors in the same run.
 *
 *   npm run build && npm run bench:memory [--idle-seconds S] [--rounds N] [--parts all|none]
 *                                         [--scrapes N] [--settings "SET|SET…"] [--json FILE]
 *
 * `--parts none` leaves out the one-part-at-a-time starts. `--settings` adds starts of the full
 * daemon with other runtime settings, each a list of Node/V8 flags and VAR=value environment
 * settings (`--max-semi-space-size=1 MALLOC_ARENA_MAX=2`), on top of what the launcher sets (the
 * flags through its KAWATCH_NODE_FLAGS), so
 * that a setting is chosen on the figures of the same run.
 *
 * For each start: RSS at the end of an idle spell (no scrapes; /healthz polled until the first
 * answer, node_exporter's landing page likewise), CPU over that spell (utime + stime from
 * /proc/PID/stat), and V8's own account from a diagnostic report the daemon writes on SIGUSR2
 * (NODE_OPTIONS=--report-on-signal: built into Node, nothing is loaded for it until the signal,
 * which comes after RSS and CPU were read): heap used and total, external memory, code space.
 * A part's "adds" is its RSS minus that of the start with every part off, medians over the rounds.
 *
 * The floor under those figures, measured in the same run: the runtime alone (the launcher's
 * runtime and flags, an empty script), and the runtime loading every one of Node's own modules
 * the full daemon has loaded once it idles (read from process.moduleLoadList through a preload in
 * a start of its own, so the measured starts stay as they ship). The full daemon minus the second
 * is what kawatch's own code and data hold.
 *
 * A director in service is scraped: the full daemon and node_exporter are then each scraped
 * --scrapes times (default 120, four a second; 0 leaves it out), and RSS is read again once they
 * settle. Scrapes make the scrape path hot: V8 optimises it (TurboFan's pages of the runtime binary,
 * its compile zones in malloc), which an idle spell alone never shows.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../src/core/net.js';
import { BenchReport, checkOptions, countOption, option, percentile, pollUntil, rawOption, REPORT_OPTIONS } from './support.js';

const CHECKOUT = resolve(import.meta.dirname, '../..');
const IDLE_SECONDS = countOption('--idle-seconds', 15);
const ROUNDS = countOption('--rounds', 1);
const ONE_PART_AT_A_TIME = option('--parts', 'all') === 'all';
const SETTINGS = (rawOption('--settings') ?? '').split('|').map((set) => set.trim()).filter(Boolean);
const SCRAPES = Number(option('--scrapes', '120'));
if (!Number.isSafeInteger(SCRAPES) || SCRAPES < 0) throw new Error(`--scrapes: expected 0 or a positive integer, got "${option('--scrapes', '120')}"`);
const SCRAPE_INTERVAL_MS = 250;
/** Start-up work (the first IPVS read, the first dump, JIT) is over by then: the idle spell starts after it. */
const SETTLE_MS = 3000;
const READY_POLL = { timeoutMs: 30_000, intervalMs: 20 };
const REPORT_POLL = { timeoutMs: 10_000, intervalMs: 20 };
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';

/** The optional parts of a daemon, each a piece of configuration. */
const PARTS = ['hook', 'fifo', 'dump', 'netlink', 'ipvs', 'peers', 'witness', 'mail', 'jobs'] as const;
type Part = (typeof PARTS)[number];

interface Sample {
  rssMb: number;
  /** RSS split as the kernel counts it: private anonymous memory (heaps, malloc) and mapped files (the runtime's text). */
  rssAnonMb?: number;
  rssFileMb?: number;
  cpuPercent: number;
  heapUsedMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
  codeSpaceMb?: number;
  /** RSS after the scrapes, when there were any. */
  served?: Pick<Sample, 'rssMb' | 'rssAnonMb' | 'rssFileMb'>;
}

interface Fixtures {
  dir: string;
  witnessPort: number;
  smtpPort: number;
}

interface Launch {
  name: string;
  /** The runtime the launcher execs, for the floor's starts. */
  runtime: string;
  command: string;
  args: string[];
}

/** The daemon as installed from the package when it was built here, else the launcher of this checkout. */
function launch(): Launch {
  const packaged = join(CHECKOUT, 'dist-pkg/root/usr/bin/kawatch');
  if (existsSync(packaged)) return { name: `packaged (${packaged})`, runtime: join(CHECKOUT, 'dist-pkg/root/usr/lib/kawatch/node'), command: packaged, args: [] };
  const node = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
  return { name: `bin/kawatch on node ${node} and dist/ (no dist-pkg/: npm run package makes it)`, runtime: 'node', command: join(CHECKOUT, 'bin/kawatch'), args: [] };
}

/** YAML for a daemon with `parts` on and everything else off. Pure. */
export function configText(dir: string, ports: { http: number; peer: number; member: number; witness: number; smtp: number }, parts: ReadonlySet<Part>): string {
  const on = (part: Part) => parts.has(part);
  const lines = [
    'node_name: lb1',
    `listen: 127.0.0.1:${ports.http}`,
    `procfs: ${dir}/proc`,
    `state_dir: ${dir}/state`,
    'log_level: error',
    `keepalived: { pid_file: ${dir}/keepalived.pid, config_file: ${dir}/keepalived.conf }`,
    'sources:',
    `  hook: { enabled: ${on('hook')}, spool_dir: ${dir}/spool }`,
    `  fifo: { enabled: ${on('fifo')}, paths: [${dir}/keepalived.fifo], create: true }`,
    `  netlink: { enabled: ${on('netlink')} }`,
    `  dump: { enabled: ${on('dump')}, trigger: none, path: ${dir}/keepalived.json, interval: 15s }`,
    `ipvs: { enabled: ${on('ipvs')}, path: procfs, kernel_hz: 250 }`,
    `watchdog: { track_dir: ${dir}/track${on('witness') ? `, witness: { tcp: "127.0.0.1:${ports.witness}" }` : ''} }`,
    on('jobs') ? 'jobs: { digest: "0 8 * * *", audit: "*/30 * * * *" }' : 'jobs: { digest: false, audit: false }',
  ];
  if (on('peers') || on('witness')) {
    lines.push('peers:', `  listen: 127.0.0.1:${ports.peer}`, `  secret_file: ${dir}/peer.secret`, `  members: [{ name: lb2, address: "127.0.0.1:${ports.member}" }]`);
  }
  if (on('mail')) {
    lines.push('mail:', `  smtp: { host: 127.0.0.1, port: ${ports.smtp}, starttls: off }`, '  from: kawatch@example.com', '  to: [ops@example.com]', `  outbox_dir: ${dir}/outbox`);
  }
  return `${lines.join('\n')}\n`;
}

/** What every start reads: an IPVS table, a dump, the peer secret; a witness and an SMTP server to reach. */
async function fixtures(servers: Server[]): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-bench-memory-'));
  cpSync(join(CHECKOUT, 'test/fixtures/ipvs/shapes/net'), join(dir, 'proc/net'), { recursive: true });
  cpSync(join(CHECKOUT, 'test/fixtures/keepalived/dump-lb1.json'), join(dir, 'keepalived.json'));
  writeFileSync(join(dir, 'peer.secret'), 'a shared secret that is long enough\n', { mode: 0o600 });
  const listen = async (onConnection: (socket: Socket) => void) => {
    const server = createServer(onConnection);
    servers.push(server);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    return server;
  };
  // The witness is reached by a TCP connect; the SMTP server only needs to take a connection and say no.
  const witness = await listen((socket) => socket.end());
  const smtp = await listen((socket) => socket.end('554 no mail here\r\n'));
  return { dir, witnessPort: portOf(witness), smtpPort: portOf(smtp) };
}

function portOf(server: Server): number {
  const a = server.address();
  if (!a || typeof a !== 'object') throw new Error('a fixture server is not listening');
  return a.port;
}

function procStatus(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) / 1024;
}

/** utime + stime in seconds, fields 14 and 15 of /proc/PID/stat (after the parenthesised name). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** RSS after the idle spell and CPU over it. */
async function idle(pid: number): Promise<Pick<Sample, 'rssMb' | 'rssAnonMb' | 'rssFileMb' | 'cpuPercent'>> {
  await sleep(SETTLE_MS);
  const [cpu0, t0] = [cpuSeconds(pid), performance.now()];
  await sleep(IDLE_SECONDS * 1000);
  const cpuPercent = ((cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
  return { ...rss(pid), cpuPercent };
}

function rss(pid: number): Pick<Sample, 'rssMb' | 'rssAnonMb' | 'rssFileMb'> {
  return { rssMb: procStatus(pid, 'VmRSS'), rssAnonMb: procStatus(pid, 'RssAnon'), rssFileMb: procStatus(pid, 'RssFile') };
}

/** RSS once `url` has been scraped SCRAPES times, the whole answer read each time, and the process has settled. */
async function served(pid: number, url: string): Promise<Sample['served']> {
  if (SCRAPES === 0) return undefined;
  for (let i = 0; i < SCRAPES; i++) {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    await response.arrayBuffer();
    await sleep(SCRAPE_INTERVAL_MS);
  }
  await sleep(SETTLE_MS);
  return rss(pid);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

interface V8Report {
  javascriptHeap: { totalMemory: number; usedMemory: number; externalMemory?: number; heapSpaces: Record<string, { committedMemory: number }> };
}

/** V8's account, from the report the daemon writes on SIGUSR2 into `reportDir`. */
async function v8Figures(pid: number, reportDir: string): Promise<Pick<Sample, 'heapUsedMb' | 'heapTotalMb' | 'externalMb' | 'codeSpaceMb'>> {
  process.kill(pid, 'SIGUSR2');
  const file = await pollUntil(
    'the daemon to write its diagnostic report',
    async () => {
      const name = readdirSync(reportDir).find((f) => f.endsWith('.json') && f.includes(`.${pid}.`));
      if (!name) return undefined;
      const text = readFileSync(join(reportDir, name), 'utf8');
      return text.trimEnd().endsWith('}') ? text : undefined;
    },
    REPORT_POLL,
  );
  const heap = (JSON.parse(file) as V8Report).javascriptHeap;
  const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20);
  const code = heap.heapSpaces.code_space?.committedMemory;
  return { heapUsedMb: mb(heap.usedMemory), heapTotalMb: mb(heap.totalMemory), externalMb: mb(heap.externalMemory), codeSpaceMb: mb(code) };
}

/** A `--settings` entry as NODE_OPTIONS flags and environment variables. Pure. */
export function parseSettings(set: string): { flags: string[]; env: Record<string, string> } {
  const flags: string[] = [];
  const env: Record<string, string> = {};
  for (const token of set.split(/\s+/).filter(Boolean)) {
    const variable = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(token);
    if (variable) env[variable[1]!] = variable[2]!;
    else if (token.startsWith('--')) flags.push(token);
    else throw new Error(`--settings: "${token}" is neither a --flag nor VAR=value`);
  }
  return { flags, env };
}

interface Started {
  child: ChildProcess;
  http: number;
  reportDir: string;
}

/** A daemon with `parts` on, answering /healthz; `nodeOptions` are added to its NODE_OPTIONS. */
async function startDaemon(how: Launch, fx: Fixtures, parts: ReadonlySet<Part>, settings = '', nodeOptions: string[] = []): Promise<Started> {
  const run = mkdtempSync(join(fx.dir, 'run-'));
  cpSync(join(fx.dir, 'proc'), join(run, 'proc'), { recursive: true });
  cpSync(join(fx.dir, 'keepalived.json'), join(run, 'keepalived.json'));
  cpSync(join(fx.dir, 'peer.secret'), join(run, 'peer.secret'));
  const ports = { http: await freePort(), peer: await freePort(), member: await freePort(), witness: fx.witnessPort, smtp: fx.smtpPort };
  const config = join(run, 'kawatch.yml');
  writeFileSync(config, configText(run, ports, parts));
  const reportDir = join(run, 'report');
  mkdirSync(reportDir);
  const extra = parseSettings(settings);
  const options = [process.env.NODE_OPTIONS ?? '', '--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`, ...nodeOptions];
  const env = { ...process.env, ...extra.env, KAWATCH_NODE_FLAGS: [process.env.KAWATCH_NODE_FLAGS ?? '', ...extra.flags].join(' ').trim(), NODE_OPTIONS: options.join(' ').trim() };
  // The launcher execs the runtime: the spawned pid is the daemon's.
  const child = spawn(how.command, [...how.args, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await pollUntil(
      'the daemon to answer /healthz',
      async () => {
        if (child.exitCode !== null) throw new Error(`the daemon exited ${child.exitCode}: ${stderr}`);
        return (await fetch(`http://127.0.0.1:${ports.http}/healthz`)).ok || undefined;
      },
      READY_POLL,
    );
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return { child, http: ports.http, reportDir };
}

async function daemonSample(how: Launch, fx: Fixtures, parts: ReadonlySet<Part>, settings = ''): Promise<Sample> {
  const { child, http, reportDir } = await startDaemon(how, fx, parts, settings);
  try {
    const measured = await idle(child.pid!);
    const after = parts.size === PARTS.length ? await served(child.pid!, `http://127.0.0.1:${http}/metrics`) : undefined;
    return { ...measured, served: after, ...(await v8Figures(child.pid!, reportDir)) };
  } finally {
    await stopChild(child);
  }
}

/**
 * Node's own modules the full daemon has loaded once it idles: a preload writes
 * process.moduleLoadList on SIGWINCH (nothing else in the daemon listens to it).
 */
async function daemonBuiltins(how: Launch, fx: Fixtures): Promise<string[]> {
  const list = join(fx.dir, 'builtins.txt');
  const preload = join(fx.dir, 'list-builtins.cjs');
  writeFileSync(
    preload,
    `process.on('SIGWINCH', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)).join('\\n')));\n`,
  );
  const { child } = await startDaemon(how, fx, new Set(PARTS), '', [`--require=${preload}`]);
  try {
    await sleep(SETTLE_MS);
    child.kill('SIGWINCH');
    return (await pollUntil('the daemon to list its modules', async () => (existsSync(list) && readFileSync(list, 'utf8')) || undefined, REPORT_POLL)).split('\n');
  } finally {
    await stopChild(child);
  }
}

/** The flags the launcher gives the runtime for `run`, read from the launcher itself. */
function launcherFlags(how: Launch): string[] {
  const m = /\[ "\$\{1:-\}" = run \] && flags="([^"]*)"/.exec(readFileSync(how.command, 'utf8'));
  if (!m) throw new Error(`${how.command}: no run flags found (the launcher changed; update bench/memory.ts)`);
  return m[1]!.split(/\s+/).filter(Boolean);
}

/** The runtime as the launcher starts it, idling after it has required `builtins` (none: the runtime alone). */
async function runtimeSample(how: Launch, fx: Fixtures, builtins: readonly string[]): Promise<Sample & { failed: string[] }> {
  const ready = join(fx.dir, `runtime-ready-${builtins.length}`);
  const script = [
    `const failed = [];`,
    `for (const m of ${JSON.stringify(builtins)}) { try { require(m); } catch (err) { failed.push(m + ': ' + err.message); } }`,
    `require('node:fs').writeFileSync(${JSON.stringify(ready)}, JSON.stringify(failed));`,
    `setInterval(() => {}, 1 << 30);`,
  ].join('\n');
  // --expose-internals: the daemon's list names internal modules too (internal/streams/readable…).
  const child = spawn(how.runtime, [...launcherFlags(how), '--expose-internals', '-e', script], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    const failed = JSON.parse(await pollUntil('the runtime to load its modules', async () => (existsSync(ready) && readFileSync(ready, 'utf8')) || undefined, READY_POLL)) as string[];
    return { ...(await idle(child.pid!)), failed };
  } finally {
    await stopChild(child);
  }
}

async function nodeExporterSample(): Promise<Sample> {
  const port = await freePort();
  const child = spawn(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await pollUntil(
      'node_exporter to answer its landing page',
      async () => {
        if (child.exitCode !== null) throw new Error(`node_exporter exited ${child.exitCode}`);
        return (await fetch(`http://127.0.0.1:${port}/`)).ok || undefined;
      },
      READY_POLL,
    );
    const measured = await idle(child.pid!);
    return { ...measured, served: await served(child.pid!, `http://127.0.0.1:${port}/metrics`) };
  } finally {
    await stopChild(child);
  }
}

const median = (samples: Sample[], pick: (s: Sample) => number | undefined): number | undefined => {
  const values = samples.map(pick).filter((v): v is number => v !== undefined);
  return values.length ? percentile(values, 50) : undefined;
};

async function main(): Promise<void> {
  if (!existsSync(NODE_EXPORTER)) throw new Error(`${NODE_EXPORTER} is missing: install prometheus-node-exporter (scripts/install-deps.sh)`);
  const how = launch();
  const report = new BenchReport('memory', { idleSeconds: IDLE_SECONDS, rounds: ROUNDS, launch: how.name, nodeOptions: process.env.NODE_OPTIONS ?? '' });
  report.note(`daemon: ${how.name}`);
  report.note(`idle spell ${IDLE_SECONDS} s after ${SETTLE_MS / 1000} s of settling, no scrapes; node_exporter (default collectors) idles alongside the full daemon; ${ROUNDS} round(s), medians`);
  if (SCRAPES) report.note(`then the full daemon and node_exporter are each scraped ${SCRAPES} times, every ${SCRAPE_INTERVAL_MS} ms, and RSS read ${SETTLE_MS / 1000} s after; V8's figures are taken last`);
  const servers: Server[] = [];
  const fx = await fixtures(servers);
  const FULL = 'every part on';
  const variants: { name: string; parts: Set<Part>; settings?: string }[] = [
    { name: 'every part off', parts: new Set() },
    ...(ONE_PART_AT_A_TIME ? PARTS.map((part) => ({ name: `+ ${part}`, parts: new Set<Part>([part]) })) : []),
    { name: FULL, parts: new Set(PARTS) },
    ...SETTINGS.map((settings) => ({ name: `${FULL}, ${settings}`, parts: new Set(PARTS), settings })),
  ];
  const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
  const exporter: Sample[] = [];
  const runtimeAlone: Sample[] = [];
  const runtimeWithBuiltins: (Sample & { failed: string[] })[] = [];
  let builtins: string[] = [];
  try {
    builtins = await daemonBuiltins(how, fx);
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of variants) {
        if (variant.name === FULL) {
          // The full daemon and node_exporter idle at the same time, under the same load.
          const [daemon, baseline] = await Promise.all([daemonSample(how, fx, variant.parts), nodeExporterSample()]);
          samples.get(variant.name)!.push(daemon);
          exporter.push(baseline);
        } else {
          samples.get(variant.name)!.push(await daemonSample(how, fx, variant.parts, variant.settings));
        }
      }
      runtimeAlone.push(await runtimeSample(how, fx, []));
      runtimeWithBuiltins.push(await runtimeSample(how, fx, builtins));
    }
  } finally {
    for (const s of servers) s.close();
    rmSync(fx.dir, { recursive: true, force: true });
  }

  const base = median(samples.get('every part off')!, (s) => s.rssMb)!;
  report.note('per start: RSS (anonymous + files) | heap used / total | external | code space | CPU');
  for (const variant of variants) {
    const s = samples.get(variant.name)!;
    const fmt = (v: number | undefined) => (v === undefined ? '  ?' : v.toFixed(1));
    const rss = median(s, (x) => x.rssMb)!;
    report.note(
      `  ${variant.name.padEnd(Math.max(16, variant.name.length))} RSS ${fmt(rss).padStart(5)} MB (${variant.parts.size === 0 ? 'base' : `${rss - base >= 0 ? '+' : ''}${(rss - base).toFixed(1)}`})` +
        ` = ${fmt(median(s, (x) => x.rssAnonMb))} + ${fmt(median(s, (x) => x.rssFileMb))}` +
        `  heap ${fmt(median(s, (x) => x.heapUsedMb))} / ${fmt(median(s, (x) => x.heapTotalMb))} MB  external ${fmt(median(s, (x) => x.externalMb))} MB` +
        `  code ${fmt(median(s, (x) => x.codeSpaceMb))} MB  CPU ${fmt(median(s, (x) => x.cpuPercent))} %`,
    );
  }
  const full = samples.get(FULL)!;
  const exporterRss = { name: 'node_exporter', value: median(exporter, (s) => s.rssMb)! };
  const exporterCpu = { name: 'node_exporter', value: median(exporter, (s) => s.cpuPercent)! };
  report.figure({ name: 'idle RSS, every part off', value: base, unit: 'MB', baseline: exporterRss });
  if (ONE_PART_AT_A_TIME) for (const part of PARTS) report.figure({ name: `  RSS added by ${part}`, value: median(samples.get(`+ ${part}`)!, (s) => s.rssMb)! - base, unit: 'MB' });
  report.figure({ name: 'idle RSS, every part on', value: median(full, (s) => s.rssMb)!, unit: 'MB', baseline: exporterRss, goal: 'idleRss' });
  report.figure({ name: 'idle CPU, every part on', value: median(full, (s) => s.cpuPercent)!, unit: '%', baseline: exporterCpu, goal: 'idleCpu', digits: 2 });
  const failed = [...new Set(runtimeWithBuiltins.flatMap((r) => r.failed))];
  report.note(`the floor: ${how.runtime} ${launcherFlags(how).join(' ')} idling alone, and after requiring the ${builtins.length} of Node's own modules the full daemon loaded${failed.length ? ` (${failed.length} would not load: ${failed.join('; ')})` : ''}`);
  const withBuiltins = median(runtimeWithBuiltins, (s) => s.rssMb)!;
  report.figure({ name: 'idle RSS, the runtime alone', value: median(runtimeAlone, (s) => s.rssMb)!, unit: 'MB', baseline: exporterRss });
  report.figure({ name: "idle RSS, the runtime with the daemon's Node modules", value: withBuiltins, unit: 'MB', baseline: exporterRss });
  report.figure({ name: "  kawatch's own code and data, every part on", value: median(full, (s) => s.rssMb)! - withBuiltins, unit: 'MB' });
  if (SCRAPES) {
    const fmt = (v: number | undefined) => (v === undefined ? '?' : v.toFixed(1));
    report.note(`after ${SCRAPES} scrapes, every part on: RSS = ${fmt(median(full, (s) => s.served?.rssAnonMb))} anonymous + ${fmt(median(full, (s) => s.served?.rssFileMb))} files`);
    report.figure({
      name: `RSS after ${SCRAPES} scrapes, every part on`,
      value: median(full, (s) => s.served?.rssMb)!,
      unit: 'MB',
      baseline: { name: 'node_exporter', value: median(exporter, (s) => s.served?.rssMb)! },
      goal: 'idleRss',
    });
  }
  for (const settings of SETTINGS) {
    const s = samples.get(`${FULL}, ${settings}`)!;
    report.figure({ name: `idle RSS, every part on, ${settings}`, value: median(s, (x) => x.rssMb)!, unit: 'MB', baseline: { name: 'as launched', value: median(full, (x) => x.rssMb)! } });
    report.figure({ name: `idle CPU, every part on, ${settings}`, value: median(s, (x) => x.cpuPercent)!, unit: '%', baseline: { name: 'as launched', value: median(full, (x) => x.cpuPercent)! }, digits: 2 });
    if (SCRAPES) report.figure({ name: `RSS after ${SCRAPES} scrapes, every part on, ${settings}`, value: median(s, (x) => x.served?.rssMb)!, unit: 'MB', baseline: { name: 'as launched', value: median(full, (x) => x.served?.rssMb)! } });
  }
  report.write({ samples: Object.fromEntries(samples), nodeExporter: exporter, runtimeAlone, runtimeWithBuiltins, builtins });
}

checkOptions(...REPORT_OPTIONS);
await main();
