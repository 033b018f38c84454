import { setTimeout as sleep } from 'node:timers/promises';
import { readApiToken } from '../core/api-token.js';
import { parseListen } from '../core/listen.js';
import type { DrillReport } from '../drill/journal.js';
import type { DrillsAnswer, DrillsStatus } from '../drill/drills.js';
import { reportText } from '../drill/report.js';

export interface DrillCommandOptions {
  config?: string;
  to?: string;
  probe?: string;
  mode: 'track' | 'stop';
  dryRun?: boolean;
  stay?: boolean;
  restore?: boolean;
  format: 'human' | 'json';
}

/** The daemon's own API address as a client on this host reaches it: a wildcard listener answers on loopback. */
export function apiBase(listen: string): string {
  const { host, port } = parseListen(listen);
  const local = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${local.includes(':') ? `[${local}]` : local}:${port}`;
}

/** How often the command asks the daemon how the drill goes. */
const POLL_MS = 250;

async function call(url: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: await res.json().catch(() => ({})) };
}

/**
 * `kawatch drill`: asks the local daemon for the drill (its API, with the token from state_dir),
 * follows it until its reports are in, and prints them. Exit 0: every drill succeeded (or the dry
 * run found nothing against it); 1: refused or aborted; 2: a configuration or request problem.
 */
export async function runDrill(instances: string[], opts: DrillCommandOptions): Promise<number> {
  const { loadConfig, ConfigError } = await import('../config/load.js');
  let config;
  try {
    config = await loadConfig(opts.config, {});
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`kawatch drill: invalid configuration:\n${err.message}\n`);
    return 2;
  }
  const base = apiBase(config.listen);
  let token: string;
  try {
    token = await readApiToken(config.state_dir);
  } catch (err) {
    process.stderr.write(`kawatch drill: cannot read the daemon's API token in ${config.state_dir}: ${(err as Error).message} (is the daemon running, and are you root?)\n`);
    return 2;
  }
  const out = (human: string, json: unknown) => process.stdout.write(opts.format === 'json' ? `${JSON.stringify(json, null, 2)}\n` : human);
  try {
    if (opts.restore) {
      const results = [];
      for (const instance of instances) {
        const { status, json } = await call(`${base}/api/v1/drill/restore`, token, { instance, mode: opts.mode });
        if (status !== 200) return fail(json, status);
        results.push(json);
      }
      out(instances.map((i) => `${i} restored on ${config.node_name}\n`).join(''), results);
      return 0;
    }
    const { status, json } = await call(`${base}/api/v1/drill`, token, { instances, to: opts.to, probe: opts.probe, mode: opts.mode, stay: opts.stay ?? false, dry_run: opts.dryRun ?? false });
    const answer = json as DrillsAnswer;
    if (status === 409 && answer.status === 'refused') {
      out(`kawatch drill: refused:\n${answer.reasons.map((r) => `  - ${r}\n`).join('')}`, answer);
      return 1;
    }
    if (status === 200 && answer.status === 'planned') {
      out(answer.plans.map((p) => `would move ${p.instance} from ${p.from} to ${p.to} (mode ${p.mode})${p.stay ? ' and leave it there' : ' and back'}\n`).join(''), answer);
      return 0;
    }
    if (status !== 202 || answer.status !== 'started') return fail(json, status);
    const reports = await follow(base, answer.id, instances.length, config.drill.timeout * 3 * instances.length + 30_000);
    out(reports.map(reportText).join('\n'), reports);
    return reports.length === instances.length && reports.every((r) => r.outcome === 'success') ? 0 : 1;
  } catch (err) {
    process.stderr.write(`kawatch drill: cannot reach the daemon at ${base}: ${(err as Error).message}\n`);
    return 2;
  }
}

function fail(json: unknown, status: number): number {
  const error = (json as { error?: string }).error ?? `HTTP ${status}`;
  process.stderr.write(`kawatch drill: ${error}\n`);
  return status === 400 ? 2 : 1;
}

/** The reports of drill `id` (one per instance, `id-N` for several), once the daemon has no drill of it running. */
async function follow(base: string, id: string, count: number, maxMs: number): Promise<DrillReport[]> {
  const ids = new Set(count > 1 ? Array.from({ length: count }, (_, i) => `${id}-${i + 1}`) : [id]);
  const deadline = Date.now() + maxMs;
  for (;;) {
    const { json } = await call(`${base}/api/v1/drill`, undefined);
    const status = json as DrillsStatus;
    const mine = status.reports.filter((r) => ids.has(r.id));
    const running = status.running !== undefined && ids.has(status.running.id);
    if ((!running && mine.length > 0) || mine.length === count || Date.now() > deadline) return mine;
    await sleep(POLL_MS);
  }
}
