import { parse } from 'node-cron';

/**
 * When a cron expression fires, in this host's time zone, as node-cron fires it: node-cron reads
 * the expression (its fields, ranges and names, L, W and #), and the times are found here with
 * Date's own local time. node-cron's scheduler reads every time through Intl.DateTimeFormat, and
 * its first use holds ICU's formatting data and code for good: some 7 MB of an idle daemon's RSS
 * (bench/memory.ts, the jobs part) for two timers a day.
 */

/** How far node-cron looks ahead for a day that matches. */
const MAX_DAYS = 366 * 100;
/** node-cron's default: a slot found later than this is missed, not run. */
export const MISSED_AFTER_MS = 1000;

type Field = readonly (number | string)[];

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(ms: number): LocalParts {
  const d = new Date(ms);
  return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds() };
}

const offsetMinutes = (ms: number) => -new Date(ms).getTimezoneOffset();

/** A local wall-clock time as epoch ms, choosing as node-cron does in a DST gap or overlap. */
function localToEpoch(p: LocalParts): number {
  const guess = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const first = offsetMinutes(guess);
  const candidate1 = guess - first * 60_000;
  const second = offsetMinutes(candidate1);
  if (second === first) return candidate1;
  const candidate2 = guess - second * 60_000;
  const readsBack = (ms: number) => {
    const q = localParts(ms);
    return q.year === p.year && q.month === p.month && q.day === p.day && q.hour === p.hour && q.minute === p.minute && q.second === p.second;
  };
  if (readsBack(candidate1)) return candidate1;
  if (readsBack(candidate2)) return candidate2;
  return Math.max(candidate1, candidate2);
}

const lastDayOfMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();
const weekdayOf = (year: number, month: number, day: number) => new Date(Date.UTC(year, month - 1, day)).getUTCDay();

function nearestWeekday(year: number, month: number, target: number): number {
  const last = lastDayOfMonth(year, month);
  if (target < 1 || target > last) return -1;
  const weekday = weekdayOf(year, month, target);
  if (weekday === 6) return target === 1 ? target + 2 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

/** Day of month: numbers, L (the last day), NW / LW (the weekday nearest), L-N (N days before the last). */
function dayOfMonthMatches(field: Field, year: number, month: number, day: number): boolean {
  return field.some((value) => {
    if (value === day) return true;
    if (typeof value !== 'string') return false;
    if (value === 'L') return day === lastDayOfMonth(year, month);
    const weekday = /^(\d{1,2}|L)W$/.exec(value);
    if (weekday) return nearestWeekday(year, month, weekday[1] === 'L' ? lastDayOfMonth(year, month) : Number(weekday[1])) === day;
    const before = /^L-(\d{1,2})$/.exec(value);
    if (!before) return false;
    const target = lastDayOfMonth(year, month) - Number(before[1]);
    return target >= 1 && target === day;
  });
}

/** Day of week (0 Sunday): numbers, NL (the last such weekday of the month), N#K (its K-th one). */
function dayOfWeekMatches(field: Field, year: number, month: number, day: number): boolean {
  const weekday = weekdayOf(year, month, day);
  return field.some((value) => {
    if (value === weekday) return true;
    if (typeof value !== 'string') return false;
    const nth = /^([0-7])#([1-5])$/.exec(value);
    if (nth) return Number(nth[1]) % 7 === weekday && Math.floor((day - 1) / 7) + 1 === Number(nth[2]);
    const last = /^([0-7])L$/i.exec(value);
    return last !== null && Number(last[1]) % 7 === weekday && day + 7 > lastDayOfMonth(year, month);
  });
}

export class CronSchedule {
  private readonly seconds: number[];
  private readonly minutes: number[];
  private readonly hours: number[];
  private readonly daysOfMonth: Field;
  private readonly months: Field;
  private readonly daysOfWeek: Field;

  /** `expression`: a valid one (the configuration checked it); node-cron's parse throws otherwise. */
  constructor(expression: string) {
    const fields = parse(expression);
    const ascending = (values: Field) => (values as number[]).slice().sort((a, b) => a - b);
    this.seconds = ascending(fields.second);
    this.minutes = ascending(fields.minute);
    this.hours = ascending(fields.hour);
    this.daysOfMonth = fields.dayOfMonth;
    this.months = fields.month;
    this.daysOfWeek = fields.dayOfWeek;
  }

  private matches(ms: number): boolean {
    const p = localParts(ms);
    return this.seconds.includes(p.second) && this.minutes.includes(p.minute) && this.hours.includes(p.hour) && this.dayMatches(p.year, p.month, p.day);
  }

  private dayMatches(year: number, month: number, day: number): boolean {
    return this.months.includes(month) && dayOfMonthMatches(this.daysOfMonth, year, month, day) && dayOfWeekMatches(this.daysOfWeek, year, month, day);
  }

  /** The first time after `after` (epoch ms) that it fires, in whole seconds. */
  next(after: number): number {
    const base = Math.floor(after / 1000) * 1000;
    const from = localParts(base);
    let { year, month, day } = from;
    for (let i = 0; i < MAX_DAYS; i++) {
      if (this.dayMatches(year, month, day)) {
        const found = this.firstOnDay(year, month, day, i === 0 ? from : undefined, base);
        if (found !== undefined) return found;
      }
      const tomorrow = new Date(Date.UTC(year, month - 1, day + 1));
      [year, month, day] = [tomorrow.getUTCFullYear(), tomorrow.getUTCMonth() + 1, tomorrow.getUTCDate()];
    }
    throw new Error('Could not find next matching date within reasonable time range');
  }

  private firstOnDay(year: number, month: number, day: number, from: LocalParts | undefined, base: number): number | undefined {
    const fromSecond = from ? from.hour * 3600 + from.minute * 60 + from.second : -1;
    for (const hour of this.hours) {
      if (from && hour < from.hour) continue;
      for (const minute of this.minutes) {
        for (const second of this.seconds) {
          if (hour * 3600 + minute * 60 + second <= fromSecond) continue;
          const ms = localToEpoch({ year, month, day, hour, minute, second });
          if (ms > base && this.matches(ms)) return ms;
        }
      }
    }
    return undefined;
  }
}

/**
 * What a timer that waited for slot `expected` does when it wakes at `now` (whole seconds), as
 * node-cron's does: wait on when it woke early; run the slot when it is at most MISSED_AFTER_MS late
 * and the next slot has not come; otherwise the slot is missed, and so is any after it that is as
 * late. Pure.
 */
export function wakeUp(expected: number, now: number, next: (after: number) => number): { run?: number; missed?: number; next: number } {
  let slot = expected;
  let missed: number | undefined;
  // Every slot more than MISSED_AFTER_MS ago is missed: start from the first one within it.
  if (now - slot > MISSED_AFTER_MS) [missed, slot] = [slot, next(now - MISSED_AFTER_MS - 1000)];
  for (;;) {
    if (now < slot) return { missed, next: slot };
    const following = next(slot);
    const lateBy = now - slot;
    if (lateBy <= MISSED_AFTER_MS && lateBy < following - slot) return { run: slot, missed, next: following };
    missed ??= slot;
    slot = following;
  }
}
