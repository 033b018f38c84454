import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, closeSync, constants, copyFileSync, existsSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/log.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DumpSource, type DumpSourceOptions } from '../../src/keepalived/dump-source.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';

let dir: string;
let store: StateStore;
let options: DumpSourceOptions;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-dump-'));
  store = new StateStore('lb1', silentLog);
  options = {
    trigger: 'none',
    path: join(dir, 'keepalived.json'),
    signal: 'auto',
    intervalMs: 3_600_000,
    timeoutMs: 500,
    onTransition: false,
    pidFile: join(dir, 'keepalived.pid'),
    procfs: join(dir, 'proc'),
    binary: 'keepalived',
  };
});
afterEach(() => {
  // Releases a reader stuck on a planted FIFO, the flaw the tests below guard against.
  try {
    if (existsSync(options.path!)) closeSync(openSync(options.path!, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // not a FIFO, or nobody reading it
  }
  rmSync(dir, { recursive: true, force: true });
});

const fixture = new URL('../fixtures/keepalived/dump-lb1.json', import.meta.url);

describe('DumpSource', () => {
  it('keeps the last good snapshot when a dump is malformed, and says what is wrong', async () => {
    copyFileSync(new URL('../fixtures/keepalived/dump-lb1.json', import.meta.url), options.path!);
    const source = new DumpSource(options, store, silentLog);
    await source.start();
    expect(Object.keys(store.snapshot.instances)).toEqual(['VI_1', 'VI_2']);

    writeFileSync(options.path!, '[{"data":{"iname":"VI_1","vrid":51,"state":2}},{"data":{"iname":"VI_2","vrid":"55"');
    await source.request();
    expect(Object.keys(store.snapshot.instances)).toEqual(['VI_1', 'VI_2']);
    expect(store.snapshot.instances.VI_1!.stats?.advert_sent).toBeGreaterThan(0);
    expect(store.snapshot.sources.dump).toMatchObject({ up: false, errors: 1 });
    expect(store.snapshot.sources.dump.lastError).toMatch(/keepalived\.json: not valid JSON/);

    copyFileSync(new URL('../fixtures/keepalived/dump-lb2.json', import.meta.url), options.path!);
    await source.request();
    expect(store.snapshot.sources.dump.up).toBe(true);
    expect(store.snapshot.instances.VI_2!.basePriority).toBe(100);
    await source.stop();
  });

  it('treats a stopped keepalived as no data, not as a failed source', async () => {
    const source = new DumpSource({ ...options, trigger: 'signal', signal: 36 }, store, silentLog);
    await source.start();
    expect(store.snapshot.sources.dump).toMatchObject({ enabled: true, errors: 0 });
    await source.stop();
  });

  describe('against a dump planted in a shared directory', () => {
    async function refused(expected: string): Promise<void> {
      const source = new DumpSource(options, store, silentLog);
      await source.start();
      await source.stop();
      expect(store.snapshot.instances).toEqual({});
      expect(store.snapshot.sources.dump).toMatchObject({ up: false, errors: 1 });
      expect(store.snapshot.sources.dump.lastError).toContain(expected);
    }

    it('refuses a link, even to a good dump', async () => {
      copyFileSync(fixture, join(dir, 'elsewhere.json'));
      symlinkSync(join(dir, 'elsewhere.json'), options.path!);
      await refused(`${options.path}: is a symbolic link`);
    });

    it('refuses a FIFO without waiting for a writer', async () => {
      execFileSync('mkfifo', [options.path!]);
      await refused('is a FIFO, expected a regular file');
    });

    it('refuses a dump someone else owns (put in /tmp before keepalived wrote its own)', async () => {
      copyFileSync(fixture, options.path!);
      chownSync(options.path!, 65534, 65534);
      await refused('is owned by uid 65534');
    });

    it('refuses a dump larger than any keepalived writes, unread', async () => {
      copyFileSync(fixture, options.path!);
      appendFileSync(options.path!, Buffer.alloc(17 * 1024 * 1024, ' '));
      await refused('larger than the 16777216 allowed');
    });

    it('says once in the log what keeps failing, and counts every failure', async () => {
      symlinkSync('/dev/zero', options.path!);
      const lines: string[] = [];
      const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
      const source = new DumpSource(options, store, log);
      await source.start();
      await source.request();
      await source.request();
      await source.stop();
      expect(store.snapshot.sources.dump.errors).toBe(3);
      expect(lines.filter((l) => l.includes('keepalived dump failed'))).toHaveLength(1);
    });
  });
});

