import { describe, expect, it } from 'vitest';
import type { PeerView } from '../../src/model/peer.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';
import type { JournalEntry } from '../../src/watchdog/journal.js';
import { electionOrder } from '../../src/watchdog/election.js';
import { decide, type Decision, type PolicyConfig, type PolicyInput } from '../../src/watchdog/policy.js';

const NOW = 1_800_000_000_000;
const CONFIG: PolicyConfig = { mode: 'demote', dryRun: false, holdDownMs: 2000, cooldownMs: 10_000, maxActionsPerHour: 6, restoreAfterMs: 30_000, maxRestoreAfterMs: 900_000 };

function view(node: string, state: 'MASTER' | 'BACKUP' | 'FAULT', priority: number, primaryAddress: string): PeerView {
  return { v: 1, node, keepalivedUp: true, instances: [{ name: 'VI_1', vrid: 51, state, effectivePriority: priority, primaryAddress, vips: [] }] };
}

const split: Verdict = { kind: 'split-brain', iname: 'VI_1', vrid: 51, masters: ['lb1', 'lb2'], since: NOW - 5000, causes: [] };
const both = [view('lb1', 'MASTER', 100, '198.18.0.1'), view('lb2', 'MASTER', 80, '198.18.0.2')];

function input(node: string, over: Partial<PolicyInput> = {}): PolicyInput {
  const views = node === 'lb1' ? both : [both[1]!, both[0]!];
  return { node, now: NOW, verdicts: [split], views, journal: [], config: CONFIG, ...over };
}

const actions = (i: PolicyInput) => decide(i).filter((d) => d.kind !== 'wait');

