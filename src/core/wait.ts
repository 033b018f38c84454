import { setTimeout as sleep } from 'node:timers/promises';

/** One look at a condition: either it holds (with what was found) or why not yet. */
export type Probe<T> = { done: true; value: T } | { done: false; why: string };

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/** A condition that did not hold in time; the message says what was last seen. */
export class WaitTimeout extends Error {
  override name = 'WaitTimeout';
}

const DEFAULT_INTERVAL_MS = 100;

/**
 * Polls a condition until it holds or the time is up: the one bounded wait of the project, never a
 * fixed sleep. A probe that throws ends the wait at once: waiting longer cannot help (a process died).
 */
export async function waitFor<T>(what: string, probe: () => Promise<Probe<T>>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const result = await probe();
    if (result.done) return result.value;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeout(`timed out after ${options.timeoutMs} ms waiting for ${what}: ${result.why}`);
    await sleep(Math.min(options.intervalMs ?? DEFAULT_INTERVAL_MS, left));
  }
}

/**
 * The same wait for a probe that returns the value once the condition holds (undefined or false
 * while not yet) and may throw while what it looks at is not up: a throw is "not yet", and the
 * timeout's message quotes the last one.
 */
export function waitForValue<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, options: WaitOptions): Promise<T> {
  return waitFor(
    what,
    async () => {
      try {
        const value = await probe();
        return value !== undefined && value !== false ? { done: true, value } : { done: false, why: 'not yet' };
      } catch (err) {
        return { done: false, why: `last error: ${String(err)}` };
      }
    },
    options,
  );
}
