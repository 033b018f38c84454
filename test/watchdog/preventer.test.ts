import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Preventer } from '../../src/watchdog/preventer.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';

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
