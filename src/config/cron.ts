import { validateDetailed } from 'node-cron';

/**
 * A cron expression checked field by field before node-cron sees it: node-cron expands every
 * range into a list of its values, so `*4294967296/30` would make it build an array of billions
 * and end the process. Here every number is bounded first; node-cron's own check then runs on
 * what can only expand to a few hundred values.
 */

interface Field {
  name: string;
  min: number;
  max: number;
  /** Names node-cron accepts for the values, lower case, the first for `min`. */
  names?: readonly (readonly string[])[];
  /** node-cron's modifiers for the field (L, W, #, ?), as whole items. */
  special?: RegExp;
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

const SECOND: Field = { name: 'second', min: 0, max: 59 };
const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31, special: /^(\?|L|L-\d{1,2}|(\d{1,2}|L)W)$/i },
  { name: 'month', min: 1, max: 12, names: MONTHS.map((m) => [m, m.slice(0, 3)]) },
  // 7 is Sunday too.
  { name: 'day of week', min: 0, max: 7, names: WEEKDAYS.map((d) => [d, d.slice(0, 3)]), special: /^(\?|[0-7]L|[0-7]#[1-5])$/i },
];

const NICKNAMES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const MAX_LENGTH = 200;
const MAX_ITEMS = 60;
const ITEM = /^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:\/([0-9]+))?$/i;

const EXAMPLE = 'e.g. "*/30 * * * *" (every 30 minutes) or "0 8 * * mon-fri"';

/** The value of one number or name of `field`, or what is wrong with it. */
function valueOf(token: string, field: Field): number | string {
  if (/^\d+$/.test(token)) {
    const n = token.length > 6 ? Number.POSITIVE_INFINITY : Number(token);
    return n >= field.min && n <= field.max ? n : `${field.name} ${token} is out of range: expected ${field.min}-${field.max}`;
  }
  const index = field.names?.findIndex((names) => names.includes(token.toLowerCase())) ?? -1;
  if (index >= 0) return field.min + index;
  return field.names
    ? `${field.name} "${token}" is neither a number in ${field.min}-${field.max} nor a name such as "${field.names[0]![1]}"`
    : `${field.name} "${token}" is not a number: expected ${field.min}-${field.max}`;
}

function checkItem(item: string, field: Field): string | undefined {
  if (field.special?.test(item)) return undefined;
  const m = ITEM.exec(item);
  if (!m) return `${field.name} "${item}" is not a cron field: expected *, N or N-M, each with an optional /STEP, or a list of them (N in ${field.min}-${field.max})`;
  const [, star, first, last, step] = m;
  for (const token of [first, last]) {
    if (token === undefined) continue;
    const value = valueOf(token, field);
    if (typeof value === 'string') return value;
  }
  if (step !== undefined) {
    const span = field.max - field.min + 1;
    if (star === undefined && last === undefined) return `${field.name} "${item}": a step needs * or a range before it, e.g. "*/${step}" or "${first}-${field.max}/${step}"`;
    const n = step.length > 6 ? Number.POSITIVE_INFINITY : Number(step);
    if (n < 1 || n > span) return `${field.name} step ${step} is out of range: expected 1-${span}`;
  }
  return undefined;
}

/** What is wrong with a cron expression (node-cron syntax), or undefined when it is a valid one. */
export function cronProblem(expression: string): string | undefined {
  if (expression.length > MAX_LENGTH) return `a cron expression of ${expression.length} characters: expected at most ${MAX_LENGTH}, ${EXAMPLE}`;
  const trimmed = expression.trim();
  if (NICKNAMES.has(trimmed.toLowerCase())) return undefined;
  const parts = trimmed.split(/ +/).filter(Boolean);
  if (parts.length !== 5 && parts.length !== 6) return `"${expression}" has ${parts.length} field${parts.length === 1 ? '' : 's'}: expected 5 (minute hour day-of-month month day-of-week) or 6 (with seconds first), ${EXAMPLE}`;
  const fields = parts.length === 6 ? [SECOND, ...FIELDS] : FIELDS;
  for (const [i, part] of parts.entries()) {
    const field = fields[i]!;
    const items = part.split(',');
    if (items.length > MAX_ITEMS) return `${field.name} lists ${items.length} values: expected at most ${MAX_ITEMS}`;
    for (const item of items) {
      const problem = checkItem(item, field);
      if (problem) return problem;
    }
  }
  // Every range is bounded now: node-cron's own rules (a 31st of February, W after a list) are cheap to ask.
  const detailed = validateDetailed(trimmed);
  if (!detailed.valid) return `"${expression}": ${detailed.errors.map((e) => e.message).join('; ')}; ${EXAMPLE}`;
  return undefined;
}