describe('decide', () => {
  it('makes exactly one side act: the loser by priority demotes its own instance', () => {
    expect(actions(input('lb1'))).toEqual([]);
    expect(actions(input('lb2'))).toEqual([{ kind: 'demote', iname: 'VI_1', vrid: 51, winner: 'lb1', reason: expect.stringContaining('lb1'), restoreAfterMs: 30_000 }]);
  });

  it('breaks a priority tie by the higher primary address (RFC 5798), and refuses to guess without one', () => {
    const tie = [view('lb1', 'MASTER', 100, '198.18.0.1'), view('lb2', 'MASTER', 100, '198.18.0.2')];
    expect(electionOrder(tie.map((v) => ({ node: v.node, instance: v.instances[0]! })))?.map((c) => c.node)).toEqual(['lb2', 'lb1']);
    expect(actions(input('lb1', { views: tie }))).toEqual([expect.objectContaining({ kind: 'demote', winner: 'lb2' })]);
    expect(actions(input('lb2', { views: tie }))).toEqual([]);
    const v6 = [view('lb1', 'MASTER', 100, 'fd00::a'), view('lb2', 'MASTER', 100, 'fd00::9')];
    expect(actions(input('lb2', { views: v6 }))).toEqual([expect.objectContaining({ kind: 'demote', winner: 'lb1' })]);
    const unknown = [{ ...tie[0]!, instances: [{ ...tie[0]!.instances[0]!, primaryAddress: undefined }] }, tie[1]!];
    expect(actions(input('lb1', { views: unknown }))).toEqual([]);
    expect(decide(input('lb1', { views: unknown }))).toEqual([expect.objectContaining({ kind: 'wait', why: expect.stringContaining('nobody acts') })]);
  });

  it('waits for the hold-down, and says until when', () => {
    const fresh = { ...split, since: NOW - 500 };
    expect(decide(input('lb2', { verdicts: [fresh] }))).toEqual([{ kind: 'wait', iname: 'VI_1', why: 'hold-down', until: NOW + 1500 }]);
  });

  it('only alerts under policy alert, and stops keepalived under policy stop', () => {
    expect(decide(input('lb2', { config: { ...CONFIG, mode: 'alert' } }))).toEqual([]);
    expect(actions(input('lb2', { config: { ...CONFIG, mode: 'stop' } }))).toEqual([expect.objectContaining({ kind: 'stop', iname: 'VI_1', winner: 'lb1' })]);
  });

  it('never repeats a demotion it journaled, e.g. after a restart', () => {
    const journal: JournalEntry[] = [{ at: NOW - 1000, action: 'demote', iname: 'VI_1', winner: 'lb1', reason: 'x', dryRun: false, restoreAfterMs: 30_000 }];
    expect(actions(input('lb2', { journal }))).toEqual([]);
  });

  it('restores after the wait while the winner holds, and at once when the winner is gone', () => {
    const demoted: JournalEntry = { at: NOW - 1000, action: 'demote', iname: 'VI_1', winner: 'lb1', reason: 'x', dryRun: false, restoreAfterMs: 30_000 };
    const healed = [view('lb2', 'FAULT', 80, '198.18.0.2'), view('lb1', 'MASTER', 100, '198.18.0.1')];
    expect(decide(input('lb2', { verdicts: [], views: healed, journal: [demoted] }))).toEqual([{ kind: 'wait', iname: 'VI_1', why: 'demoted', until: NOW + 29_000 }]);
    expect(actions(input('lb2', { verdicts: [], views: healed, journal: [demoted], now: NOW + 29_500 }))).toEqual([expect.objectContaining({ kind: 'restore', iname: 'VI_1' })]);
    const winnerGone = [view('lb2', 'FAULT', 80, '198.18.0.2')];
    expect(actions(input('lb2', { verdicts: [], views: winnerGone, journal: [demoted] }))).toEqual([expect.objectContaining({ kind: 'restore', reason: expect.stringContaining('no longer heard as MASTER') })]);
    // Just restarted, lb1 not heard yet but still within its time to answer: not gone, nothing restored.
    expect(decide(input('lb2', { verdicts: [], views: winnerGone, journal: [demoted], awaiting: ['lb1'] }))).toEqual([{ kind: 'wait', iname: 'VI_1', why: 'lb1 not heard yet since start' }]);
  });

  it('gives keepalived an advert interval to leave MASTER after a demotion before doubting the track file', () => {
    const demotedAt = (at: number, dryRun = false): JournalEntry[] => [{ at, action: 'demote', iname: 'VI_1', winner: 'lb1', reason: 'x', dryRun, restoreAfterMs: 30_000 }];
    // What the policy says about the split it still sees (besides when the demotion is due for a restore).
    const aboutSplit = (d: Decision) => d.kind === 'wait' && d.why !== 'demoted';
    const stillMaster = (now: number, journal: JournalEntry[]) => decide(input('lb2', { now, journal })).filter(aboutSplit);
    // lb2's view has no advert interval: keepalived's default, one second.
    expect(stillMaster(NOW, demotedAt(NOW - 200))).toEqual([{ kind: 'wait', iname: 'VI_1', why: expect.stringContaining('demotion under way'), until: NOW + 800 }]);
    expect(stillMaster(NOW, demotedAt(NOW - 1000))).toEqual([{ kind: 'wait', iname: 'VI_1', why: expect.stringContaining('is track_file kawatch_VI_1 in its vrrp_instance') }]);
    const slow = both.map((v) => ({ ...v, instances: [{ ...v.instances[0]!, advertInterval: 3 }] }));
    expect(decide(input('lb2', { views: slow, journal: demotedAt(NOW - 2000) })).filter(aboutSplit)).toEqual([expect.objectContaining({ why: expect.stringContaining('under way'), until: NOW + 1000 })]);
    // A dry run touched nothing: staying MASTER is what it should do, not a wiring problem.
    expect(stillMaster(NOW, demotedAt(NOW - 60_000, true))).toEqual([{ kind: 'wait', iname: 'VI_1', why: expect.stringContaining('dry run') }]);
  });

  it('bounds a flapping split: cooldown, hourly cap, and a doubled wait before the next restore', () => {
    const demote = (at: number, restoreAfterMs = 30_000): JournalEntry => ({ at, action: 'demote', iname: 'VI_1', winner: 'lb1', reason: 'x', dryRun: false, restoreAfterMs });
    const restore = (at: number): JournalEntry => ({ at, action: 'restore', iname: 'VI_1', reason: 'x', dryRun: false });
    expect(decide(input('lb2', { journal: [demote(NOW - 40_000), restore(NOW - 5000)] }))).toEqual([{ kind: 'wait', iname: 'VI_1', why: 'cooldown', until: NOW + 5000 }]);
    expect(actions(input('lb2', { journal: [demote(NOW - 50_000), restore(NOW - 15_000)] }))).toEqual([expect.objectContaining({ kind: 'demote', restoreAfterMs: 60_000 })]);
    const busy = [demote(NOW - 3_000_000), restore(NOW - 2_900_000), demote(NOW - 2_000_000), restore(NOW - 1_900_000), demote(NOW - 1_000_000), restore(NOW - 900_000)];
    expect(decide(input('lb2', { journal: busy }))).toEqual([expect.objectContaining({ kind: 'wait', why: expect.stringContaining('the cap is 6') })]);
  });
});

