import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { z } from 'zod';
import { firstIssue } from './persisted.js';
import { quarantineFile, quarantineRecords } from './quarantine.js';
import { appendChecked, checkDirectory, readChecked, UnsafeFileError, writeAtomic } from './safe-file.js';

/** Years of records at any rate kawatch writes them; a larger file is not one kawatch wrote. */
const MAX_BYTES = 64 * 1024 * 1024;

/**
 * An append-only file of JSON lines, each checked against a schema when read back: the daemon's
 * memory of what it did (the watchdog's actions, the drills), read at start so nothing is lost or
 * repeated across a restart.
 */
export class JsonLinesFile<T> {
  constructor(
    readonly file: string,
    private readonly schema: z.ZodType<T>,
    /** What one record is, for the problems: "journal entry". */
    private readonly what: string,
  ) {}

  /**
   * Lines that are not records (a torn last line after a crash, a hand edit, a planted record)
   * are moved to `NAME.bad-STAMP` and the file rewritten without them: they are reported once,
   * never acted upon, and do not stop the part that reads them.
   */
  async read(): Promise<{ entries: T[]; problems: string[] }> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await checkDirectory(dirname(this.file));
    let text: string;
    try {
      text = (await readChecked(this.file, { maxBytes: MAX_BYTES })).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
      if (!(err instanceof UnsafeFileError)) throw err;
      // A link, a FIFO or a giant in its place is not ours: set aside, and a new file begins.
      const kept = await quarantineFile(this.file, basename(this.file));
      return { entries: [], problems: [`${err.message}; moved to ${kept}, starting a new file`] };
    }
    const entries: T[] = [];
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

  /** Adds the record a line holds to `entries`; returns why not, if it is not one. */
  private judge(line: string, entries: T[]): string | undefined {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      return (err as Error).message;
    }
    const parsed = this.schema.safeParse(value);
    if (!parsed.success) return `not a ${this.what}: ${firstIssue(parsed.error)}`;
    entries.push(parsed.data);
    return undefined;
  }

  async append(entry: T): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await appendChecked(this.file, `${JSON.stringify(entry)}\n`);
  }
}
