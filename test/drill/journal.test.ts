import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Drills } from '../../src/drill/drills.js';
import { mergeSummary, replay, summarize, type DrillEntry, type DrillReport } from '../../src/drill/journal.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';

const T0 = 1_700_000_000_000;

function report(id: string, instance: string, outcome: DrillReport['outcome'], at: number, extra: Partial<DrillReport> = {}): DrillReport {
  return { id, node: 'lb1', instance, from: 'lb1', to: 'lb2', mode: 'track', startedAt: at, endedAt: at + 5000, outcome, detail: [], boundMs: 1000, stayed: false, unexpected: [], ...extra };
}

/** Every step one drill journals, in order: start, perhaps moved, perhaps restoring, end. */
function drillSteps(id: string, instance: string, at: number, moved: boolean, restored: boolean, outcome: DrillReport['outcome']): DrillEntry[] {
  return [
    { step: 'start', id, at, instance, from: 'lb1', to: 'lb2', mode: 'track', stay: false, vips: ['198.18.0.50'] },
    ...(moved ? [{ step: 'moved' as const, id, at: at + 1000, failoverMs: 1000 }] : []),
    ...(restored ? [{ step: 'restoring' as const, id, at: at + 2000, why: 'the drill is done' }] : []),
    { step: 'end', id, at: at + 3000, report: report(id, instance, outcome, at) },
  ];
}

/** A journal of drills one after the other, as the daemon writes it. */
const journal = fc
  .array(fc.record({ instance: fc.constantFrom('VI_1', 'VI_2', 'VI_3'), moved: fc.boolean(), restored: fc.boolean(), outcome: fc.constantFrom('success', 'aborted') as fc.Arbitrary<DrillReport['outcome']> }), { minLength: 1, maxLength: 6 })
  .map((drills) => drills.flatMap((d, i) => drillSteps(`d${i}`, d.instance, T0 + i * 10_000, d.moved, d.restored, d.outcome)));

describe('replay', () => {
  it('any prefix of the journal replays to a restore of the drill it cut, never to a repeat', () => {
    fc.assert(
      fc.property(journal, fc.nat(), (entries, cut) => {
        const prefix = entries.slice(0, cut % (entries.length + 1));
        const { restore, reports } = replay(prefix);
        const started = prefix.filter((e) => e.step === 'start').map((e) => e.id);
        const ended = prefix.filter((e) => e.step === 'end').map((e) => e.id);
        // Exactly the drill the cut fell in is restored (drills run one at a time), each ended one is a report.
        expect(restore.map((s) => s.id)).toEqual(started.filter((id) => !ended.includes(id)));
        expect(restore.length).toBeLessThanOrEqual(1);
        expect(reports.map((r) => r.id)).toEqual(ended);
        // Once its end is journaled after the restore, replaying again restores nothing: restored once.
        const afterRestore = [...prefix, ...restore.map((s): DrillEntry => ({ step: 'end', id: s.id, at: s.at + 1, report: report(s.id, s.instance, 'aborted', s.at, { reason: 'restart' }) }))];
        expect(replay(afterRestore).restore).toEqual([]);
      }),
    );
  });

  it('ignores steps whose start is not in the journal', () => {
    expect(replay([{ step: 'moved', id: 'x', at: T0, failoverMs: 1 }, { step: 'restoring', id: 'x', at: T0, why: '' }])).toEqual({ restore: [], reports: [] });
  });
});

describe('summarize', () => {
  it('keeps the last success and its failover, and counts failures and refusals by reason', () => {
    const reports = [
      report('a', 'VI_1', 'success', T0, { failoverMs: 1200 }),
      report('b', 'VI_1', 'aborted', T0 + 1, { reason: 'verdict' }),
      report('c', 'VI_1', 'refused', T0 + 2, { reason: 'unhealthy' }),
      report('d', 'VI_1', 'aborted', T0 + 3, { reason: 'verdict' }),
    ];
    const s = summarize(reports);
    expect(s).toEqual({ lastSuccessAt: T0 + 5000, lastFailoverMs: 1200, failures: { verdict: 2, unhealthy: 1 }, last: reports[3] });
    // Added up in two halves, the same figures: the daemon adds reports as they come.
    expect(mergeSummary(summarize(reports.slice(0, 2)), summarize(reports.slice(2)))).toEqual(s);
  });
});

