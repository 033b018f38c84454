import fc from 'fast-check';
import cron from 'node-cron';
import { describe, expect, it } from 'vitest';
import { cronProblem } from '../../src/config/cron.js';

const BOUNDS = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
] as const;

/** A field node-cron can expand cheaply: *, N or N-M within the field's bounds, each with an optional step. */
function boundedField([min, max]: readonly [number, number]): fc.Arbitrary<string> {
  const value = fc.integer({ min, max });
  const item = fc.tuple(
    fc.oneof(fc.constant('*'), value.map(String), fc.tuple(value, value).map(([a, b]) => `${a}-${b}`)),
    fc.option(fc.integer({ min: 1, max: max - min + 1 }), { nil: undefined }),
  ).map(([base, step]) => (step === undefined || /^\d+$/.test(base) ? base : `${base}/${step}`));
  return fc.array(item, { minLength: 1, maxLength: 3 }).map((items) => items.join(','));
}

describe('cronProblem', () => {
  it('accepts node-cron expressions: numbers, ranges, steps, lists, names, modifiers and nicknames', () => {
    for (const e of ['0 8 * * *', '*/30 * * * *', '0 8 * * mon-fri', '0 8 1,15 jan-mar *', '*/10 * * * * *', '0 0 L * *', '0 0 15W * *', '0 0 * * 5L', '0 0 * * 1#2', '0 0 * * 7', '@daily']) {
      expect(cronProblem(e), e).toBeUndefined();
    }
  });

  it('refuses, with what is expected, ranges and steps no field has, before node-cron expands them', () => {
    expect(cronProblem('*4294967296/30 * * * *')).toBe('minute "*4294967296/30" is not a cron field: expected *, N or N-M, each with an optional /STEP, or a list of them (N in 0-59)');
    expect(cronProblem('0-4294967296 * * * *')).toBe('minute 4294967296 is out of range: expected 0-59');
    expect(cronProblem('0 0-99999999999999999999 * * *')).toBe('hour 99999999999999999999 is out of range: expected 0-23');
    expect(cronProblem('*/0 * * * *')).toBe('minute step 0 is out of range: expected 1-60');
    expect(cronProblem('0 */4294967296 * * *')).toBe('hour step 4294967296 is out of range: expected 1-24');
    expect(cronProblem('5/15 * * * *')).toMatch(/a step needs \* or a range before it, e.g. "\*\/15" or "5-59\/15"/);
    expect(cronProblem('0 8 * smarch *')).toMatch(/month "smarch" is neither a number in 1-12 nor a name such as "jan"/);
    expect(cronProblem('every morning')).toMatch(/has 2 fields: expected 5 .* or 6/);
    expect(cronProblem(`${'1,'.repeat(100)}1 * * * *`)).toMatch(/at most 200/);
    expect(cronProblem('0 0 31 2 *')).toMatch(/impossible day of month/);
  });

  it('agrees with node-cron on every expression it can expand cheaply', () => {
    fc.assert(
      fc.property(fc.tuple(...BOUNDS.map(boundedField)), fc.boolean(), (fields, seconds) => {
        const expression = (seconds ? ['*/5', ...fields] : fields).join(' ');
        expect(cronProblem(expression) === undefined).toBe(cron.validate(expression));
      }),
      { numRuns: 500 },
    );
  });

  it('answers any text with a verdict, never an exception', () => {
    const cronish = fc.string({ unit: fc.constantFrom(...'0123456789*/-,#?LW@ \tjanmonsu'.split('')), maxLength: 60 });
    fc.assert(
      fc.property(fc.oneof(cronish, fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ minLength: 190, maxLength: 250 })), (expression) => {
        const problem = cronProblem(expression);
        expect(problem === undefined || problem.length > 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
