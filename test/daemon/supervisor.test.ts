import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { DaemonPart } from '../../src/core/daemon-part.js';
import { retryDelayMs, Supervisor } from '../../src/daemon/supervisor.js';
import { silentLog } from '../support/log.js';
import { waitFor } from '../support/wait.js';

/** A part that fails its first `failures` starts with `why`, then starts; it records every call. */
function flaky(name: string, failures: number, why = 'not yet'): DaemonPart & { calls: string[] } {
  const calls: string[] = [];
  let left = failures;
  return {
    name,
    calls,
    async start() {
      calls.push('start');
      if (left-- > 0) throw new Error(why);
    },
    async stop() {
      calls.push('stop');
    },
  };
}

async function series(registry: Registry): Promise<string> {
  return registry.metrics();
}

describe('Supervisor', () => {
  it('backs off by doubling from a second, capped at a minute', () => {
    expect([1, 2, 3, 4, 6, 7, 8, 100].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('starts every part in order though one fails, reports it down, retries it and reports it up', async () => {
    const registry = new Registry();
    const failures: string[] = [];
    const supervisor = new Supervisor(registry, silentLog, (part, error) => failures.push(`${part}: ${error}`));
    const order: string[] = [];
    const first = flaky('first', 0);
    const broken = flaky('broken', 1, 'port busy');
    const last = flaky('last', 0);
    for (const p of [first, broken, last]) {
      const start = p.start.bind(p);
      p.start = async () => {
        order.push(p.name);
        await start();
      };
    }
    await supervisor.startAll([first, broken, last]);
    expect(order).toEqual(['first', 'broken', 'last']);
    expect(await series(registry)).toContain('kawatch_part_up{part="broken"} 0');
    expect(await series(registry)).toContain('kawatch_part_up{part="last"} 1');
    expect(supervisor.failing.get('broken')).toBe('port busy');
    expect(supervisor.isUp(broken)).toBe(false);
    expect(failures).toEqual(['broken: port busy']);

    // The retry after a second: the failed start is released (stop), then started again.
    await waitFor(() => supervisor.isUp(broken), 'the broken part to start on its retry', 5000);
    expect(broken.calls).toEqual(['start', 'stop', 'start']);
    const text = await series(registry);
    expect(text).toContain('kawatch_part_up{part="broken"} 1');
    expect(text).toContain('kawatch_part_start_failures_total{part="broken"} 1');
    expect(text).toContain('kawatch_part_starts_total{part="broken"} 1');
    expect(supervisor.failing.size).toBe(0);

    await supervisor.stopAll();
    expect(supervisor.isUp(first)).toBe(false);
    expect([first.calls.at(-1), last.calls.at(-1)]).toEqual(['stop', 'stop']);
  });

  it('stops retrying a part once it is stopped', async () => {
    const supervisor = new Supervisor(new Registry(), silentLog);
    const broken = flaky('broken', 1000);
    await supervisor.startAll([broken]);
    await supervisor.stopAll();
    const calls = broken.calls.length;
    // Past the first retry's time: a stopped supervisor starts nothing again.
    await new Promise((r) => setTimeout(r, 1300));
    expect(broken.calls.length).toBe(calls);
  });

  it('counts an uncaught error it contains', async () => {
    const registry = new Registry();
    new Supervisor(registry, silentLog).contain('rejection', new Error('escaped'));
    expect(await series(registry)).toContain('kawatch_uncaught_errors_total 1');
  });
});