describe('Drills at start', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-drill-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function drills(fenced: string[] = [], keepalived?: { up: boolean; startCommand: string[] }): Drills {
    return new Drills(
      { node: 'lb1', members: ['lb2'], journalFile: join(dir, 'drills.jsonl'), trackDir: dir, stopCommand: ['false'], startCommand: keepalived?.startCommand, timeoutMs: 1000, probeIntervalMs: 100, probes: {}, exchangeMs: 100, diagnose: { unreachableAfterMs: 3500, confirmAfterMs: 150 } },
      { store: new StateStore('lb1', silentLog), verdicts: () => [], fenced: () => fenced, keepalivedUp: keepalived && (async () => keepalived.up), log: silentLog },
    );
  }

  /** An unfinished drill with mode stop, and a start_command that leaves a mark each time it runs. */
  function unfinishedStopDrill(): { startCommand: string[]; starts: () => number } {
    const start: DrillEntry = { step: 'start', id: 's0', at: Date.now() - 5000, instance: 'VI_1', from: 'lb1', to: 'lb2', mode: 'stop', stay: false, vips: ['198.18.0.50'] };
    writeFileSync(join(dir, 'drills.jsonl'), `${JSON.stringify(start)}\n`);
    const marks = join(dir, 'starts');
    writeFileSync(marks, '');
    return { startCommand: ['sh', '-c', `echo started >> ${marks}`], starts: () => readFileSync(marks, 'utf8').split('\n').filter(Boolean).length };
  }

  it('starts keepalived again for a drill with mode stop a crash left with keepalived stopped, once', async () => {
    const { startCommand, starts } = unfinishedStopDrill();
    const first = drills([], { up: false, startCommand });
    await first.start();
    expect(starts()).toBe(1);
    expect(first.status.reports).toMatchObject([{ id: 's0', mode: 'stop', outcome: 'aborted', reason: 'restart', unexpected: [] }]);
    await first.stop();
    const second = drills([], { up: false, startCommand });
    await second.start();
    expect(starts()).toBe(1);
    await second.stop();
  });

  it('does not start keepalived again when it runs already (started before the crash, or never stopped)', async () => {
    const { startCommand, starts } = unfinishedStopDrill();
    const d = drills([], { up: true, startCommand });
    await d.start();
    expect(starts()).toBe(0);
    expect(d.status.reports).toMatchObject([{ id: 's0', outcome: 'aborted', reason: 'restart', unexpected: ['keepalived runs on lb1: not started again'] }]);
    await d.stop();
  });

  it('restores a drill a crash left unfinished, once: the next start finds its end', async () => {
    const entries = drillSteps('d0', 'VI_1', Date.now() - 5000, true, false, 'success').slice(0, 2);
    writeFileSync(join(dir, 'drills.jsonl'), entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    writeFileSync(join(dir, 'VI_1'), '1\n');
    const first = drills();
    await first.start();
    expect(readFileSync(join(dir, 'VI_1'), 'utf8')).toBe('0\n');
    expect(first.status.reports).toMatchObject([{ id: 'd0', outcome: 'aborted', reason: 'restart' }]);
    expect(first.summary.failures).toEqual({ restart: 1 });
    await first.stop();

    // Planted back to 1: a second start must not touch it, the drill is over.
    writeFileSync(join(dir, 'VI_1'), '1\n');
    const second = drills();
    await second.start();
    expect(readFileSync(join(dir, 'VI_1'), 'utf8')).toBe('1\n');
    expect(second.status.reports.map((r) => r.id)).toEqual(['d0']);
    await second.stop();
  });

  it('leaves an instance the watchdog holds demoted to the watchdog', async () => {
    const entries = drillSteps('d0', 'VI_1', Date.now() - 5000, false, false, 'success').slice(0, 1);
    writeFileSync(join(dir, 'drills.jsonl'), `${JSON.stringify(entries[0])}\n`);
    writeFileSync(join(dir, 'VI_1'), '1\n');
    const d = drills(['VI_1']);
    await d.start();
    expect(readFileSync(join(dir, 'VI_1'), 'utf8')).toBe('1\n');
    expect(d.status.reports[0]?.unexpected).toEqual(['the watchdog holds VI_1 demoted: left to its restore']);
    await d.stop();
  });

  it('mails a refusal of the scheduled drill, not one the caller was answered', async () => {
    const mailed: string[] = [];
    const d = new Drills(
      { node: 'lb1', members: ['lb2'], journalFile: join(dir, 'drills.jsonl'), trackDir: dir, stopCommand: ['false'], timeoutMs: 1000, probeIntervalMs: 100, probes: {}, exchangeMs: 100, diagnose: { unreachableAfterMs: 3500, confirmAfterMs: 150 } },
      { store: new StateStore('lb1', silentLog), verdicts: () => [], fenced: () => [], report: async (subject) => void mailed.push(subject), log: silentLog },
    );
    await d.start();
    expect(d.request({ instances: ['VI_1'], mode: 'track', stay: false, dryRun: false }).status).toBe('refused');
    await expect.poll(() => d.summary.failures).toEqual({ unhealthy: 1 });
    expect(mailed).toEqual([]);
    expect(d.request({ instances: ['VI_1'], mode: 'track', stay: false, dryRun: false, scheduled: true }).status).toBe('refused');
    await expect.poll(() => mailed).toEqual([expect.stringMatching(/^drill of VI_1 refused: /)]);
    await d.stop();
  });

  it('refuses a drill on a group it cannot see, and keeps the refusal', async () => {
    const d = drills();
    await d.start();
    const answer = d.request({ instances: ['VI_1'], mode: 'track', stay: false, dryRun: false });
    expect(answer.status).toBe('refused');
    await expect.poll(() => d.summary.failures).toEqual({ unhealthy: 1 });
    expect(readFileSync(join(dir, 'drills.jsonl'), 'utf8')).toMatch(/"outcome":"refused"/);
    await d.stop();
  });
});
