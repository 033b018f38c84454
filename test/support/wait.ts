import { waitForValue } from '../../src/core/wait.js';

/** The project's bounded wait, as tests write it: the probe gives the value once the condition holds. */
export function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  return waitForValue(what, probe, { timeoutMs, intervalMs: 20 });
}
