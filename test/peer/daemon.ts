import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

/** The built CLI; KAWATCH_CLI runs the same attacks against another build (an older one, to see them land). */
export const cli = process.env.KAWATCH_CLI ?? new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
export const SECRET = 'a shared secret that is long enough';

/** A kawatch daemon process (the built CLI) on loopback ports, every keepalived source off. */
export interface Daemon {
  name: string;
  pid: number;
  httpPort: number;
  peerPort?: number;
  dir: string;
  secretFile: string;
  output: () => string;
  state: () => Promise<Record<string, unknown> & { peers: Record<string, { view?: { instances: { name: string }[] }; lastError?: string; lastExchange?: number }>; peerRejected: Record<string, number> }>;
  stop: () => Promise<void>;
}

export interface DaemonOptions {
  name: string;
  peerPort?: number;
  /** Other members as name → peer API port on 127.0.0.1. */
  members?: Record<string, number>;
  peerTimeoutMs?: number;
  intervalMs?: number;
  /** A procfs tree to read IPVS from (scripts/gen-ipvs-proc writes one); IPVS is off without it. */
  procfs?: string;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), `kawatch-peer-${options.name}-`));
  const secretFile = join(dir, 'peer.secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const httpPort = await freePort();
  const members = Object.entries(options.members ?? {});
  const lines = [
    `node_name: ${options.name}`,
    `state_dir: ${dir}/state`,
    `listen: 127.0.0.1:${httpPort}`,
    `keepalived: { pid_file: ${dir}/keepalived.pid }`,
    'sources: { hook: { enabled: false }, fifo: { enabled: false }, netlink: { enabled: false }, dump: { enabled: false } }',
    ...(options.procfs ? [`procfs: ${options.procfs}`, 'ipvs: { path: procfs }'] : ['ipvs: { enabled: false }']),
    'jobs: { digest: false, audit: false }',
    `watchdog: { track_dir: ${dir}/track }`,
  ];
  if (options.peerPort !== undefined) {
    lines.push(
      'peers:',
      `  listen: 127.0.0.1:${options.peerPort}`,
      `  secret_file: ${secretFile}`,
      `  interval: ${options.intervalMs ?? 1000}ms`,
      `  timeout: ${options.peerTimeoutMs ?? 500}ms`,
      '  unreachable_after: 10m',
      '  members:',
      ...members.map(([name, port]) => `    - { name: ${name}, address: "127.0.0.1:${port}" }`),
    );
  }
  writeFileSync(join(dir, 'k.yml'), `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn(process.execPath, [cli, 'run', '--config', join(dir, 'k.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const base = `http://127.0.0.1:${httpPort}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true || (child.exitCode !== null && Promise.reject(new Error(output))), `daemon ${options.name} answering /healthz`, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: options.name,
    pid: child.pid!,
    httpPort,
    peerPort: options.peerPort,
    dir,
    secretFile,
    output: () => output,
    state: async () => (await (await fetch(`${base}/api/v1/state`)).json()) as Awaited<ReturnType<Daemon['state']>>,
    stop,
  };
}

/** Resident memory of a process, from /proc/PID/status, in MB. */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** File descriptors a process holds open now. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Samples a process's RSS every 50 ms until stopped; the peak is what an attack cost. */
export function watchRss(pid: number): { peak: () => number; stop: () => void } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // The process is gone; the peak so far stands.
    }
  }, 50);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

export async function healthy(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return res?.ok === true;
}

/**
 * Opens `count` raw TCP connections to 127.0.0.1:port from `localAddress` and writes `first` on
 * each; resolves once all are connected or refused. Nothing more is sent unless the caller does.
 */
export async function openMany(port: number, count: number, first: string | Buffer, localAddress = '127.0.0.1'): Promise<Socket[]> {
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port, localAddress });
        sockets.push(socket);
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        // Reading what the daemon answers lets its close be seen.
        socket.resume();
        socket.once('connect', () => {
          socket.write(first);
          resolve();
        });
      }),
    ),
  );
  return sockets;
}

export function closeAll(sockets: Socket[]): void {
  for (const s of sockets) s.destroy();
}
