import { z } from 'zod';

/**
 * Building blocks for the schemas of kawatch's own state files. What kawatch wrote itself is still
 * checked when read back: the file may be torn, hand-edited or planted, and a value that passes
 * here (a time, a count) is one the code after it can use without a second thought.
 */

const DAY_MS = 86_400_000;

/** A time in epoch ms, no later than a day from now: a stamp beyond that would hold things back forever. */
export const epochMs = z
  .number()
  .int()
  .nonnegative()
  .refine((t) => t <= Date.now() + DAY_MS, { message: 'a time more than a day in the future' });

export const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** A name as the state holds it: bounded, so one record cannot carry megabytes into a mail subject. */
export const name = z.string().max(1024);

/** `path: why` for the first problem zod found, for a log line. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  return `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`;
}
