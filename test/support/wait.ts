import { waitFor as waitForProbe } from '../../src/core/wait.js';

/**
 * The project's bounded wait, for tests whose probe returns the value once the condition holds
 * (undefined or false while not yet) and may throw while the thing it looks at is not up.
 */
export function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  return waitForProbe(
    what,
    async () => {
      try {
        const value = await probe();
        return value !== undefined && value !== false ? { done: true, value } : { done: false, why: 'not yet' };
      } catch (err) {
        return { done: false, why: `last error: ${String(err)}` };
      }
    },
    { timeoutMs, intervalMs: 20 },
  );
}
