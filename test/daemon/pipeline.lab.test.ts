import { execFile } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { nodePaths, VRRP_AUTH_PASS } from '../../src/lab/plan.js';
import { type LabNode } from '../../src/lab/state.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { nodeExec, startDaemon, startKeepalived, stopDaemon, stopKeepalived } from '../../src/lab/directors.js';
import { nodeState, useLab } from '../support/lab.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const PREFIX = 'kwtpipe';
const launcher = new URL('../../bin/kawatch', import.meta.url).pathname;
const run = promisify(execFile);

const state = nodeState;

/** Waits until the node's daemon reports the instance in the given state. */
async function untilState(node: LabNode, instance: string, want: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await state(node)).instances[instance]?.state === want, `${node.name} ${instance} ${want}`, timeoutMs);
}

async function metric(node: LabNode, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return valueOf(await scrape(node.api), name, labels);
}

describeWithPrereqs('daemon against real keepalived (lab)', { root: true, commands: ['keepalived', 'nft', 'ip', 'promtool'] }, () => {
  const lab = useLab(PREFIX);
  let lb1: LabNode;
  let lb2: LabNode;
  beforeAll(() => {
    ({ lb1, lb2 } = lab);
  });

  it('starts with one MASTER per instance, as configured, and every source up', async () => {
    await untilState(lb1, 'VI_1', 'MASTER');
    await untilState(lb2, 'VI_2', 'MASTER');
    await untilState(lb1, 'VI_2', 'BACKUP');
    await untilState(lb2, 'VI_1', 'BACKUP');
    const m1 = await scrape(lb1.api);
    expect(valueOf(m1, 'keepalived_up')).toBe(1);
    expect(valueOf(m1, 'keepalived_vrrp_state', { iname: 'VI_1', ip_address: lab.info.vips.VI_1! })).toBe(2);
    expect(valueOf(m1, 'keepalived_vrrp_state', { iname: 'VI_2', ip_address: lab.info.vips.VI_2! })).toBe(1);
    await waitFor(async () => (await metric(lb1, 'keepalived_vip_present', { iname: 'VI_1' })) === 1, 'VI_1 VIP on lb1');
    expect(await metric(lb1, 'keepalived_vip_present', { iname: 'VI_2' })).toBe(0);
    expect(await metric(lb1, 'keepalived_vip_mismatch', { iname: 'VI_1' })).toBe(0);
    for (const source of ['hook', 'fifo', 'netlink', 'dump', 'process']) {
      expect(valueOf(m1, 'kawatch_source_up', { source }), source).toBe(1);
    }
    expect(valueOf(m1, 'keepalived_vrrp_base_priority', { iname: 'VI_1' })).toBe(100);
    expect(valueOf(m1, 'keepalived_advertisements_sent_total', { iname: 'VI_1' })).toBeGreaterThan(0);
  });

  it('serves live output that promtool accepts, without the VRRP password anywhere', async () => {
    for (const node of [lb1, lb2]) {
      const text = await (await fetch(`${node.api}/metrics`)).text();
      const check = run('promtool', ['check', 'metrics']);
      check.child.stdin!.end(text);
      const { stdout, stderr } = await check;
      expect(stdout + stderr).toBe('');
      const api = await (await fetch(`${node.api}/api/v1/state`)).text();
      expect(text).not.toContain(VRRP_AUTH_PASS);
      expect(api).not.toContain(VRRP_AUTH_PASS);
    }
  });

  it('follows a failover when keepalived stops on a MASTER, and the failback', async () => {
    const before = (await metric(lb2, 'keepalived_vrrp_transitions_total', { iname: 'VI_1', from: 'BACKUP', to: 'MASTER' })) ?? 0;
    await stopKeepalived(lb1);
    await untilState(lb2, 'VI_1', 'MASTER');
    await waitFor(async () => (await metric(lb1, 'keepalived_up')) === 0, 'lb1 keepalived_up 0');
    await untilState(lb1, 'VI_1', 'STOP');
    const m1 = await scrape(lb1.api);
    expect(valueOf(m1, 'keepalived_vrrp_instance_state', { iname: 'VI_1' })).toBe(4);
    expect(valueOf(m1, 'keepalived_vrrp_state', { iname: 'VI_1' })).toBeUndefined();
    await waitFor(async () => (await metric(lb2, 'keepalived_vip_present', { iname: 'VI_1' })) === 1, 'VI_1 VIP moved to lb2');
    expect(await metric(lb2, 'keepalived_vrrp_transitions_total', { iname: 'VI_1', from: 'BACKUP', to: 'MASTER' })).toBe(before + 1);

    await startKeepalived(lb1);
    await untilState(lb1, 'VI_1', 'MASTER');
    await untilState(lb2, 'VI_1', 'BACKUP');
    await waitFor(async () => (await metric(lb1, 'keepalived_up')) === 1, 'lb1 keepalived_up 1');
    await waitFor(async () => (await metric(lb2, 'keepalived_vip_present', { iname: 'VI_1' })) === 0, 'VI_1 VIP left lb2');
  });

  it('shows both directors MASTER during a split, and one each after the heal', async () => {
    await labSplit({ prefix: PREFIX });
    await untilState(lb2, 'VI_1', 'MASTER');
    await untilState(lb1, 'VI_2', 'MASTER');
    expect((await state(lb1)).instances.VI_1!.state).toBe('MASTER');
    expect((await state(lb2)).instances.VI_2!.state).toBe('MASTER');
    expect(await metric(lb2, 'keepalived_vrrp_state', { iname: 'VI_1', ip_address: lab.info.vips.VI_1! })).toBe(2);

    await labHeal({ prefix: PREFIX });
    await untilState(lb2, 'VI_1', 'BACKUP');
    await untilState(lb1, 'VI_2', 'BACKUP');
    expect((await state(lb1)).instances.VI_1!.state).toBe('MASTER');
    expect((await state(lb2)).instances.VI_2!.state).toBe('MASTER');
  });

  it('replays the events raised while the daemon was down, exactly once', async () => {
    const spool = nodePaths(lb2.dir).spool;
    await stopDaemon(lb2);
    const downSince = Date.now();
    await stopKeepalived(lb1); // lb2's keepalived takes VI_1 over and runs the hook: it spools
    await waitFor(() => readdirSync(spool).some((n) => n.endsWith('.event')), 'a spooled hook event on lb2');
    await startDaemon(lb2);
    await untilState(lb2, 'VI_1', 'MASTER');
    const m2 = await scrape(lb2.api);
    // The daemon started with an empty view: the replayed event is its first sight of VI_1 as MASTER.
    // The FIFO buffered the same transition while the daemon was down; it must not count twice.
    const toMaster = m2.filter((s) => s.name === 'keepalived_vrrp_transitions_total' && s.labels.iname === 'VI_1' && s.labels.to === 'MASTER');
    expect(toMaster.reduce((sum, s) => sum + s.value, 0)).toBe(1);
    const since = valueOf(m2, 'keepalived_vrrp_last_transition_timestamp_seconds', { iname: 'VI_1' })!;
    expect(since * 1000).toBeGreaterThanOrEqual(downSince - 1000);
    expect(readdirSync(spool).filter((n) => n.endsWith('.event'))).toEqual([]);
    expect(valueOf(m2, 'kawatch_source_rejected_total', { source: 'hook' })).toBe(0);

    await startKeepalived(lb1);
    await untilState(lb2, 'VI_1', 'BACKUP');
  });

  it('picks up a FIFO that was recreated while keepalived was down', async () => {
    const fifo = nodePaths(lb2.dir).notifyFifo;
    await stopKeepalived(lb2);
    await untilState(lb1, 'VI_2', 'MASTER');
    const before = (await state(lb2)).sources.fifo.events;
    await rm(fifo);
    await run('mkfifo', ['-m', '0600', fifo]);
    await startKeepalived(lb2); // opens the new FIFO and reports its instances' states through it
    await untilState(lb2, 'VI_2', 'MASTER');
    await waitFor(async () => (await state(lb2)).sources.fifo.events > before, 'FIFO lines read from the new FIFO');
    expect((await state(lb2)).sources.fifo.up).toBe(true);
  });

  it('rejects malformed notify arguments and FIFO lines with a clear error, losing nothing else', async () => {
    const paths = nodePaths(lb1.dir);
    // The hook spools whatever keepalived passes; `--check` shows an operator the daemon's verdict.
    const bad = await nodeExec(lb1, [launcher, 'notify', '--spool', paths.spool, 'INSTANCE', 'VI_1', 'TAKEOVER', '100']);
    expect(bad.exitCode).toBe(0);
    const check = await nodeExec(lb1, [launcher, 'notify', '--check', 'INSTANCE', 'VI_1', 'TAKEOVER', '100']);
    expect(check.exitCode).toBe(2);
    expect(check.stderr).toContain('unknown state "TAKEOVER"');
    writeFileSync(paths.notifyFifo, 'INSTANCE "VI_1" MASTER\u0000 100\nnot a keepalived line\n');
    await waitFor(async () => (await metric(lb1, 'kawatch_source_rejected_total', { source: 'fifo' })) === 2, 'two FIFO lines rejected');
    await waitFor(async () => (await metric(lb1, 'kawatch_source_rejected_total', { source: 'hook' })) === 1, 'one hook call rejected');
    expect(readdirSync(join(paths.spool, 'rejected'))).toHaveLength(1);
    const s = await state(lb1);
    expect(s.sources.hook.lastRejected).toContain('TAKEOVER');
    expect(s.instances.VI_1!.state).toBe('MASTER');
    expect(s.sources.fifo.up && s.sources.hook.up).toBe(true);

    // And the pipeline still follows keepalived afterwards.
    await labSplit({ prefix: PREFIX });
    await untilState(lb1, 'VI_2', 'MASTER');
    await labHeal({ prefix: PREFIX });
    await untilState(lb1, 'VI_2', 'BACKUP');
  });
});
