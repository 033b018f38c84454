import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { HookSource } from '../../src/keepalived/hook-source.js';
import type { Change } from '../../src/state/snapshot.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { waitFor } from '../support/wait.js';

let dir: string;
let store: StateStore;
let transitions: string[];

const launcher = new URL('../../bin/kawatch', import.meta.url).pathname;

/** The real hook, as keepalived runs it. */
function notify(...args: string[]): number {
  return spawnSync(launcher, ['notify', '--spool', dir, ...args]).status ?? -1;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-spool-'));
  store = new StateStore('lb1', silentLog);
  transitions = [];
  store.events.on('change', (c: Change) => {
    if (c.type === 'transition') transitions.push(`${c.name}:${c.from}>${c.to}`);
  });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('HookSource', () => {
  it('replays events spooled while the daemon was down, in order and exactly once', async () => {
    expect(notify('INSTANCE', 'VI_1', 'BACKUP', '100')).toBe(0);
    expect(notify('INSTANCE', 'VI_1', 'MASTER', '100')).toBe(0);
    expect(notify('INSTANCE', 'VI_1', 'FAULT', '100')).toBe(0);
    expect(notify('INSTANCE', 'VI_2', 'BACKUP', '80')).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.event'))).toHaveLength(4);

    const first = new HookSource(dir, store, silentLog);
    await first.start();
    await first.stop();
    expect(transitions).toEqual(['VI_1:INIT>BACKUP', 'VI_1:BACKUP>MASTER', 'VI_1:MASTER>FAULT', 'VI_2:INIT>BACKUP']);
    expect(readdirSync(dir).filter((n) => n.endsWith('.event'))).toEqual([]);

    const second = new HookSource(dir, store, silentLog);
    await second.start();
    await second.stop();
    expect(transitions).toHaveLength(4);
    expect(store.snapshot.sources.hook.events).toBe(4);
  });

  it('picks up a live hook within the watch, without waiting for the rescan', async () => {
    const source = new HookSource(dir, store, silentLog);
    await source.start();
    try {
      notify('INSTANCE', 'VI_1', 'MASTER', '100');
      await waitFor(() => store.snapshot.instances.VI_1?.state === 'MASTER', 'VI_1 MASTER', 2000);
      expect(transitions).toEqual(['VI_1:INIT>MASTER']);
    } finally {
      await source.stop();
    }
  });

  it('keeps a rejected invocation for inspection, counts it, and loses nothing else', async () => {
    expect(notify('INSTANCE', 'VI_1', 'MASTER', '100')).toBe(0);
    expect(notify('INSTANCE', 'VI_1;rm -rf /', 'MASTER', '100')).toBe(0); // spooled as is, judged by the daemon
    expect(notify('INSTANCE', 'VI_2', 'MASTER', '100')).toBe(0);
    const source = new HookSource(dir, store, silentLog);
    await source.start();
    await source.stop();
    expect(transitions).toEqual(['VI_1:INIT>MASTER', 'VI_2:INIT>MASTER']);
    expect(readdirSync(join(dir, 'rejected'))).toHaveLength(1);
    expect(store.snapshot.sources.hook).toMatchObject({ rejected: 1, errors: 0 });
    expect(store.snapshot.sources.hook.lastRejected).toContain('VI_1;rm -rf /');
  });

  it('carries any argument bytes through the spool unevaluated', async () => {
    notify('INSTANCE', 'VI_"$(touch /tmp/kawatch-pwned)"`id`', 'MASTER', '100');
    notify('master', 'VI_ü');
    const source = new HookSource(dir, store, silentLog);
    await source.start();
    await source.stop();
    expect(transitions).toEqual(['VI_ü:INIT>MASTER']);
    expect(store.snapshot.sources.hook.lastRejected).toContain('VI_\\"$(touch /tmp/kawatch-pwned)\\"`id`');
    expect(existsSync('/tmp/kawatch-pwned')).toBe(false);
  });

  it('refuses a spool file that is not a record, and keeps going', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, '00000000000000000001-x.event'), 'kawatch-spool-1\0yesterday\0INSTANCE\0');
    notify('INSTANCE', 'VI_1', 'BACKUP', '90');
    const source = new HookSource(dir, store, silentLog);
    await source.start();
    await source.stop();
    expect(transitions).toEqual(['VI_1:INIT>BACKUP']);
    expect(store.snapshot.sources.hook.lastRejected).toMatch(/not a kawatch spool record/);
    expect(readdirSync(join(dir, 'rejected'))).toEqual(['00000000000000000001-x.event']);
  });
});
