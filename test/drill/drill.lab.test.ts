import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { API_TOKEN_FILE } from '../../src/core/api-token.js';
import type { DrillReport } from '../../src/drill/journal.js';
import type { DrillsStatus } from '../../src/drill/drills.js';
import { startDaemon, stopDaemon } from '../../src/lab/directors.js';
import { nodePaths } from '../../src/lab/plan.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import type { LabNode } from '../../src/lab/state.js';
import { nodeState, useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const PREFIX = 'kwddrill';
const INSTANCE = 'VI_1';
/** The service behind the VIP: a tiny HTTP server in every director's namespace, on every address. */
const BACKEND_PORT = 18_080;

const BACKEND = `
const name = process.argv[1];
require('node:http').createServer((req, res) => res.end(name)).listen(${BACKEND_PORT}, '0.0.0.0', () => console.log('listening'));
`;

describeWithPrereqs('failover drills (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX);
  const backends: ChildProcess[] = [];
  let nodes: LabNode[];
  let vip: string;
  /** The MASTER of the instance when the lab came up: its highest-priority director, where every drill must leave it. */
  let preferred: LabNode | undefined;

  const token = (node: LabNode) => readFileSync(join(nodePaths(node.dir).stateDir, API_TOKEN_FILE), 'utf8').trim();
  const trackFile = (node: LabNode) => readFileSync(join(nodePaths(node.dir).trackDir, INSTANCE), 'utf8');
  const journal = (node: LabNode) => readFileSync(join(nodePaths(node.dir).stateDir, 'drills.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: string; id: string; why?: string });

  async function post(node: LabNode, body: unknown, auth = token(node)): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${node.api}/api/v1/drill`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  const drillStatus = async (node: LabNode) => (await (await fetch(`${node.api}/api/v1/drill`)).json()) as DrillsStatus;
  const reportOf = (node: LabNode, id: string) => waitFor(async () => (await drillStatus(node)).reports.find((r) => r.id === id), `the report of drill ${id}`, 90_000);

  /**
   * The director MASTER of the instance, once the whole group is healthy: every daemon hears every peer and has no
   * verdict. Once one was found, only when that one is MASTER again: right after a heal or a restore the preferred owner may
   * still be BACKUP, waiting for its master-down timer, while the verdict that would say so is still held back.
   */
  async function healthyMaster(expected = preferred): Promise<LabNode> {
    preferred = await waitFor(
      async () => {
        const states = await Promise.all(nodes.map(nodeState));
        if (states.some((s) => s.verdicts.length > 0 || s.drill !== undefined)) return undefined;
        if (states.some((s) => Object.values(s.peers).some((p) => p.view === undefined || Date.now() - (p.lastExchange ?? 0) > 2000))) return undefined;
        const masters = states.filter((s) => s.instances[INSTANCE]?.state === 'MASTER');
        if (masters.length !== 1 || states.some((s) => s.instances[INSTANCE]?.vrid === undefined)) return undefined;
        const master = nodes.find((n) => n.name === masters[0]!.node);
        return expected === undefined || master === expected ? master : undefined;
      },
      `a healthy group with ${expected?.name ?? 'one director'} MASTER of VI_1`,
      60_000,
    );
    return preferred;
  }

  /** Nobody left demoted: every track file of the instance back at 0, none in FAULT. */
  async function expectNoneDemoted(): Promise<void> {
    for (const node of nodes) expect(trackFile(node)).toBe('0\n');
    await waitFor(async () => (await Promise.all(nodes.map(nodeState))).every((s) => s.instances[INSTANCE]?.state !== 'FAULT'), 'no director in FAULT', 30_000);
  }

  beforeAll(async () => {
    nodes = lab.info.nodes;
    vip = lab.info.vips[INSTANCE]!;
    for (const node of nodes) {
      const child = spawn('ip', ['netns', 'exec', node.netns, process.execPath, '-e', BACKEND, node.name], { stdio: ['ignore', 'pipe', 'inherit'] });
      backends.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`backend on ${node.name} exited (${code})`)));
      });
    }
  });
  afterAll(() => {
    for (const child of backends) child.kill('SIGTERM');
  });
  afterEach(async () => {
    await labHeal({ prefix: PREFIX }).catch(() => {});
  });

  it('refuses a request without the token from state_dir', async () => {
    const master = await healthyMaster();
    const { status } = await post(master, { instances: [INSTANCE] }, 'not-the-token');
    expect(status).toBe(401);
  });

  it('moves VI_1 to the BACKUP and back, probing the service through the VIP, and reports the figures', async () => {
    const master = await healthyMaster();
    const dry = await post(master, { instances: [INSTANCE], dry_run: true });
    expect(dry.status).toBe(200);
    const { status, json } = await post(master, { instances: [INSTANCE], probe: `http://${vip}:${BACKEND_PORT}/` });
    expect(status).toBe(202);
    const report: DrillReport = await reportOf(master, json.id as string);
    expect(report).toMatchObject({ outcome: 'success', from: master.name, mode: 'track', stayed: false, unexpected: [] });
    expect(nodes.map((n) => n.name).filter((n) => n !== master.name)).toContain(report.to);
    expect(report.failoverMs).toBeGreaterThan(0);
    expect(report.failbackMs).toBeGreaterThan(0);
    // The service answered through the VIP, before the move, after it, or both: the probe reached the backends.
    expect(report.probe!.attempts).toBeGreaterThan(0);
    expect(report.probe!.failures).toBeLessThan(report.probe!.attempts);
    expect(report.probe!.target).toBe(`http://${vip}:${BACKEND_PORT}/`);
    await healthyMaster(master);
    await expectNoneDemoted();
    const metrics = await (await fetch(`${master.api}/metrics`)).text();
    expect(metrics).toMatch(/^kawatch_drill_last_success_timestamp_seconds [1-9]/m);
    expect(metrics).toMatch(/^kawatch_drill_last_failover_seconds 0\.\d*[1-9]/m);
  });

  it('refuses a drill while a peer is not heard on the secondary link', async () => {
    const master = await healthyMaster();
    const other = nodes.find((n) => n !== master)!;
    await labSplit({ prefix: PREFIX, node: other.name, link: 'secondary' });
    await waitFor(async () => (await nodeState(master)).verdicts.some((v) => v.kind === 'peer-unreachable'), 'the peer unreachable', 30_000);
    const { status, json } = await post(master, { instances: [INSTANCE] });
    expect(status).toBe(409);
    expect((json.reasons as string[]).join('\n')).toContain(`peer ${other.name} is not heard on the secondary link`);
    expect(trackFile(master)).toBe('0\n');
    // The refusal is kept and counted once journaled, just after the answer.
    await waitFor(async () => /^kawatch_drill_failures_total\{reason="unhealthy"\} [1-9]/m.test(await (await fetch(`${master.api}/metrics`)).text()), 'the refusal counted');
  });

  it('aborts when the group splits in the middle, restores, and leaves no director demoted', async () => {
    const master = await healthyMaster();
    const other = nodes.find((n) => n !== master)!;
    const { status, json } = await post(master, { instances: [INSTANCE] });
    expect(status).toBe(202);
    await waitFor(async () => (await drillStatus(master)).running?.step === 'moving', 'the drill moving', 30_000);
    await labSplit({ prefix: PREFIX, node: other.name, link: 'primary' });
    const report = await reportOf(master, json.id as string);
    expect(report.outcome).toBe('aborted');
    expect(['verdict', 'timeout']).toContain(report.reason);
    expect(journal(master).filter((e) => e.id === report.id).map((e) => e.step)).toContain('restoring');
    expect(trackFile(master)).toBe('0\n');
    await labHeal({ prefix: PREFIX });
    await healthyMaster(master);
    await expectNoneDemoted();
  });

  it('restores once when the daemon is killed in the middle and started again', async () => {
    const master = await healthyMaster();
    const { status, json } = await post(master, { instances: [INSTANCE] });
    expect(status).toBe(202);
    const id = json.id as string;
    await waitFor(async () => (await drillStatus(master)).running?.step === 'moving', 'the drill moving', 30_000);
    await stopDaemon(master, { signal: 'SIGKILL' });
    await startDaemon(master);
    const report = await reportOf(master, id);
    expect(report).toMatchObject({ outcome: 'aborted', reason: 'restart' });
    await healthyMaster(master);
    await expectNoneDemoted();
    // Another restart finds the drill ended: nothing restored twice.
    await stopDaemon(master);
    await startDaemon(master);
    await healthyMaster(master);
    expect(journal(master).filter((e) => e.id === id && e.step === 'restoring')).toHaveLength(1);
  });
});
