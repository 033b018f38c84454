import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { z } from 'zod';
import { count, epochMs, firstIssue, name } from '../core/persisted.js';
import { quarantineFile, quarantineRecords } from '../core/quarantine.js';
import { appendChecked, checkDirectory, readChecked, UnsafeFileError, writeAtomic } from '../core/safe-file.js';

/** One action of the watchdog, as written to the journal before it is carried out. */
export const journalEntrySchema = z.object({
  at: epochMs,
  action: z.enum(['demote', 'restore', 'stop']),
  iname: name,
  vrid: z.number().int().min(1).max(255).optional(),
  /** The director that stays MASTER. */
  winner: name.optional(),
  reason: z.string().max(64 * 1024),
  dryRun: z.boolean(),
  /** For a demotion: how long to wait before trying to restore. */
  restoreAfterMs: count.optional(),
  /** Self-fencing: this node could reach neither its peers nor the witness; restored when it can again. */
  isolation: z.boolean().optional(),
});
export type JournalEntry = z.infer<typeof journalEntrySchema>;

/** Years of actions at the hourly limit; a larger journal is not one kawatch wrote. */
const MAX_JOURNAL_BYTES = 64 * 1024 * 1024;

/**
 * Append-only JSON lines on disk. The watchdog reads it at start, so an action is never
 * repeated after a restart and a demotion is still restored by the daemon that comes back.
 */
export class Journal {
  constructor(readonly file: string) {}

  /**
   * Lines that are not journal entries (a torn last line after a crash, a hand edit, a planted
   * record) are moved to `actions.jsonl.bad-STAMP` and the journal rewritten without them: they
   * are reported once, never acted upon, and do not stop the watchdog.
   */
  async read(): Promise<{ entries: JournalEntry[]; problems: string[] }> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await checkDirectory(dirname(this.file));
    let text: string;
    try {
      text = (await readChecked(this.file, { maxBytes: MAX_JOURNAL_BYTES })).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
      if (!(err instanceof UnsafeFileError)) throw err;
      // A link, a FIFO or a giant in its place is not the journal: set aside, and a new one begins.
      const kept = await quarantineFile(this.file, basename(this.file));
      return { entries: [], problems: [`${err.message}; moved to ${kept}, starting a new journal`] };
    }
    const entries: JournalEntry[] = [];
    const good: string[] = [];
    const bad: string[] = [];
    const problems: string[] = [];
    text.split('\n').forEach((line, index) => {
      if (!line.trim()) return;
      const why = this.judge(line, entries);
      if (why === undefined) good.push(line);
      else {
        bad.push(line);
        problems.push(`${this.file}:${index + 1}: ${why}`);
      }
    });
    if (bad.length) {
      const kept = await quarantineRecords(this.file, basename(this.file), bad);
      await writeAtomic(this.file, good.map((l) => `${l}\n`).join(''));
      problems.push(`${bad.length} line(s) moved to ${kept}`);
    }
    return { entries, problems };
  }

  /** Adds the entry a line holds to `entries`; returns why not, if it is not one. */
  private judge(line: string, entries: JournalEntry[]): string | undefined {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      return (err as Error).message;
    }
    const parsed = journalEntrySchema.safeParse(value);
    if (!parsed.success) return `not a journal entry: ${firstIssue(parsed.error)}`;
    entries.push(parsed.data);
    return undefined;
  }

  async append(entry: JournalEntry): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await appendChecked(this.file, `${JSON.stringify(entry)}\n`);
  }
}
