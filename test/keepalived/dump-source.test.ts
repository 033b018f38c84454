import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
afterEach(() => rmSync(dir, { recursive: true, force: true }));

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
});