describe('decide under policy stop', () => {
  const stop = { ...CONFIG, mode: 'stop' as const };
  const vi2: Verdict = { kind: 'split-brain', iname: 'VI_2', vrid: 55, masters: ['lb1', 'lb2'], since: NOW - 5000, causes: [] };
  const multiMaster = [
    { v: 1 as const, node: 'lb1', keepalivedUp: true, instances: [
      { name: 'VI_1', vrid: 51, state: 'MASTER' as const, effectivePriority: 100, primaryAddress: '198.18.0.1', vips: [] },
      { name: 'VI_2', vrid: 55, state: 'MASTER' as const, effectivePriority: 80, primaryAddress: '198.18.0.1', vips: [] },
    ] },
    { v: 1 as const, node: 'lb2', keepalivedUp: true, instances: [
      { name: 'VI_1', vrid: 51, state: 'MASTER' as const, effectivePriority: 80, primaryAddress: '198.18.0.2', vips: [] },
      { name: 'VI_2', vrid: 55, state: 'MASTER' as const, effectivePriority: 100, primaryAddress: '198.18.0.2', vips: [] },
    ] },
  ];

  it('stops one director only, even when each loses one VRID of the multi-master pair', () => {
    const lb1 = actions(input('lb1', { config: stop, verdicts: [split, vi2], views: multiMaster }));
    const lb2 = actions(input('lb2', { config: stop, verdicts: [split, vi2], views: [multiMaster[1]!, multiMaster[0]!] }));
    expect([...lb1, ...lb2]).toHaveLength(1);
    expect(lb1).toEqual([expect.objectContaining({ kind: 'stop', winner: 'lb2' })]);
  });
});

describe('self-fencing with a witness', () => {
  const alone = [view('lb2', 'MASTER', 80, '198.18.0.2')];

  it('demotes the MASTER instances of a node that hears neither its peers nor the witness, after the hold-down', () => {
    expect(decide(input('lb2', { verdicts: [], views: alone, isolatedSince: NOW - 500 }))).toEqual([{ kind: 'wait', iname: '*', why: 'isolated: hold-down', until: NOW + 1500 }]);
    expect(actions(input('lb2', { verdicts: [], views: alone, isolatedSince: NOW - 2500 }))).toEqual([
      { kind: 'demote', iname: 'VI_1', vrid: 51, reason: expect.stringContaining('isolated'), restoreAfterMs: 30_000, isolation: true },
    ]);
    expect(actions(input('lb2', { verdicts: [], views: alone, isolatedSince: NOW - 2500, config: { ...CONFIG, mode: 'alert' } }))).toEqual([]);
  });

  it('restores once a peer or the witness answers again, and not before', () => {
    const journal: JournalEntry[] = [{ at: NOW - 60_000, action: 'demote', iname: 'VI_1', reason: 'isolated', dryRun: false, restoreAfterMs: 30_000, isolation: true }];
    const demotedView = [view('lb2', 'FAULT', 80, '198.18.0.2')];
    expect(actions(input('lb2', { verdicts: [], views: demotedView, journal, isolatedSince: NOW - 60_000 }))).toEqual([]);
    expect(actions(input('lb2', { verdicts: [], views: demotedView, journal }))).toEqual([expect.objectContaining({ kind: 'restore', iname: 'VI_1' })]);
  });
});
