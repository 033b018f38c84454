import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { quarantinedCounts } from '../../src/core/quarantine.js';
import { LAST_KNOWN_FILE, LastKnownState, parseLastKnown, serializeLastKnown } from '../../src/state/last-known.js';
import { StateStore } from '../../src/state/store.js';
import type { Change, Update } from '../../src/state/snapshot.js';
import { silentLog } from '../support/log.js';

const T0 = Date.UTC(2026, 11, 1, 12);
const report = (source: 'hook' | 'fifo', at: number, state: 'MASTER' | 'BACKUP', name = 'VI_1'): Update => ({ type: 'report', source, at, report: { kind: 'state', scope: 'instance', name, state, priority: 100 } });

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kawatch-last-known-'));
  path = join(dir, 'state', LAST_KNOWN_FILE);
});
const files: LastKnownState[] = [];
afterEach(async () => {
  // Writes still under way would race the removal.
  await Promise.all(files.splice(0).map((f) => f.flush()));
  await rm(dir, { recursive: true, force: true });
});

/** A daemon's run: a store restored from the file, saving after each update as the fan-out does. */
async function daemonRun(): Promise<{ store: StateStore; file: LastKnownState; problems: string[]; transitions: string[] }> {
  const store = new StateStore('lb2', silentLog);
  const file = new LastKnownState(path, silentLog);
  files.push(file);
  const { restore, problems } = await file.load();
  const transitions: string[] = [];
  store.events.on('change', (c: Change) => {
    if (c.type === 'transition') transitions.push(`${c.name} ${c.from}->${c.to}`);
  });
  store.events.on('snapshot', (s) => file.save(s));
  store.apply(restore);
  return { store, file, problems, transitions };
}

