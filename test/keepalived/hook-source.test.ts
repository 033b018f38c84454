import { chmodSync, closeSync, constants, existsSync, lstatSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createLogger } from '../../src/core/log.js';
import { HookSource } from '../../src/keepalived/hook-source.js';
import { ProcessSource } from '../../src/keepalived/process.js';
import type { Change } from '../../src/state/snapshot.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { fakeKeepalived } from '../support/procfs.js';
import { writeSpoolFixture } from '../support/spool.js';
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
afterEach(() => {
  // A reader stuck on a planted FIFO (the flaw these tests guard against) is released by a writer's close.
  for (const name of [...readdirSync(dir), ...(existsSync(join(dir, 'rejected')) ? readdirSync(join(dir, 'rejected')).map((n) => join('rejected', n)) : [])]) {
    const path = join(dir, name);
    if (!lstatSync(path).isFIFO()) continue;
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader: nothing is stuck on it
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function capturingLog(): { log: ReturnType<typeof createLogger>; lines: () => { msg: string; error?: string }[] } {
  const chunks: string[] = [];
  const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(chunk.toString()), done()) }));
  return { log, lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; error?: string }) };
}

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

  it('counts the first report of a keepalived restarted since the last process check from STOP, not from the state before', async () => {
    // keepalived 100 made VI_1 MASTER; killed, it told nothing; keepalived 200 started and made VI_1
    // BACKUP, all within one process check interval (an hour here, so that only the hook can notice).
    const now = Date.now();
    const procDir = mkdtempSync(join(tmpdir(), 'kawatch-procfs-'));
    try {
      const { pidFile, procfs } = fakeKeepalived(procDir, 100, now - 60_000);
      const processes = new ProcessSource(pidFile, procfs, 3_600_000, store, silentLog);
      await processes.start();
      writeSpoolFixture(dir, now - 3000, ['INSTANCE', 'VI_1', 'MASTER', '100']);
      const hook = new HookSource(dir, store, silentLog, () => processes.poll());
      await hook.start();
      expect(transitions).toEqual(['VI_1:INIT>MASTER']);
      fakeKeepalived(procDir, 200, now - 2000);
      writeSpoolFixture(dir, now - 1000, ['INSTANCE', 'VI_1', 'BACKUP', '100']);
      await hook.drain();
      await hook.stop();
      await processes.stop();
      expect(transitions).toEqual(['VI_1:INIT>MASTER', 'VI_1:MASTER>STOP', 'VI_1:STOP>BACKUP']);
      expect(store.snapshot.keepalived).toMatchObject({ up: true, pid: 200 });
    } finally {
      rmSync(procDir, { recursive: true, force: true });
    }
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

  it("wakes on the record's rename into place, not on the temporary file the hook writes first", async () => {
    const source = new HookSource(dir, store, silentLog);
    await source.start();
    // Every pass over the spool ends with a source-ok update: counted on the way into the store.
    let passes = 0;
    const apply = store.apply.bind(store);
    store.apply = (update) => {
      if (update.type === 'source-ok') passes++;
      return apply(update);
    };
    try {
      const counted = passes;
      // The temporary file alone, written and left as the hook leaves it before its rename.
      writeFileSync(join(dir, '.tmp-00000000000000000001-1.event'), 'kawatch-spool-1\0');
      notify('INSTANCE', 'VI_1', 'MASTER', '100');
      await waitFor(() => store.snapshot.instances.VI_1?.state === 'MASTER', 'VI_1 MASTER', 2000);
      // One pass, begun by the rename: none ran on either temporary file before it.
      expect(passes - counted).toBe(1);
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

  describe('against files planted in the spool', () => {
    const outside = () => join(dir, '..', `${dir.split('/').pop()}-outside`);
    afterEach(() => rmSync(outside(), { force: true }));

    it('sets a planted FIFO aside without waiting on it, and applies the rest', async () => {
      notify('INSTANCE', 'VI_1', 'BACKUP', '90');
      execFileSync('mkfifo', [join(dir, '00000000000000000001-1.event')]);
      notify('INSTANCE', 'VI_1', 'MASTER', '100');
      const source = new HookSource(dir, store, silentLog);
      await source.start();
      await source.stop();
      expect(transitions).toEqual(['VI_1:INIT>BACKUP', 'VI_1:BACKUP>MASTER']);
      expect(store.snapshot.sources.hook.lastRejected).toContain('is a FIFO, expected a regular file');
      expect(readdirSync(join(dir, 'rejected'))).toEqual(['00000000000000000001-1.event']);
    });

    it('refuses links (to a file elsewhere, to /dev/zero) unread, and moves the link, not its target', async () => {
      writeFileSync(outside(), ['kawatch-spool-1', String(Date.now()), 'INSTANCE', 'VI_9', 'MASTER', '100', ''].join('\0'));
      symlinkSync(outside(), join(dir, '00000000000000000001-1.event'));
      symlinkSync('/dev/zero', join(dir, '00000000000000000002-1.event'));
      const source = new HookSource(dir, store, silentLog);
      await source.start();
      await source.stop();
      expect(transitions).toEqual([]);
      expect(store.snapshot.sources.hook).toMatchObject({ rejected: 2 });
      expect(store.snapshot.sources.hook.lastRejected).toContain('is a symbolic link');
      expect(readdirSync(join(dir, 'rejected')).sort()).toEqual(['00000000000000000001-1.event', '00000000000000000002-1.event']);
      expect(lstatSync(join(dir, 'rejected', '00000000000000000001-1.event')).isSymbolicLink()).toBe(true);
      expect(readFileSync(outside(), 'utf8')).toContain('VI_9');
    });

    it('takes a record stamped in the future as of now, and says so once', async () => {
      const future = Date.now() + 365 * 86_400_000;
      writeSpoolFixture(dir, future, ['INSTANCE', 'VI_1', 'MASTER', '100']);
      writeSpoolFixture(dir, future + 1, ['INSTANCE', 'VI_1', 'BACKUP', '100']);
      const stamps: number[] = [];
      store.events.on('change', (c: Change) => void (c.type === 'transition' && stamps.push(c.at)));
      const { log, lines } = capturingLog();
      const source = new HookSource(dir, store, log);
      await source.start();
      await source.stop();
      const after = Date.now();
      expect(transitions).toEqual(['VI_1:INIT>MASTER', 'VI_1:MASTER>BACKUP']);
      expect(stamps.every((at) => at <= after)).toBe(true);
      expect(lines().filter((l) => l.msg.includes('stamped in the future'))).toHaveLength(1);
    });

    it('does not start on a spool directory anyone may write to, and says how to fix it', async () => {
      chmodSync(dir, 0o777);
      const source = new HookSource(dir, store, silentLog);
      await expect(source.start()).rejects.toThrow(`directory ${dir} is writable by any user (mode 0777, owner uid 0, group gid 0); fix: chmod 0750 ${dir}`);
    });
  });
});
