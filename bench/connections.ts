/**
 * Connection floods against both listeners of a daemon: 2,000 slow or half-open connections to
 * the metrics/API listener and 2,000 to the peer API, all at once, kept alive by a byte every
 * second (slowloris), while /healthz is asked every 100 ms from another address.
 *
 * Prints /healthz latency (max, p95, failures) before and during the flood, the daemon's peak RSS
 * and open descriptors, and PASS/FAIL against the goals: /healthz answered within 1 s throughout,
 * RSS under 150 MB.
 *
 *   npm run build && npm run bench:connections
 *
 * The script holds over 4,000 sockets: the npm script raises its own limit (`ulimit -n 16384`);
 * run it as `bash -c 'ulimit -n 16384 && node dist/bench/connections.js'` otherwise. The daemon
 * inherits that limit, which is why its open descriptors are printed: they show the caps at work.
 * Attackers connect from 127.0.0.2 and up (Linux routes all of 127/8); the daemon's one peer
 * member, and the health checks, are at 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXCHANGE_PATH, MAX_BODY_BYTES } from '../src/peer/protocol.js';
import { checkOptions, formatMs, percentile } from './support.js';

const CONNECTIONS_PER_LISTENER = 2000;
const FLOOD_MS = 15_000;
const BASELINE_MS = 3000;
const HEALTH_EVERY_MS = 100;
const GOAL_HEALTH_MS = 1000;
const GOAL_RSS_MB = 150;

const root = new URL('../..', import.meta.url).pathname;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function startDaemon(dir: string): Promise<{ child: ChildProcess; httpPort: number; peerPort: number }> {
  const [httpPort, peerPort, memberPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'peer.secret'), 'a shared secret that is long enough\n', { mode: 0o600 });
  const config = join(dir, 'kawatch.yml');
  writeFileSync(
    config,
    [
      'node_name: lb1',
      `listen: 127.0.0.1:${httpPort}`,
      `state_dir: ${dir}/state`,
      'log_level: error',
      `keepalived: { pid_file: ${dir}/keepalived.pid }`,
      'sources: { hook: { enabled: false }, fifo: { enabled: false }, netlink: { enabled: false }, dump: { enabled: false } }',
      'ipvs: { enabled: false }',
      'jobs: { digest: false, audit: false }',
      'peers:',
      `  listen: 127.0.0.1:${peerPort}`,
      `  secret_file: ${dir}/peer.secret`,
      `  members: [{ name: lb2, address: "127.0.0.1:${memberPort}" }]`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [join(root, 'dist/src/cli/main.js'), 'run', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 30_000;
  while (!(await health(httpPort)).ok) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the daemon did not come up');
    await sleep(100);
  }
  return { child, httpPort, peerPort };
}

async function health(port: number): Promise<{ ok: boolean; ms: number }> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  await res?.arrayBuffer().catch(() => undefined);
  return { ok: res?.ok === true, ms: performance.now() - started };
}

/** Slow clients: each opens, sends `first`, then one byte a second until the flood ends. */
function flood(port: number, count: number, first: string, sources: string[], sockets: Socket[]): void {
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: '127.0.0.1', port, localAddress: sources[i % sources.length] });
    socket.on('error', () => {});
    socket.resume();
    socket.once('connect', () => socket.write(first));
    sockets.push(socket);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-bench-connections-'));
  const { child, httpPort, peerPort } = await startDaemon(dir);
  const pid = child.pid!;
  const samples = { baseline: [] as number[], flood: [] as number[] };
  let failures = 0;
  let peakRss = rssMb(pid);
  let peakFds = openFds(pid);
  let phase: keyof typeof samples = 'baseline';
  let running = true;
  const watcher = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(pid));
    peakFds = Math.max(peakFds, openFds(pid));
  }, 50);
  const prober = (async () => {
    while (running) {
      const { ok, ms } = await health(httpPort);
      if (ok) samples[phase].push(ms);
      else failures++;
      await sleep(HEALTH_EVERY_MS);
    }
  })();
  const sockets: Socket[] = [];
  try {
    await sleep(BASELINE_MS);
    const idleRss = rssMb(pid);
    phase = 'flood';
    const attackers = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
    // Metrics listener: headers that never end.
    flood(httpPort, CONNECTIONS_PER_LISTENER, 'GET /metrics HTTP/1.1\r\nhost: x\r\nx-slow: ', attackers, sockets);
    // Peer API: half from strangers' addresses, half from the member's own address with a body that never ends.
    const halfBody = [`POST ${EXCHANGE_PATH} HTTP/1.1`, 'host: x', 'x-kawatch-node: lb2', `x-kawatch-timestamp: ${Date.now()}`, `x-kawatch-nonce: ${'0'.repeat(32)}`, `x-kawatch-signature: ${'ab'.repeat(32)}`, `content-length: ${MAX_BODY_BYTES}`, '', `${'x'.repeat(MAX_BODY_BYTES - 1024)}`].join('\r\n');
    flood(peerPort, CONNECTIONS_PER_LISTENER / 2, halfBody, attackers, sockets);
    flood(peerPort, CONNECTIONS_PER_LISTENER / 2, halfBody, ['127.0.0.1'], sockets);
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed && s.writable) s.write('x');
    }, 1000);
    await sleep(FLOOD_MS);
    clearInterval(trickle);
    const stillOpen = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
    running = false;
    await prober;
    clearInterval(watcher);

    const all = [...samples.baseline, ...samples.flood];
    const maxMs = Math.max(0, ...all);
    const line = (name: string, v: number[]) =>
      v.length === 0 ? `${name.padEnd(10)} n=   0  (no answer at all)` : `${name.padEnd(10)} n=${String(v.length).padStart(4)}  p95 ${formatMs(percentile(v, 95)).padStart(9)}  max ${formatMs(Math.max(...v)).padStart(9)}`;
    console.log(`kawatch under ${CONNECTIONS_PER_LISTENER} slow connections per listener for ${FLOOD_MS / 1000} s (loopback)`);
    console.log(`/healthz every ${HEALTH_EVERY_MS} ms`);
    console.log(`  ${line('idle', samples.baseline)}`);
    console.log(`  ${line('flood', samples.flood)}`);
    console.log(`  failed or over 5 s: ${failures}`);
    console.log(`daemon RSS: idle ${idleRss.toFixed(0)} MB, peak ${peakRss.toFixed(0)} MB; open descriptors peak ${peakFds}`);
    console.log(`attacking connections still open at the end: ${stillOpen} of ${sockets.length}`);
    const healthPass = failures === 0 && maxMs <= GOAL_HEALTH_MS;
    const rssPass = peakRss < GOAL_RSS_MB;
    console.log(`goal /healthz within ${GOAL_HEALTH_MS} ms throughout: ${healthPass ? 'PASS' : 'FAIL'} (max ${formatMs(maxMs)}, ${failures} failed)`);
    console.log(`goal peak RSS under ${GOAL_RSS_MB} MB: ${rssPass ? 'PASS' : 'FAIL'} (${peakRss.toFixed(0)} MB)`);
    process.exitCode = healthPass && rssPass ? 0 : 1;
  } finally {
    running = false;
    clearInterval(watcher);
    for (const s of sockets) s.destroy();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

checkOptions();
await main();
