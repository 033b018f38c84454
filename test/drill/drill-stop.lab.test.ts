import { type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { reconfigureDaemon, startDaemon, stopDaemon } from '../../src/lab/directors.js';
import { isRunning } from '../../src/lab/processes.js';
import type { LabNode } from '../../src/lab/state.js';
import { nodeState, useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { BACKEND_PORT, atStep, drillGroup, journal, keepalivedStarts, postDrill, reportOf, servedBy, startBackends, stopBackends } from './support.js';

/**
 * Drills with `--mode stop` on a real keepalived pair: the daemon stops keepalived on the MASTER
 * with watchdog.stop_command and starts it again with watchdog.start_command (the lab's own
 * `kawatch lab start-keepalived`, so every start is one "Starting Keepalived" line in the node's
 * keepalived.log), whether the drill ends, is stopped by SIGTERM, or its daemon is killed.
 */
const PREFIX = 'kwdstop';
const INSTANCE = 'VI_1';
const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

describeWithPrereqs('failover drills with mode stop (lab)', { root: true, commands: ['keepalived', 'nft', 'ip', 'pkill'], files: [cli] }, () => {
  const lab = useLab(PREFIX);
  const { healthyMaster, expectNoneDemoted } = drillGroup(lab, INSTANCE);
  let backends: ChildProcess[] = [];
  let vip: string;

  beforeAll(async () => {
    vip = lab.info.vips[INSTANCE]!;
    backends = await startBackends(lab.nodes);
  });
  afterAll(() => {
    stopBackends(backends);
  });

  const keepalivedPid = async (node: LabNode) => (await nodeState(node)).keepalived.pid;

  it('refuses mode stop on a director without watchdog.start_command, and says so', async () => {
    // lb2 is the MASTER of VI_2: only the missing start command stands in the way.
    const { lb2 } = lab;
    let startCommand: unknown;
    await reconfigureDaemon(lb2, (doc) => {
      startCommand = doc.getIn(['watchdog', 'start_command']);
      doc.deleteIn(['watchdog', 'start_command']);
    });
    try {
      await drillGroup(lab, 'VI_2').healthyMaster(lb2);
      const { status, json } = await postDrill(lb2, { instances: ['VI_2'], mode: 'stop' });
      expect(status).toBe(409);
      expect(json.reasons).toEqual(['VI_2: mode stop needs watchdog.start_command (to start keepalived again afterwards)']);
      expect((await nodeState(lb2)).keepalived.up).toBe(true);
    } finally {
      await reconfigureDaemon(lb2, (doc) => doc.setIn(['watchdog', 'start_command'], startCommand));
    }
  });

  it('stops keepalived on the MASTER, measures the failover against 3 × advert_int + skew, and starts it again once', async () => {
    const master = await healthyMaster();
    const starts = keepalivedStarts(master);
    const pid = await keepalivedPid(master);
    const { status, json } = await postDrill(master, { instances: [INSTANCE], mode: 'stop', probe: `http://${vip}:${BACKEND_PORT}/` });
    expect(status).toBe(202);
    const report = await reportOf(master, json.id as string);
    expect(report).toMatchObject({ outcome: 'success', mode: 'stop', from: master.name, to: lab.nodes.find((n) => n !== master)!.name, unexpected: [] });
    // advert_int 1 s, the BACKUP at priority 80: 3 × 1000 + (256 − 80) / 256 × 1000 ms.
    expect(report.boundMs).toBe(3688);
    expect(report.failoverMs).toBeGreaterThan(0);
    expect(report.failoverMs).toBeLessThanOrEqual(report.boundMs);
    expect(report.failbackMs).toBeGreaterThan(0);
    expect(report.probe!.attempts).toBeGreaterThan(0);
    expect(report.probe!.failures).toBeLessThan(report.probe!.attempts);
    await healthyMaster(master);
    await expectNoneDemoted();
    expect(keepalivedStarts(master)).toBe(starts + 1);
    expect(await keepalivedPid(master)).not.toBe(pid);
    expect(await servedBy(lab.info, vip)).toBe(master.name);
  });

  it('starts keepalived again when the daemon is stopped (SIGTERM) in the middle, and not again at its next start', async () => {
    const master = await healthyMaster();
    const starts = keepalivedStarts(master);
    const { json } = await postDrill(master, { instances: [INSTANCE], mode: 'stop' });
    const id = json.id as string;
    await atStep(master, 'moving');
    await stopDaemon(master);
    expect(keepalivedStarts(master)).toBe(starts + 1);
    const entries = journal(master).filter((e) => e.id === id);
    expect(entries.map((e) => e.step)).toEqual(['start', 'restoring', 'end']);
    expect(entries.at(-1)).toMatchObject({ report: { outcome: 'aborted', reason: 'signal' } });
    await startDaemon(master);
    await healthyMaster(master);
    await expectNoneDemoted();
    expect(keepalivedStarts(master)).toBe(starts + 1);
    expect(journal(master).filter((e) => e.id === id)).toHaveLength(3);
  });

  it('starts keepalived again once when the daemon is killed in the middle and started again', async () => {
    // Killed once keepalived is gone: the crash leaves it stopped, for the next start to find. The
    // window lasts from keepalived's exit to the drill's restore, which keepalived's priority-0
    // advert on its way out can make shorter than a poll and a kill: a kill that came too late
    // (keepalived started again already) is another run of the drill, three at most.
    const master = await healthyMaster();
    let starts = keepalivedStarts(master);
    let id: string | undefined;
    for (let attempt = 1; id === undefined; attempt++) {
      const pid = await keepalivedPid(master);
      const { json } = await postDrill(master, { instances: [INSTANCE], mode: 'stop' });
      await atStep(master, 'moving');
      await waitFor(async () => !(await isRunning(pid!)), `keepalived (pid ${pid}) stopped by the drill`, 10_000);
      await stopDaemon(master, { signal: 'SIGKILL' });
      if (keepalivedStarts(master) === starts) id = json.id as string;
      else {
        expect(attempt, 'the drill restored keepalived before every kill landed').toBeLessThan(3);
        await startDaemon(master);
        await healthyMaster(master);
        starts = keepalivedStarts(master);
      }
    }
    await startDaemon(master);
    const report = await reportOf(master, id);
    expect(report).toMatchObject({ outcome: 'aborted', reason: 'restart', mode: 'stop' });
    await healthyMaster(master);
    await expectNoneDemoted();
    expect(keepalivedStarts(master)).toBe(starts + 1);
    const entries = journal(master).filter((e) => e.id === id);
    expect(entries.filter((e) => e.step === 'end')).toHaveLength(1);
    // Another restart finds the drill ended: keepalived is not started twice, nothing more is journaled.
    await stopDaemon(master);
    await startDaemon(master);
    await healthyMaster(master);
    expect(keepalivedStarts(master)).toBe(starts + 1);
    expect(journal(master).filter((e) => e.id === id)).toEqual(entries);
  });
});
