import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { quarantinedCounts } from '../../src/core/quarantine.js';
import { StateStore } from '../../src/state/store.js';
import { Fencer } from '../../src/watchdog/fencer.js';
import type { JournalEntry } from '../../src/watchdog/journal.js';
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

function fencer(mode: 'alert' | 'demote' | 'stop' = 'demote'): Fencer {
  return new Fencer(
    new StateStore('lb1', silentLog),
    {
      policy: { mode, dryRun: false, holdDownMs: 2000, cooldownMs: 10_000, maxActionsPerHour: 6, restoreAfterMs: 30_000, maxRestoreAfterMs: 900_000 },
      diagnose: { unreachableAfterMs: 3500, confirmAfterMs: 150 },
      journalFile: journalFile(),
      trackDir: trackDir(),
      stopCommand: ['true'],
    },
    silentLog,
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
