import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { createTask } from 'node-cron';
import { afterAll, describe, expect, it } from 'vitest';
import { CronSchedule, MISSED_AFTER_MS, wakeUp } from '../../src/jobs/cron-schedule.js';

/**
 * node-cron's own answer, from the task's matcher (not part of its typed API): the oracle. Its zone
 * is named, as process.env.TZ is: node-cron keeps the formatter of the default zone it saw first.
 */
function nodeCronNext(expression: string, after: number): number {
  const task = createTask(expression, () => {}, { timezone: process.env.TZ }) as unknown as { timeMatcher: { getNextMatch(d: Date): Date }; destroy(): void };
  const next = task.timeMatcher.getNextMatch(new Date(after)).getTime();
  task.destroy();
  return next;
}

const item = (min: number, max: number) =>
  fc.oneof(
    fc.constant('*'),
    fc.integer({ min, max }).map(String),
    fc.tuple(fc.integer({ min, max }), fc.integer({ min, max })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
    fc.integer({ min: 1, max: max - min + 1 }).map((step) => `*/${step}`),
  );
const list = (min: number, max: number) => fc.array(item(min, max), { minLength: 1, maxLength: 3 }).map((items) => items.join(','));
const expression = fc
  .tuple(
    list(0, 59),
    list(0, 59),
    list(0, 23),
    fc.oneof(list(1, 28), fc.constantFrom('L', '15W', 'LW', 'L-3', '1W', '31')),
    fc.oneof(list(1, 12), fc.constantFrom('jan,jul', '*')),
    fc.oneof(list(0, 7), fc.constantFrom('5L', '1#2', '0#5', 'mon-fri', '*')),
    fc.boolean(),
  )
  .map(([s, m, h, dom, mon, dow, seconds]) => (seconds ? [s, m, h, dom, mon, dow] : [m, h, dom, mon, dow]).join(' '));
// 2020 to 2040, the DST changes of each zone among them.
const anyTime = fc.integer({ min: 1_577_836_800_000, max: 2_208_988_800_000 });

/** A value or what was thrown: an expression that never matches throws in both. */
function outcome(next: () => number): number | string {
  try {
    return next();
  } catch (err) {
    return (err as Error).message;
  }
}

const originalTz = process.env.TZ;
afterAll(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

describe.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe'])('CronSchedule in %s', (tz) => {
  it('fires when node-cron fires, for any expression and any time', () => {
    process.env.TZ = tz;
    fc.assert(
      fc.property(expression, anyTime, (expr, after) => {
        expect(outcome(() => new CronSchedule(expr).next(after))).toBe(outcome(() => nodeCronNext(expr, after)));
      }),
      { numRuns: 150 },
    );
  });

  it('fires when node-cron fires around the DST changes, each second of the hours they move', () => {
    process.env.TZ = tz;
    for (const expr of ['*/30 * * * *', '0 8 * * *', '30 2 * * *', '15 1,2,3 * * *', '0 */15 * * * *']) {
      const schedule = new CronSchedule(expr);
      for (const day of [Date.UTC(2026, 2, 8), Date.UTC(2026, 2, 29), Date.UTC(2026, 9, 25), Date.UTC(2026, 10, 1), Date.UTC(2026, 3, 5)]) {
        for (let after = day - 6 * 3_600_000; after < day + 30 * 3_600_000; after += 7 * 60_000 + 13_000) expect(schedule.next(after), `${expr} after ${new Date(after).toISOString()}`).toBe(nodeCronNext(expr, after));
      }
    }
  });
});

describe('wakeUp', () => {
  const everyMinute = (after: number) => (Math.floor(after / 60_000) + 1) * 60_000;
  const slot = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);

  it('runs the slot when on time or at most a second late, and waits for the next', () => {
    expect(wakeUp(slot, slot, everyMinute)).toEqual({ run: slot, missed: undefined, next: slot + 60_000 });
    expect(wakeUp(slot, slot + MISSED_AFTER_MS, everyMinute)).toEqual({ run: slot, missed: undefined, next: slot + 60_000 });
  });

  it('waits again when woken early (the clock went back)', () => {
    expect(wakeUp(slot, slot - 5000, everyMinute)).toEqual({ missed: undefined, next: slot });
  });

  it('misses every slot it woke too late for, and runs none of them', () => {
    expect(wakeUp(slot, slot + 2000, everyMinute)).toEqual({ missed: slot, next: slot + 60_000 });
    expect(wakeUp(slot, slot + 7 * 86_400_000 + 30_000, everyMinute)).toEqual({ missed: slot, next: slot + 7 * 86_400_000 + 60_000 });
  });

  it('runs a later slot within the second after missing the earlier ones', () => {
    expect(wakeUp(slot, slot + 3_600_000, everyMinute)).toEqual({ run: slot + 3_600_000, missed: slot, next: slot + 3_660_000 });
  });

  it('misses a slot the next one has already followed, even within the second', () => {
    const everySecond = (after: number) => (Math.floor(after / 1000) + 1) * 1000;
    expect(wakeUp(slot, slot + 1000, everySecond)).toEqual({ run: slot + 1000, missed: slot, next: slot + 2000 });
  });
});

describe('the daemon without Intl date formatting', () => {
  const SRC = join(import.meta.dirname, '../../src');
  /** Commands that run outside the daemon. */
  const OUTSIDE_THE_DAEMON = ['lab', 'lint', 'doctor', 'dashboards', 'cli'];
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return dir === SRC && OUTSIDE_THE_DAEMON.includes(entry.name) ? [] : sources(path);
      return entry.name.endsWith('.ts') ? [path] : [];
    });

  // Their first use holds ICU's formatting data and code for good: MBs of the idle daemon's RSS (bench/memory.ts).
  it("takes only node-cron's reading of expressions, and formats no date through Intl", () => {
    const offenders: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
      const name = relative(SRC, file);
      for (const m of text.matchAll(/^import\s+(?!type\b)([^;]*?)\s+from\s+'node-cron'/gm)) {
        const names = m[1]!.replace(/[{}]/g, '').split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('type '));
        const scheduling = names.filter((n) => !['parse', 'validate', 'validateDetailed'].includes(n));
        if (scheduling.length) offenders.push(`${name}: imports ${scheduling.join(', ')} from node-cron`);
      }
      for (const m of text.matchAll(/\bIntl\.\w+|\.toLocale\w*String\b/g)) offenders.push(`${name}: ${m[0]}`);
    }
    expect(offenders).toEqual([]);
  });
});
