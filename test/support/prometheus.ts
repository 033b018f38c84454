import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './wait.js';

/** A server this test started (Prometheus, Alertmanager, a daemon), its output in `log`. */
export interface Server {
  name: string;
  url: string;
  log: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const STOP_GRACE_MS = 5000;
const READY_TIMEOUT_MS = 60_000;

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Starts `argv` with stdout and stderr in `log`, then waits until `ready` answers (the process still alive). */
export async function startServer(name: string, argv: string[], log: string, url: string, ready: string): Promise<Server> {
  const fd = openSync(log, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const server: Server = {
    name,
    url,
    log,
    child,
    stop: async (graceMs = STOP_GRACE_MS) => {
      if (exited(child)) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      if (await Promise.race([gone.then(() => true), sleep(graceMs).then(() => false)])) return;
      child.kill('SIGKILL');
      await gone;
    },
  };
  try {
    await waitFor(
      async () => {
        if (exited(child)) throw new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}); see ${log}`);
        const res = await fetch(`${url}${ready}`, { signal: AbortSignal.timeout(2000) });
        return res.ok;
      },
      `${name} ready at ${url}${ready}`,
      READY_TIMEOUT_MS,
    );
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** Prometheus (Debian's package) with `config` as its configuration, its data in `dir`. */
export function startPrometheus(dir: string, port: number, config: string): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, config);
  const argv = ['prometheus', `--config.file=${file}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=info'];
  return startServer('prometheus', argv, join(dir, 'prometheus.log'), `http://127.0.0.1:${port}`, '/-/ready');
}

/** Alertmanager (Debian's prometheus-alertmanager), alone: no cluster gossip. */
export function startAlertmanager(dir: string, port: number, config: string): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'alertmanager.yml');
  writeFileSync(file, config);
  const argv = ['prometheus-alertmanager', `--config.file=${file}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug'];
  return startServer('alertmanager', argv, join(dir, 'alertmanager.log'), `http://127.0.0.1:${port}`, '/-/ready');
}

async function apiGet<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export async function instantQuery(prometheus: string, expr: string): Promise<PromSample[]> {
  const data = await apiGet<{ resultType: string; result: PromSample[] }>(`${prometheus}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  return data.result;
}

export interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
}

export async function activeAlerts(prometheus: string): Promise<PromAlert[]> {
  return (await apiGet<{ alerts: PromAlert[] }>(`${prometheus}/api/v1/alerts`)).alerts;
}

export interface RuleGroupStatus {
  name: string;
  file: string;
  lastEvaluation: string;
  rules: { name: string; health: string; lastError?: string }[];
}

export async function ruleGroups(prometheus: string): Promise<RuleGroupStatus[]> {
  return (await apiGet<{ groups: RuleGroupStatus[] }>(`${prometheus}/api/v1/rules`)).groups;
}

export async function scrapeTargets(prometheus: string): Promise<{ labels: Record<string, string>; health: string; lastError: string }[]> {
  return (await apiGet<{ activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] }>(`${prometheus}/api/v1/targets?state=active`)).activeTargets;
}
