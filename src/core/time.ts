/** The largest epoch-ms value a JavaScript Date holds (ECMA-262 §21.4.1.1). */
const LAST_REPRESENTABLE_MS = 8.64e15;

/**
 * Whether `ms` can be a time kawatch saw: a finite epoch-ms value a Date can hold, not before
 * 1970. Anything else came from a broken clock or a damaged input.
 */
export function isShowableTime(ms: number): boolean {
  return Number.isFinite(ms) && ms >= 0 && ms <= LAST_REPRESENTABLE_MS;
}

/**
 * An epoch-ms time for people to read, as ISO 8601 UTC (`2026-05-04T10:00:00.123Z`, or without
 * the milliseconds). Total: a value no clock shows is rendered as such (`invalid time (1e+21)`),
 * never thrown, so one bad number cannot stop a mail, a page or a digest.
 */
export function formatTime(ms: number, precision: 'ms' | 's' = 'ms'): string {
  if (!isShowableTime(ms)) return `invalid time (${Math.abs(ms) >= 1e16 ? ms.toExponential() : String(ms)})`;
  const iso = new Date(ms).toISOString();
  return precision === 'ms' ? iso : iso.replace(/\.\d{3}Z$/, 'Z');
}
