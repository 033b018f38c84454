import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { quarantinedCounts } from '../../src/core/quarantine.js';
import { StateStore } from '../../src/state/store.js';
import { buildView } from '../../src/peer/view.js';
import type { Update } from '../../src/state/snapshot.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';
import { Fencer } from '../../src/watchdog/fencer.js';
import { carriedOut, type JournalEntry } from '../../src/watchdog/journal.js';
import { silentLog } from '../support/log.js';

let dir: string;
let outside: string;
const SECRET = 'not kawatch\'s to write\n';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-fencer-'));
  mkdirSync(join(dir, 'state'));
  outside = join(dir, 'outside');
  writeFileSync(outside, SECRET);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const journalFile = () => join(dir, 'state', 'actions.jsonl');
const trackDir = () => join(dir, 'track');

function fencer(mode: 'alert' | 'demote' | 'stop' = 'demote', store = new StateStore('lb1', silentLog), onAction?: (entry: JournalEntry) => void): Fencer {
  return new Fencer(
    store,
    {
      policy: { mode, dryRun: false, holdDownMs: 2000, cooldownMs: 10_000, maxActionsPerHour: 6, restoreAfterMs: 30_000, maxRestoreAfterMs: 900_000 },
      diagnose: { unreachableAfterMs: 3500, confirmAfterMs: 150 },
      journalFile: journalFile(),
      trackDir: trackDir(),
      stopCommand: ['true'],
    },
    silentLog,
    onAction,
  );
}

/** A self-fencing demotion whose isolation is over (no witness is configured): the fencer restores it at once. */
const isolationDemotion = (): JournalEntry => ({ at: Date.now() - 1000, action: 'demote', iname: 'VI_1', reason: 'isolated', dryRun: false, restoreAfterMs: 30_000, isolation: true });

describe('Fencer track files', () => {
  it('replaces a link planted in the track directory instead of writing through it', async () => {
    writeFileSync(journalFile(), `${JSON.stringify(isolationDemotion())}\n`);
    mkdirSync(trackDir());
    symlinkSync(outside, join(trackDir(), 'VI_1'));
    const f = fencer();
    await f.load();
    await f.consider([]);
    await f.idle();
    expect(f.entries.map((e) => e.action)).toEqual(['demote', 'restore']);
    expect(readFileSync(outside, 'utf8')).toBe(SECRET);
    expect(lstatSync(join(trackDir(), 'VI_1')).isFile()).toBe(true);
    expect(readFileSync(join(trackDir(), 'VI_1'), 'utf8')).toBe('0\n');
    expect(lstatSync(join(trackDir(), 'VI_1')).mode & 0o777).toBe(0o644);
  });

  it.each(['alert', 'demote', 'stop'] as const)('creates the track directory under policy %s, so keepalived keeps its track_file at config read', async (mode) => {
    await fencer(mode).load();
    expect(lstatSync(trackDir()).isDirectory()).toBe(true);
    // keepalived runs as root and only reads it; nobody else may write there.
    expect(lstatSync(trackDir()).mode & 0o022).toBe(0);
  });

  it('does not start on a track directory anyone may write to, and says how to fix it', async () => {
    mkdirSync(trackDir());
    chmodSync(trackDir(), 0o777);
    await expect(fencer().load()).rejects.toThrow(`directory ${trackDir()} is writable by any user (mode 0777, owner uid 0, group gid 0); fix: chmod 0750 ${trackDir()}`);
  });
});

