import { type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { DrillReport } from '../../src/drill/journal.js';
import { reportLine } from '../../src/drill/report.js';
import { startDaemon, stopDaemon } from '../../src/lab/directors.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import type { LabNode } from '../../src/lab/state.js';
import { readRecordedMail, type RecordedMail } from '../mail/support.js';
import { nodeState, useLab } from '../support/lab.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { BACKEND_PORT, atStep, drillGroup, journal, keepalivedStarts, postDrill, reportOf, servedBy, startBackends, stopBackends, trackFile } from './support.js';

/**
 * Drills in a group of three real keepalived directors (VI_1: lb1 100, lb2 90, lb3 80; VI_2 on lb2, VI_3 on lb3), in both modes,
 * the peers on a bridged secondary link, the report mailed to the lab's SMTP recorder.
 */
const PREFIX = 'kwd3drill';
const INSTANCE = 'VI_1';
const MAIL_TIMEOUT_MS = 30_000;

describeWithPrereqs('failover drills in a group of three directors (lab)', { root: true, commands: ['keepalived', 'nft', 'ip', 'pkill'] }, () => {
  const lab = useLab(PREFIX, 'alert', { directors: 3 });
  const { healthyMaster, expectNoneDemoted } = drillGroup(lab, INSTANCE);
  let backends: ChildProcess[] = [];
  let vip: string;
  let lb1: LabNode;
  let lb2: LabNode;
  let lb3: LabNode;

  beforeAll(async () => {
    [lb1, lb2, lb3] = lab.nodes as [LabNode, LabNode, LabNode];
    vip = lab.info.vips[INSTANCE]!;
    backends = await startBackends(lab.nodes);
  });
  afterAll(() => {
    stopBackends(backends);
  });
  afterEach(async () => {
    await labHeal({ prefix: PREFIX }).catch(() => {});
  });

  const mailSince = async (since: number): Promise<RecordedMail[]> => (await readRecordedMail(lab.info.mail)).filter((m) => Date.parse(m.envelope.receivedAt) >= since);
  const from = (node: LabNode) => `kawatch@${node.name}.${PREFIX}.test`;
  /** Every director's outbox empty: whatever any of them queued has reached the recorder. */
  const outboxesEmpty = () => waitFor(async () => (await Promise.all(lab.nodes.map(async (n) => valueOf(await scrape(n.api), 'kawatch_mail_outbox_messages')))).every((v) => v === 0) || undefined, 'every outbox empty', MAIL_TIMEOUT_MS);

  it('moves VI_1 to lb2 and back with a probe through the VIP, mails the report once, and shows it on the status page', async () => {
    const master = await healthyMaster(lb1);
    expect(await servedBy(lab.info, vip)).toBe('lb1');
    const since = Date.now();
    const { status, json } = await postDrill(master, { instances: [INSTANCE], probe: `http://${vip}:${BACKEND_PORT}/` });
    expect(status).toBe(202);
    const report: DrillReport = await reportOf(master, json.id as string);
    // lb2 comes before lb3 in VRRP's election: nobody else became MASTER, no VIP on two directors.
    expect(report).toMatchObject({ outcome: 'success', from: 'lb1', to: 'lb2', mode: 'track', boundMs: 1000, stayed: false, unexpected: [] });
    expect(report.failoverMs).toBeGreaterThan(0);
    expect(report.failbackMs).toBeGreaterThan(0);
    expect(report.probe!.attempts).toBeGreaterThan(0);
    expect(report.probe!.failures).toBeLessThan(report.probe!.attempts);
    await healthyMaster(lb1);
    await expectNoneDemoted();
    expect(await servedBy(lab.info, vip)).toBe('lb1');

    // One mail for the drill, from the director that ran it; the others, whose outboxes are empty too, sent none.
    const mail = await waitFor(async () => (await mailSince(since)).find((m) => m.subject.includes('drill of VI_1')), 'the drill report mail', MAIL_TIMEOUT_MS);
    await outboxesEmpty();
    expect((await mailSince(since)).filter((m) => /drill/i.test(m.subject)).map((m) => m.envelope.mailFrom)).toEqual([from(lb1)]);
    expect(mail.subject).toBe(`[kawatch] lb1: ${reportLine(report)}`);
    expect(mail.text).toContain(`Failover drill ${report.id} of VI_1 on lb1, mode track file (the MASTER steps down).`);
    expect(mail.text).toContain('  from lb1 to lb2\n');
    expect(mail.text).toContain("  keepalived's bound for this move: 1.000 s\n");
    expect(mail.text).toMatch(new RegExp(`  probe http://${vip.replaceAll('.', '\\.')}:${BACKEND_PORT}/: \\d+ of \\d+ tries failed`));

    // The status page of the director that drilled shows it.
    const page = await (await fetch(`${lb1.api}/`)).text();
    const section = page.slice(page.indexOf('Last failover drill'));
    expect(section).toContain(reportLine(report));
    expect(section).toContain('lb1 → lb2');
  });

  it('stops keepalived on lb1 (mode stop): VI_1 goes to lb2, first in the election, never to lb3, and comes back', async () => {
    await healthyMaster(lb1);
    const starts = keepalivedStarts(lb1);
    const { status, json } = await postDrill(lb1, { instances: [INSTANCE], mode: 'stop', probe: `http://${vip}:${BACKEND_PORT}/` });
    expect(status).toBe(202);
    const report = await reportOf(lb1, json.id as string);
    // 3 × advert_int + (256 − 90) / 256 × advert_int for lb2; lb3 would have been MASTER had it won the race.
    expect(report).toMatchObject({ outcome: 'success', mode: 'stop', to: 'lb2', boundMs: 3648, unexpected: [] });
    expect(report.failoverMs).toBeLessThanOrEqual(report.boundMs);
    await healthyMaster(lb1);
    await expectNoneDemoted();
    expect(keepalivedStarts(lb1)).toBe(starts + 1);
    expect(await servedBy(lab.info, vip)).toBe('lb1');
  });

  it('refuses a drill of VI_1 while a split brain stands elsewhere in the group', async () => {
    await healthyMaster(lb1);
    // lb2 and lb3 deaf to each other's VRRP: VI_2 and VI_3 get two MASTERs each, VI_1 stays on lb1, heard by both.
    await labSplit({ prefix: PREFIX, node: 'lb2', peer: 'lb3', link: 'primary' });
    await waitFor(async () => (await nodeState(lb1)).verdicts.some((v) => v.kind === 'split-brain'), 'a split brain seen by lb1', 30_000);
    const { status, json } = await postDrill(lb1, { instances: [INSTANCE] });
    expect(status).toBe(409);
    expect((json.reasons as string[]).some((r) => /^VI_1: a verdict stands: .*split brain/i.test(r)), (json.reasons as string[]).join('\n')).toBe(true);
    expect(trackFile(lb1, INSTANCE)).toBe('0\n');
    await labHeal({ prefix: PREFIX });
    await healthyMaster(lb1);
    await expectNoneDemoted();
  });

  it('aborts when the group splits in the middle, restores VI_1 on lb1, and leaves no director demoted', async () => {
    await healthyMaster(lb1);
    const { status, json } = await postDrill(lb1, { instances: [INSTANCE] });
    expect(status).toBe(202);
    await atStep(lb1, 'moving');
    // lb2, the new MASTER, drops VRRP: lb3 stops hearing it and takes VI_1 too.
    await labSplit({ prefix: PREFIX, node: 'lb2', link: 'primary' });
    const report = await reportOf(lb1, json.id as string);
    expect(report).toMatchObject({ outcome: 'aborted', reason: 'verdict' });
    expect(journal(lb1).filter((e) => e.id === report.id).map((e) => e.step)).toContain('restoring');
    expect(trackFile(lb1, INSTANCE)).toBe('0\n');
    await labHeal({ prefix: PREFIX });
    await healthyMaster(lb1);
    await expectNoneDemoted();
  });

  it('restores once when the daemon is killed in the middle and started again', async () => {
    await healthyMaster(lb1);
    const { json } = await postDrill(lb1, { instances: [INSTANCE] });
    const id = json.id as string;
    await atStep(lb1, 'moving');
    await stopDaemon(lb1, { signal: 'SIGKILL' });
    await startDaemon(lb1);
    expect(await reportOf(lb1, id)).toMatchObject({ outcome: 'aborted', reason: 'restart' });
    await healthyMaster(lb1);
    await expectNoneDemoted();
    const entries = journal(lb1).filter((e) => e.id === id);
    expect(entries.filter((e) => e.step === 'end')).toHaveLength(1);
    await stopDaemon(lb1);
    await startDaemon(lb1);
    await healthyMaster(lb1);
    expect(journal(lb1).filter((e) => e.id === id)).toEqual(entries);
  });

  it('runs one drill at a time in the group: a director asked while another drills refuses, and two asked at once agree on one', async () => {
    await healthyMaster(lb1);
    const first = await postDrill(lb1, { instances: [INSTANCE] });
    expect(first.status).toBe(202);
    await atStep(lb1, 'moving');
    const during = await postDrill(lb3, { instances: ['VI_3'] });
    expect(during.status).toBe(409);
    expect(during.json.reasons).toContain('VI_3: lb1 is drilling VI_1: one drill at a time in a group');
    expect(await reportOf(lb1, first.json.id as string)).toMatchObject({ outcome: 'success' });
    expect(trackFile(lb3, 'VI_3')).toBe('0\n');
    await healthyMaster(lb1);

    // lb2 and lb3 asked in the same instant: each announces its drill, and both order the two marks alike.
    await drillGroup(lab, 'VI_3').healthyMaster(lb3);
    const asked = await Promise.all([postDrill(lb2, { instances: ['VI_2'] }), postDrill(lb3, { instances: ['VI_3'] })]);
    const outcomes = await Promise.all(
      asked.map(async ({ status, json }, i) => {
        const node = [lb2, lb3][i]!;
        if (status === 409) return { node: node.name, outcome: 'refused', why: (json.reasons as string[]).join('\n') };
        const r = await reportOf(node, json.id as string);
        return { node: node.name, outcome: r.outcome, why: r.detail.join('\n') };
      }),
    );
    const ran = outcomes.filter((o) => o.outcome === 'success');
    const refused = outcomes.filter((o) => o.outcome === 'refused');
    expect(ran, JSON.stringify(outcomes)).toHaveLength(1);
    expect(refused, JSON.stringify(outcomes)).toHaveLength(1);
    expect(refused[0]!.why).toMatch(new RegExp(`${ran[0]!.node} is drilling VI_[23]`));
    await drillGroup(lab, 'VI_2').healthyMaster(lb2);
    await drillGroup(lab, 'VI_3').healthyMaster(lb3);
    for (const node of lab.nodes) for (const instance of ['VI_2', 'VI_3']) expect(trackFile(node, instance)).toBe('0\n');
  });
});
