import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from './system.js';

/** One look at a condition: either it holds (with what was found) or why not yet. */
export type Probe<T> = { done: true; value: T } | { done: false; why: string };

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

const DEFAULT_INTERVAL_MS = 100;

/**
 * Polls a condition until it holds or the time is up; the timeout error says what was last seen.
 * A probe that throws ends the wait at once: it means waiting longer cannot help (a process died).
 */
export async function waitFor<T>(what: string, probe: () => Promise<Probe<T>>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const result = await probe();
    if (result.done) return result.value;
    const left = deadline - Date.now();
    if (left <= 0) throw new LabError(`timed out after ${options.timeoutMs} ms waiting for ${what}: ${result.why}`);
    await sleep(Math.min(options.intervalMs ?? DEFAULT_INTERVAL_MS, left));
  }
}