describe('the fencing journal', () => {
  it('quarantines bad lines (a time of 1e20, a wrong shape, a torn last line), keeps the good ones, and is not upset again', async () => {
    const good = isolationDemotion();
    const future = { ...good, at: 1e20 };
    const wrongShape = { at: good.at, action: 'reboot', iname: ['VI_1'] };
    writeFileSync(journalFile(), [JSON.stringify(good), JSON.stringify(future), JSON.stringify(wrongShape), '{"at":17'].join('\n'));
    const before = quarantinedCounts().get('actions.jsonl') ?? 0;
    const f = fencer();
    await f.load();
    expect(f.entries).toEqual([good]);
    expect(quarantinedCounts().get('actions.jsonl')).toBe(before + 3);
    const aside = readdirSync(join(dir, 'state')).filter((n) => n.startsWith('actions.jsonl.bad-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, 'state', aside[0]!), 'utf8').trim().split('\n')).toEqual([JSON.stringify(future), JSON.stringify(wrongShape), '{"at":17']);
    expect(readFileSync(journalFile(), 'utf8')).toBe(`${JSON.stringify(good)}\n`);
    // The 1e20 demotion would otherwise hold the cooldown shut forever; the good one is restored.
    await f.consider([]);
    await f.idle();
    expect(f.entries.map((e) => e.action)).toEqual(['demote', 'restore']);
    const again = fencer();
    await again.load();
    expect(again.entries.map((e) => e.action)).toEqual(['demote', 'restore']);
    expect(quarantinedCounts().get('actions.jsonl')).toBe(before + 3);
  });

  it('sets aside a link planted as the journal, and never appends through it', async () => {
    symlinkSync(outside, journalFile());
    const f = fencer();
    await f.load();
    expect(f.entries).toEqual([]);
    expect(existsSync(journalFile())).toBe(false);
    expect(readdirSync(join(dir, 'state')).filter((n) => n.startsWith('actions.jsonl.bad-'))).toHaveLength(1);
    expect(readFileSync(outside, 'utf8')).toBe(SECRET);
  });
});

describe('a demotion overtaken by keepalived', () => {
  const fifo = (state: 'MASTER' | 'BACKUP', priority: number): Update => ({ type: 'report', source: 'fifo', at: Date.now(), report: { kind: 'state', scope: 'instance', name: 'VI_1', state, priority } });
  const dump = (state: 'MASTER' | 'BACKUP', basePriority: number): Update => ({ type: 'dump', at: Date.now(), instances: [{ name: 'VI_1', vrid: 51, state, interface: 'pri0', basePriority, advertInterval: 1, vips: [] }] });
  const split = (): Verdict => ({ kind: 'split-brain', iname: 'VI_1', vrid: 51, masters: ['lb1', 'lb2'], since: Date.now() - 5000, causes: [] });

  /** lb2, the loser of a split on VI_1 (priority 80 against lb1's 100), as its sources and its peer told it. */
  function loser(): StateStore {
    const lb1 = new StateStore('lb1', silentLog);
    for (const u of [{ type: 'process', at: Date.now(), up: true, pid: 1 } as const, dump('MASTER', 100), fifo('MASTER', 100)]) lb1.apply(u);
    const lb2 = new StateStore('lb2', silentLog);
    for (const u of [{ type: 'process', at: Date.now(), up: true, pid: 2 } as const, dump('MASTER', 80), fifo('MASTER', 80)]) lb2.apply(u);
    lb2.apply({ type: 'peers-configured', peers: [{ name: 'lb1', address: '127.0.0.1:9' }] });
    lb2.apply({ type: 'peer-view', at: Date.now(), peer: 'lb1', view: buildView(lb1.snapshot) });
    return lb2;
  }

  async function demoteWhile(flip: (store: StateStore) => void): Promise<{ f: Fencer; told: JournalEntry[] }> {
    const store = loser();
    const told: JournalEntry[] = [];
    const f = fencer('demote', store, (e) => told.push(e));
    await f.load();
    // The fencer decides at once and then waits for its journal's fsync; keepalived's FIFO line lands meanwhile.
    const acting = f.consider([split()]);
    flip(store);
    await acting;
    return { f, told };
  }

  const onDisk = () => readFileSync(journalFile(), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as JournalEntry).action);

  it('demotes the loser that stays MASTER', async () => {
    const { f, told } = await demoteWhile(() => {});
    expect(readFileSync(join(trackDir(), 'VI_1'), 'utf8')).toBe('1\n');
    expect(f.entries.map((e) => e.action)).toEqual(['demote']);
    expect(told.map((e) => e.action)).toEqual(['demote']);
  });

  it('withdraws the demotion when keepalived left MASTER while it was journaled, and never writes the track file', async () => {
    const { f, told } = await demoteWhile((store) => store.apply(fifo('BACKUP', 80)));
    expect(existsSync(join(trackDir(), 'VI_1'))).toBe(false);
    expect(onDisk()).toEqual(['demote', 'cancel']);
    expect(f.entries.map((e) => e.action)).toEqual(['demote', 'cancel']);
    expect(f.entries[1]).toMatchObject({ iname: 'VI_1', vrid: 51, winner: 'lb1', dryRun: false, reason: expect.stringContaining('now BACKUP') });
    // Mail and history hear of the cancel only; the counters never count the withdrawn demotion.
    expect(told.map((e) => e.action)).toEqual(['cancel']);
    expect(carriedOut(f.entries, 'demote').map((e) => e.action)).toEqual(['cancel']);
    // The split is still reported, but nothing is in force: the next review does not restore what was never done.
    await f.consider([split()]);
    expect(f.entries.map((e) => e.action)).toEqual(['demote', 'cancel']);
    expect(existsSync(join(trackDir(), 'VI_1'))).toBe(false);
  });
});

describe('carriedOut', () => {
  const e = (action: JournalEntry['action'], iname = 'VI_1'): JournalEntry => ({ at: 1, action, iname, reason: action, dryRun: false });
  it('leaves out only the demotion a cancel withdrew, per instance', () => {
    const journal = [e('demote'), e('restore'), e('demote', 'VI_2'), e('demote'), e('cancel'), e('cancel', 'VI_2')];
    expect(carriedOut(journal, 'demote')).toEqual([journal[0], journal[1], journal[4], journal[5]]);
    expect(carriedOut([e('cancel'), e('demote')], 'demote')).toEqual([e('cancel'), e('demote')]);
  });
});
