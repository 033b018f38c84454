import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTime, isShowableTime } from '../../src/core/time.js';

describe('formatTime', () => {
  it('writes a real time as ISO 8601 UTC, with or without milliseconds', () => {
    expect(formatTime(Date.parse('2026-11-22T10:00:00.123Z'))).toBe('2026-11-22T10:00:00.123Z');
    expect(formatTime(Date.parse('2026-11-22T10:00:00.123Z'), 's')).toBe('2026-11-22T10:00:00Z');
    expect(formatTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(formatTime(8.64e15)).toBe('+275760-09-13T00:00:00.000Z');
  });

  it('says that a time no clock shows is invalid, with the value', () => {
    expect(formatTime(1e20)).toBe('invalid time (1e+20)');
    expect(formatTime(1e23, 's')).toBe('invalid time (1e+23)');
    expect(formatTime(Number.NaN)).toBe('invalid time (NaN)');
    expect(formatTime(Number.POSITIVE_INFINITY)).toBe('invalid time (Infinity)');
    expect(formatTime(-1)).toBe('invalid time (-1)');
    expect(formatTime(8.64e15 + 1)).toBe('invalid time (8640000000000001)');
  });

  it('is total: every number gives a date a reader can parse back, or the word invalid', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer({ min: -1e16, max: 1e16 }), fc.constantFrom(-0, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MAX_VALUE)), fc.constantFrom('ms' as const, 's' as const), (ms, precision) => {
        const text = formatTime(ms, precision);
        if (isShowableTime(ms)) {
          expect(Date.parse(text) === (precision === 'ms' ? Math.floor(ms) : Math.floor(ms / 1000) * 1000)).toBe(true);
        } else {
          expect(text).toMatch(/^invalid time \(.+\)$/);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
