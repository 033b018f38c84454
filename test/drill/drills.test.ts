import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Drills } from '../../src/drill/drills.js';
import { DrillJournal, type DrillEntry } from '../../src/drill/journal.js';
import { buildView } from '../../src/peer/view.js';
import type { Update } from '../../src/state/snapshot.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';

const dump = (state: 'MASTER' | 'BACKUP', basePriority: number): Update => ({ type: 'dump', at: Date.now(), instances: [{ name: 'VI_1', vrid: 51, state, interface: 'pri0', basePriority, advertInterval: 1, vips: [] }] });
const fifo = (state: 'MASTER' | 'BACKUP', priority: number): Update => ({ type: 'report', source: 'fifo', at: Date.now(), report: { kind: 'state', scope: 'instance', name: 'VI_1', state, priority } });

/** A director's store as its sources told it: keepalived up, VI_1 in `state` at `priority`. */
function director(name: string, state: 'MASTER' | 'BACKUP', priority: number): StateStore {
  const store = new StateStore(name, silentLog);
  for (const u of [{ type: 'process', at: Date.now(), up: true, pid: 1 } as const, dump(state, priority), fifo(state, priority)]) store.apply(u);
  return store;
}

describe('a drill whose instance leaves MASTER on its own', () => {
  let dir: string;
  let exchanges: NodeJS.Timeout | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-drill-'));
  });
  afterEach(() => {
    clearInterval(exchanges);
    rmSync(dir, { recursive: true, force: true });
  });

  it('touches nothing when keepalived moved it while the start was being journaled, and says so', async () => {
    // lb1 MASTER of VI_1, lb2 its BACKUP, exchanging views over the secondary link every 20 ms.
    const lb1 = director('lb1', 'MASTER', 100);
    const lb2 = director('lb2', 'BACKUP', 90);
    lb1.apply({ type: 'peers-configured', peers: [{ name: 'lb2', address: '127.0.0.1:9' }] });
    const exchange = () => lb1.apply({ type: 'peer-view', at: Date.now(), peer: 'lb2', view: buildView(lb2.snapshot) });
    exchange();
    exchanges = setInterval(exchange, 20);
    // The real journal, and keepalived's FIFO line saying BACKUP landing while it writes the start: the
    // drill planned on a MASTER, the peers agreed, and the instance left before anything was touched.
    const file = join(dir, 'drills.jsonl');
    const real = new DrillJournal(file);
    const journal = {
      read: () => real.read(),
      append: async (entry: DrillEntry) => {
        if (entry.step === 'start') lb1.apply(fifo('BACKUP', 100));
        await real.append(entry);
      },
    };
    const drills = new Drills(
      { node: 'lb1', members: ['lb2'], journalFile: file, trackDir: dir, stopCommand: ['false'], timeoutMs: 5000, probeIntervalMs: 100, probes: {}, exchangeMs: 20, diagnose: { unreachableAfterMs: 3500, confirmAfterMs: 150 } },
      { store: lb1, verdicts: () => [], fenced: () => [], journal, log: silentLog },
    );
    await drills.start();
    expect(drills.request({ instances: ['VI_1'], mode: 'track', stay: false, dryRun: false })).toMatchObject({ status: 'started' });
    await drills.idle();
    expect(drills.status.reports).toMatchObject([{ instance: 'VI_1', outcome: 'aborted', reason: 'error', detail: ['VI_1 left MASTER on its own (now BACKUP) before the drill moved it: nothing was touched'], unexpected: [] }]);
    // No track file written, no restore journaled: the start and the end, nothing between.
    expect(existsSync(join(dir, 'VI_1'))).toBe(false);
    const steps = readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as DrillEntry).step);
    expect(steps).toEqual(['start', 'end']);
    expect(lb1.snapshot.drill).toBeUndefined();
    await drills.stop();
  });
});
