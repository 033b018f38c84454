import { type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { DrillReport } from '../../src/drill/journal.js';
import { startDaemon, stopDaemon } from '../../src/lab/directors.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import type { LabNode } from '../../src/lab/state.js';
import { nodeState, useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { BACKEND_PORT, atStep, drillGroup, journal, postDrill as post, reportOf, startBackends, stopBackends, trackFile } from './support.js';

const PREFIX = 'kwddrill';
const INSTANCE = 'VI_1';

describeWithPrereqs('failover drills (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX);
  const { healthyMaster, expectNoneDemoted } = drillGroup(lab, INSTANCE);
  let backends: ChildProcess[] = [];
  let nodes: LabNode[];
  let vip: string;

  beforeAll(async () => {
    nodes = lab.info.nodes;
    vip = lab.info.vips[INSTANCE]!;
    backends = await startBackends(nodes);
  });
  afterAll(() => {
    stopBackends(backends);
  });
  afterEach(async () => {
    await labHeal({ prefix: PREFIX }).catch(() => {});
  });

  it('refuses a request without the token from state_dir', async () => {
    const master = await healthyMaster();
    const { status } = await post(master, { instances: [INSTANCE] }, '/api/v1/drill', 'not-the-token');
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
    expect(trackFile(master, INSTANCE)).toBe('0\n');
    // The refusal is kept and counted once journaled, just after the answer.
    await waitFor(async () => /^kawatch_drill_failures_total\{reason="unhealthy"\} [1-9]/m.test(await (await fetch(`${master.api}/metrics`)).text()), 'the refusal counted');
  });

  it('aborts when the group splits in the middle, restores, and leaves no director demoted', async () => {
    const master = await healthyMaster();
    const other = nodes.find((n) => n !== master)!;
    const { status, json } = await post(master, { instances: [INSTANCE] });
    expect(status).toBe(202);
    await atStep(master, 'moving');
    await labSplit({ prefix: PREFIX, node: other.name, link: 'primary' });
    const report = await reportOf(master, json.id as string);
    expect(report.outcome).toBe('aborted');
    expect(['verdict', 'timeout']).toContain(report.reason);
    expect(journal(master).filter((e) => e.id === report.id).map((e) => e.step)).toContain('restoring');
    expect(trackFile(master, INSTANCE)).toBe('0\n');
    await labHeal({ prefix: PREFIX });
    await healthyMaster(master);
    await expectNoneDemoted();
  });

  it('restores once when the daemon is killed in the middle and started again', async () => {
    const master = await healthyMaster();
    const { status, json } = await post(master, { instances: [INSTANCE] });
    expect(status).toBe(202);
    const id = json.id as string;
    await atStep(master, 'moving');
    await stopDaemon(master, { signal: 'SIGKILL' });
    await startDaemon(master);
    const report = await reportOf(master, id);
    expect(report).toMatchObject({ outcome: 'aborted', reason: 'restart' });
    await healthyMaster(master);
    await expectNoneDemoted();
    const entries = journal(master).filter((e) => e.id === id);
    expect(entries.filter((e) => e.step === 'end')).toHaveLength(1);
    // Another restart finds the drill ended: nothing restored twice, nothing more journaled.
    await stopDaemon(master);
    await startDaemon(master);
    await healthyMaster(master);
    expect(journal(master).filter((e) => e.id === id)).toEqual(entries);
  });
});