describe('the last known VRRP state in state_dir', () => {
  it('lets a restart replay the spool and the FIFO from the state the last run knew, each transition once', async () => {
    const first = await daemonRun();
    first.store.apply(report('hook', T0, 'BACKUP'));
    first.store.apply(report('fifo', T0 + 3, 'BACKUP'));
    first.store.apply(report('hook', T0 + 1, 'MASTER', 'VI_2'));
    await first.file.flush();
    expect((await lstat(path)).mode & 0o777).toBe(0o600);

    const second = await daemonRun();
    expect(second.problems).toEqual([]);
    expect(second.store.snapshot.instances.VI_1).toMatchObject({ state: 'BACKUP', stateSince: T0 });
    second.store.apply(report('hook', T0 + 60_000, 'MASTER'));
    second.store.apply(report('hook', T0 + 65_000, 'BACKUP'));
    second.store.apply(report('fifo', T0 + 90_000, 'MASTER'));
    second.store.apply(report('fifo', T0 + 90_000, 'BACKUP'));
    second.store.apply(report('fifo', T0 + 90_001, 'MASTER', 'VI_2'));
    expect(second.transitions).toEqual(['VI_1 BACKUP->MASTER', 'VI_1 MASTER->BACKUP']);
  });

  it('tells a keepalived restarted while kawatch was down: the one it knew stopped, the new one starts from STOP', async () => {
    // Both killed at once, keepalived started again before kawatch (the chaos run's seed 11, step 12).
    const process = (pid: number, startedAt: number, at: number): Update => ({ type: 'process', at, up: true, pid, startedAt, identity: `boot/${pid}/${startedAt}` });
    const first = await daemonRun();
    first.store.apply(process(7, T0 - 60_000, T0));
    first.store.apply(report('hook', T0 + 10, 'MASTER'));
    await first.file.flush();
    expect(parseLastKnown(await readFile(path, 'utf8')).restore.keepalived).toEqual({ pid: 7, startedAt: T0 - 60_000, identity: `boot/7/${T0 - 60_000}` });

    const second = await daemonRun();
    // The daemon checks the process before it replays the spool (daemon.ts: the process part first).
    second.store.apply(process(9, T0 + 5_000, T0 + 6_000));
    second.store.apply(report('hook', T0 + 5_100, 'BACKUP'));
    expect(second.transitions).toEqual(['VI_1 MASTER->STOP', 'VI_1 STOP->BACKUP']);

    // Only kawatch restarted: the same keepalived, nothing stopped.
    await second.file.flush();
    const third = await daemonRun();
    third.store.apply(process(9, T0 + 5_000, T0 + 9_000));
    third.store.apply(report('hook', T0 + 8_000, 'MASTER'));
    expect(third.transitions).toEqual(['VI_1 BACKUP->MASTER']);
  });

  it('writes only when what outlives a restart changed, and round-trips it', async () => {
    const run = await daemonRun();
    run.store.apply(report('hook', T0, 'BACKUP'));
    await run.file.flush();
    const written = await readFile(path, 'utf8');
    run.store.apply({ type: 'source-ok', source: 'hook', at: T0 + 5 });
    await run.file.flush();
    expect(await readFile(path, 'utf8')).toBe(written);
    const { restore, bad } = parseLastKnown(written);
    expect(bad).toBe(0);
    expect(restore.instances).toEqual([{ name: 'VI_1', state: 'BACKUP', stateSince: T0, log: [{ seq: 1, from: 'INIT', to: 'BACKUP', at: T0, clock: 'hook', seenBy: ['hook'], stamp: T0 }] }]);
    expect(serializeLastKnown(run.store.snapshot)).toBe(written);
  });

  it('sets a file that is not one aside, counts it, and starts with nothing known', async () => {
    const first = await daemonRun();
    first.store.apply(report('hook', T0, 'BACKUP'));
    await first.file.flush();
    await writeFile(path, '{"v":1,"instances":[{"name":"VI_1"', { mode: 0o600 });
    const before = quarantinedCounts().get(LAST_KNOWN_FILE) ?? 0;
    const second = await daemonRun();
    expect(second.problems).toHaveLength(1);
    expect(second.problems[0]).toMatch(/not JSON .*kept as .*vrrp-state\.json\.bad-.*starting with no VRRP state known/);
    expect(Object.keys(second.store.snapshot.instances)).toEqual([]);
    expect(quarantinedCounts().get(LAST_KNOWN_FILE)).toBe(before + 1);
    expect((await readdir(join(dir, 'state'))).filter((n) => n.includes('.bad-'))).toHaveLength(1);
  });

  it('keeps the good records of a file with a bad one, and writes them back at once', async () => {
    const good = { name: 'VI_1', state: 'MASTER', stateSince: T0, log: [{ seq: 1, from: 'BACKUP', to: 'MASTER', at: T0, clock: 'hook', seenBy: ['hook'] }] };
    const bads = [
      { ...good, name: 'VI_2', state: 'PRIMARY' },
      { ...good, name: 'VI_3', stateSince: Date.now() + 30 * 86_400_000 },
      { ...good, name: 'VI_4', log: [good.log[0], good.log[0]] },
      { ...good, name: 'VI_1', state: 'BACKUP' },
    ];
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(path, JSON.stringify({ v: 1, instances: [good, ...bads], groups: [] }), { mode: 0o600 });
    const run = await daemonRun();
    expect(run.problems).toHaveLength(1);
    expect(run.problems[0]).toMatch(/4 bad record\(s\) \(state: Invalid option/);
    expect(Object.keys(run.store.snapshot.instances)).toEqual(['VI_1']);
    expect(run.store.snapshot.instances.VI_1).toMatchObject({ state: 'MASTER', stateSince: T0 });
    expect(parseLastKnown(await readFile(path, 'utf8')).restore.instances.map((i) => i.name)).toEqual(['VI_1']);
  });

  it('refuses a link planted in its place, unread, and starts with nothing known', async () => {
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(join(dir, 'elsewhere.json'), JSON.stringify({ v: 1, instances: [{ name: 'VI_9', state: 'MASTER', log: [] }], groups: [] }));
    await symlink(join(dir, 'elsewhere.json'), path);
    const run = await daemonRun();
    expect(run.problems).toHaveLength(1);
    expect(run.problems[0]).toMatch(/link.*left in place/);
    expect(Object.keys(run.store.snapshot.instances)).toEqual([]);
  });

  it('refuses more subjects than any director has, and files of another shape', () => {
    const many = Array.from({ length: 4097 }, (_, i) => ({ name: `VI_${i}`, state: 'BACKUP', log: [] }));
    expect(() => parseLastKnown(JSON.stringify({ v: 1, instances: many, groups: [] }))).toThrow(/not a kawatch VRRP state file: instances: Too big: expected array to have <=4096 items/);
    expect(() => parseLastKnown(JSON.stringify({ v: 2, instances: [], groups: [] }))).toThrow(/not a kawatch VRRP state file/);
    expect(() => parseLastKnown('[]')).toThrow(/not a kawatch VRRP state file/);
  });

  it('keeps an instance named like a member of Object.prototype as an instance', async () => {
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(path, JSON.stringify({ v: 1, instances: [{ name: '__proto__', state: 'MASTER', log: [] }, { name: 'constructor', state: 'BACKUP', log: [] }], groups: [] }), { mode: 0o600 });
    const run = await daemonRun();
    expect(Object.keys(run.store.snapshot.instances).sort()).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).state).toBeUndefined();
  });
});
