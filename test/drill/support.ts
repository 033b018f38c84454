import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { API_TOKEN_FILE } from '../../src/core/api-token.js';
import { exec } from '../../src/core/exec.js';
import type { DrillsStatus } from '../../src/drill/drills.js';
import type { DrillEntry, DrillReport } from '../../src/drill/journal.js';
import { nodePaths } from '../../src/lab/plan.js';
import type { LabInfo, LabNode } from '../../src/lab/state.js';
import { nodeState, type LabHandle } from '../support/lab.js';
import { waitFor } from '../support/wait.js';

/** The service behind every VIP: a tiny HTTP server in each director's namespace, on every address, answering its director's name. */
export const BACKEND_PORT = 18_080;

const BACKEND = `
const name = process.argv[1];
require('node:http').createServer((req, res) => res.end(name)).listen(${BACKEND_PORT}, '0.0.0.0', () => console.log('listening'));
`;

/** Starts the backend on every director; resolves once each listens. Stop them with `stopBackends`. */
export async function startBackends(nodes: readonly LabNode[]): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  for (const node of nodes) {
    const child = spawn('ip', ['netns', 'exec', node.netns, process.execPath, '-e', BACKEND, node.name], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`backend on ${node.name} exited (${code})`)));
    });
  }
  return children;
}

export function stopBackends(children: readonly ChildProcess[]): void {
  for (const child of children) child.kill('SIGTERM');
}

/**
 * Which director's backend answers through the VIP, asked from the switch namespace (a client on
 * the primary segment, as the service's users are): undefined when nobody answers within a second.
 */
export async function servedBy(lab: Pick<LabInfo, 'prefix'>, vip: string): Promise<string | undefined> {
  const client = `fetch('http://${vip}:${BACKEND_PORT}/', { signal: AbortSignal.timeout(1000) }).then(async (r) => console.log(await r.text()), () => process.exit(1))`;
  const result = await exec('ip', ['netns', 'exec', `${lab.prefix}-sw`, process.execPath, '-e', client], { timeoutMs: 5000 });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

export const token = (node: LabNode) => readFileSync(join(nodePaths(node.dir).stateDir, API_TOKEN_FILE), 'utf8').trim();
export const trackFile = (node: LabNode, instance: string) => readFileSync(join(nodePaths(node.dir).trackDir, instance), 'utf8');
export const journal = (node: LabNode): DrillEntry[] =>
  readFileSync(join(nodePaths(node.dir).stateDir, 'drills.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as DrillEntry);
/** How often keepalived has started on the director since the lab came up: each start logs this line once. */
export const keepalivedStarts = (node: LabNode) => (readFileSync(nodePaths(node.dir).keepalivedLog, 'utf8').match(/Starting Keepalived v/g) ?? []).length;

export async function postDrill(node: LabNode, body: unknown, path = '/api/v1/drill', auth = token(node)): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${node.api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

export const drillStatus = async (node: LabNode) => (await (await fetch(`${node.api}/api/v1/drill`)).json()) as DrillsStatus;

/** The report of drill `id`, once the director has ended it. */
export const reportOf = (node: LabNode, id: string, timeoutMs = 90_000): Promise<DrillReport> =>
  waitFor(async () => (await drillStatus(node)).reports.find((r) => r.id === id), `the report of drill ${id} on ${node.name}`, timeoutMs);

/** Waits until the director is at that step of a drill. */
export const atStep = (node: LabNode, step: string) => waitFor(async () => (await drillStatus(node)).running?.step === step, `a drill ${step} on ${node.name}`, 30_000);

/** The group as drills see it, for one instance of a lab: who is MASTER once everything is healthy, and that nobody is left demoted. */
export interface DrillGroup {
  /**
   * The director MASTER of the instance, once the whole group is healthy: every daemon hears every peer, none has a
   * verdict or a drill, nor sees one in a peer's view. Once one was found, only when that one is MASTER again: right after a heal or a restore the
   * preferred owner may still be BACKUP, waiting for its master-down timer, while the verdict that would say so is held back.
   */
  healthyMaster(expected?: LabNode): Promise<LabNode>;
  /** Nobody left demoted: every track file of the instance back at 0, none in FAULT, keepalived up everywhere. */
  expectNoneDemoted(): Promise<void>;
}

export function drillGroup(lab: LabHandle, instance: string): DrillGroup {
  let preferred: LabNode | undefined;
  return {
    async healthyMaster(expected = preferred) {
      preferred = await waitFor(
        async () => {
          const states = await Promise.all(lab.nodes.map(nodeState));
          if (states.some((s) => s.verdicts.length > 0 || s.drill !== undefined || !s.keepalived.up)) return undefined;
          // A drill's mark leaves the peers' views at the next exchange after it ends: until then they would refuse another.
          if (states.some((s) => Object.values(s.peers).some((p) => p.view === undefined || p.view.drill !== undefined || Date.now() - (p.lastExchange ?? 0) > 2000))) return undefined;
          const masters = states.filter((s) => s.instances[instance]?.state === 'MASTER');
          if (masters.length !== 1 || states.some((s) => s.instances[instance]?.vrid === undefined)) return undefined;
          const master = lab.nodes.find((n) => n.name === masters[0]!.node);
          return expected === undefined || master === expected ? master : undefined;
        },
        `a healthy group with ${expected?.name ?? 'one director'} MASTER of ${instance}`,
        60_000,
      );
      return preferred;
    },
    async expectNoneDemoted() {
      for (const node of lab.nodes) expect(trackFile(node, instance), `${node.name}'s track file of ${instance}`).toBe('0\n');
      await waitFor(async () => (await Promise.all(lab.nodes.map(nodeState))).every((s) => s.keepalived.up && s.instances[instance]?.state !== 'FAULT'), `no director in FAULT for ${instance}, keepalived up on each`, 30_000);
    },
  };
}
