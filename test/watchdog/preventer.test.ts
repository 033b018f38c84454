import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WireListener } from '../../src/model/wire.js';
import type { Update } from '../../src/state/snapshot.js';
import { carriedOut } from '../../src/watchdog/journal.js';
import { Preventer, type PreventEntry } from '../../src/watchdog/preventer.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { waitFor } from '../support/wait.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-preventer-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("Preventer's statement", () => {
  it('says the witness answers only when its last answer is within the bound a statement must meet', async () => {
    let answeredAt: number | undefined;
    const preventer = new Preventer(
      { boundMs: 300, intervalMs: 100, maxHoldsPerHour: 10, dryRun: true, trackDir: dir, journalFile: join(dir, 'prevent.jsonl'), keepalivedUp: async () => true, witnessAnsweredAt: () => answeredAt },
      new StateStore('lb1', silentLog),
      () => undefined,
      silentLog,
    );
    expect((await preventer.statement()).witnessAnswers).toBe(false);
    answeredAt = Date.now() - 100;
    expect(await preventer.statement()).toMatchObject({ node: 'lb1', keepalivedUp: true, witnessAnswers: true });
    // A witness last heard 400 ms ago no longer answers for a statement bound to 300 ms, whatever the store's verdict says.
    answeredAt = Date.now() - 400;
    expect((await preventer.statement()).witnessAnswers).toBe(false);
  });
});

describe('a hold overtaken by keepalived', () => {
  const fifo = (state: 'MASTER' | 'BACKUP'): Update => ({ type: 'report', source: 'fifo', at: Date.now(), report: { kind: 'state', scope: 'instance', name: 'VI_1', state, priority: 80 } });
  /**
   * A stand-in for the VRRP observer, which needs raw sockets in a namespace (the lab tests run the
   * real one): listening on pri0 for 10 s and no advert from lb1 heard, so a hold is due.
   */
  const silentWire: WireListener = {
    view: (now = Date.now()) => ({ at: now, interfaces: [{ intf: 'pri0', up: true, since: now - 10_000, malformed: {} }], vrids: [] }),
    speakersOf: () => [],
  };
  const journal = () => join(dir, 'prevent.jsonl');
  const onDisk = () => (existsSync(journal()) ? readFileSync(journal(), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as PreventEntry).action) : []);

  async function holdWhile(flip: (store: StateStore) => void): Promise<Preventer> {
    const store = new StateStore('lb2', silentLog);
    store.apply({ type: 'process', at: Date.now(), up: true, pid: 2 });
    store.apply({ type: 'dump', at: Date.now(), instances: [{ name: 'VI_1', vrid: 51, state: 'BACKUP', interface: 'pri0', basePriority: 80, advertInterval: 1, vips: [] }] });
    const preventer = new Preventer(
      { boundMs: 3000, intervalMs: 60_000, maxHoldsPerHour: 10, dryRun: false, trackDir: dir, journalFile: journal(), keepalivedUp: async () => true, witnessAnsweredAt: () => Date.now() },
      store,
      () => silentWire,
      silentLog,
    );
    await preventer.start();
    // The review starts at once and then waits for the journal's fsync; keepalived's FIFO line lands meanwhile.
    preventer.onStatement('lb1', { v: 1, node: 'lb1', keepalivedUp: true, witnessAnswers: true, instances: [{ name: 'VI_1', vrid: 51, state: 'MASTER', address: '198.18.0.1' }] }, Date.now());
    flip(store);
    await waitFor(() => onDisk().length >= 1 && (onDisk().length === 2 || existsSync(join(dir, 'VI_1'))), 'the hold to be journaled and carried out or withdrawn');
    return preventer;
  }

  it('holds a BACKUP that stays BACKUP', async () => {
    const preventer = await holdWhile(() => {});
    try {
      expect(readFileSync(join(dir, 'VI_1'), 'utf8')).toBe('1\n');
      expect([...preventer.stats.held.keys()]).toEqual(['VI_1']);
    } finally {
      await preventer.stop();
    }
    expect(onDisk()).toEqual(['hold', 'release']);
  });

  it('withdraws the hold when keepalived left BACKUP while it was journaled, and never writes the track file', async () => {
    const preventer = await holdWhile((store) => store.apply(fifo('MASTER')));
    try {
      expect(onDisk()).toEqual(['hold', 'cancel']);
      expect(existsSync(join(dir, 'VI_1'))).toBe(false);
      expect(preventer.stats.held.size).toBe(0);
      expect(preventer.stats.entries[1]).toMatchObject({ action: 'cancel', iname: 'VI_1', master: 'lb1', reason: expect.stringContaining('now MASTER') });
      // kawatch_prevent_holds_total never counts the withdrawn hold.
      expect(carriedOut(preventer.stats.entries, 'hold').filter((e) => e.action === 'hold')).toEqual([]);
    } finally {
      await preventer.stop();
    }
    expect(onDisk()).toEqual(['hold', 'cancel']);
  });
});
