import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkOptions, countOption, flag, formatRow, GOALS, judge, meets, option, pollUntil, timedRun, type Goal } from '../../bench/support.js';

describe('goals and verdicts', () => {
  const strict: Goal = { what: 'x', on: 'value', comparison: '<', limit: 30, unit: 'ms', source: 'test' };
  const inclusive: Goal = { ...strict, comparison: '<=' };

  it('a strict goal fails at its limit, an inclusive one passes there', () => {
    for (const [value, strictMet, inclusiveMet] of [
      [29.9, true, true],
      [30, false, true],
      [30.1, false, false],
    ] as const) {
      expect(meets(strict, value)).toBe(strictMet);
      expect(meets(inclusive, value)).toBe(inclusiveMet);
    }
  });

  it('a ratio goal judges value / baseline, not the value', () => {
    const base = { name: 'node_exporter', unit: 'ms', goal: 'ipvsScrapeTime' } as const;
    const limit = GOALS.ipvsScrapeTime.limit;
    const pass = judge({ ...base, value: 90, baseline: { name: 'node_exporter', value: 90 / limit } });
    expect(pass.ratio).toBeCloseTo(limit);
    expect(pass.verdict).toBe('PASS');
    expect(judge({ ...base, value: 101, baseline: { name: 'node_exporter', value: 1000 } }).verdict).toBe('FAIL');
    // A value far below any time limit still fails when its ratio is over the goal.
    expect(judge({ ...base, value: 1, baseline: { name: 'node_exporter', value: 2 } }).verdict).toBe('FAIL');
  });

  it('a ratio just over its goal prints as over it', () => {
    const over = judge({ name: 'scrape p50', value: 3281, unit: 'ms', baseline: { name: 'node_exporter', value: 32158 }, goal: 'ipvsScrapeTime' });
    expect(formatRow(over)).toMatch(/×0\.102 .*FAIL$/);
  });

  it('a ratio goal without a baseline is an error that names the figure', () => {
    expect(() => judge({ name: 'scrape p50', value: 1, unit: 'ms', goal: 'ipvsPeakRss' })).toThrow(/scrape p50.*no baseline/);
  });

  it('a goal with a note is shown but not applied; a figure without a goal is information', () => {
    const noted = judge({ name: 'at 10k', value: 500, unit: 'ms', baseline: { name: 'b', value: 100 }, goal: 'ipvsScrapeTime', goalNote: 'applies at 100000' });
    expect(noted.verdict).toBe('info');
    expect(formatRow(noted)).toContain('applies at 100000');
    expect(judge({ name: 'plain', value: 5, unit: 'ms' }).verdict).toBe('info');
  });

  it('a row shows value, baseline, ratio, goal and verdict', () => {
    const row = formatRow(judge({ name: 'hook p95', value: 41, unit: 'ms', goal: 'hookLatency' }));
    expect(row).toMatch(/hook p95 +41\.0 ms .*goal < 30 ms +FAIL$/);
    const ratioRow = formatRow(judge({ name: 'rss', value: 100, unit: 'MB', baseline: { name: 'node_exporter', value: 500 }, goal: 'ipvsPeakRss' }));
    expect(ratioRow).toMatch(/rss +100 MB +node_exporter 500 MB +×0\.200 +goal ratio <= 0\.25 × node_exporter +PASS$/);
  });
});

describe('timedRun', () => {
  it('accepts exactly the exit codes it is given', async () => {
    await expect(timedRun('sh', ['-c', 'exit 1'], [0, 1])).resolves.toBeGreaterThan(0);
    await expect(timedRun('sh', ['-c', 'exit 0'], [0, 1])).resolves.toBeGreaterThan(0);
    await expect(timedRun('sh', ['-c', 'echo unreadable >&2; exit 2'], [0, 1])).rejects.toThrow(/exited 2, expected exit 0 or 1\nunreadable/);
    await expect(timedRun('sh', ['-c', 'exit 0'], [1])).rejects.toThrow(/exited 0/);
  });

  it('a run killed by a signal or that cannot start is an error', async () => {
    await expect(timedRun('sh', ['-c', 'kill -KILL $$'], [0, 1])).rejects.toThrow(/killed by SIGKILL/);
    await expect(timedRun('/nonexistent/kawatch-bench', [], [0])).rejects.toThrow(/could not run/);
  });
});

describe('pollUntil', () => {
  it('sleeps between looks and gives up after its bound, with the last error', async () => {
    let looks = 0;
    const poll = { timeoutMs: 200, intervalMs: 50 };
    await expect(
      pollUntil(
        'never',
        async () => {
          looks++;
          throw new Error('not there');
        },
        poll,
      ),
    ).rejects.toThrow(/timed out after 200 ms waiting for never: last error: Error: not there/);
    // One look per interval at most (plus the first and the one at the deadline): a busy loop would make thousands.
    expect(looks).toBeLessThanOrEqual(poll.timeoutMs / poll.intervalMs + 2);
    expect(looks).toBeGreaterThanOrEqual(2);
  });

  it('returns the first value a look gives', async () => {
    let looks = 0;
    await expect(pollUntil('three looks', async () => (++looks === 3 ? 'ready' : undefined), { timeoutMs: 10_000, intervalMs: 1 })).resolves.toBe('ready');
    expect(looks).toBe(3);
  });
});

describe('command-line options', () => {
  const argv = process.argv;
  afterEach(() => {
    process.argv = argv;
    vi.restoreAllMocks();
  });
  const given = (...args: string[]) => {
    process.argv = ['node', 'dist/bench/x.js', ...args];
  };

  it('refuses an argument no option asked for, before the benchmark starts anything, and names the options', () => {
    given('--minutes', '2', '--bogus');
    expect(option('--minutes', '5')).toBe('2');
    expect(flag('--no-vm')).toBe(false);
    expect(() => checkOptions('--json')).toThrow(/unknown argument "--bogus"; options: .*--minutes VALUE.*--no-vm.*--json VALUE/);
  });

  it("accepts the options it asked for, with values that begin with -- where one takes a value", () => {
    given('--rounds', '3', '--no-vm', '--json', '/tmp/x.json', '--minutes', '--7');
    expect(countOption('--rounds', 1)).toBe(3);
    expect(flag('--no-vm')).toBe(true);
    expect(() => checkOptions('--json')).not.toThrow();
  });

  it('--help lists the options and exits 0', () => {
    given('--help');
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    checkOptions();
    expect(exit).toHaveBeenCalledWith(0);
    expect(log.mock.calls[0]![0]).toMatch(/^options: .*--rounds VALUE/);
  });
});
