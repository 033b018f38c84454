import { describe, expect, it } from 'vitest';
import { CoalescingTask } from '../../src/core/coalescing-task.js';

describe('CoalescingTask', () => {
  it('folds every call made during a run into exactly one more run', async () => {
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const flight = new CoalescingTask(async () => {
      runs++;
      if (runs === 1) await gate;
    });
    const calls = [flight.run(), flight.run(), flight.run(), flight.run()];
    expect(runs).toBe(1);
    release();
    await Promise.all(calls);
    expect(runs).toBe(2);
    await flight.run();
    expect(runs).toBe(3);
  });
});
