import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One action of the watchdog, as written to the journal before it is carried out. */
export interface JournalEntry {
  at: number;
  action: 'demote' | 'restore' | 'stop';
  iname: string;
  vrid?: number;
  /** The director that stays MASTER. */
  winner?: string;
  reason: string;
  dryRun: boolean;
  /** For a demotion: how long to wait before trying to restore. */
  restoreAfterMs?: number;
  /** Self-fencing: this node could reach neither its peers nor the witness; restored when it can again. */
  isolation?: boolean;
}

/**
 * Append-only JSON lines on disk. The watchdog reads it at start, so an action is never
 * repeated after a restart and a demotion is still restored by the daemon that comes back.
 */
export class Journal {
  constructor(readonly file: string) {}

  async read(): Promise<{ entries: JournalEntry[]; problems: string[] }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
      throw err;
    }
    const entries: JournalEntry[] = [];
    const problems: string[] = [];
    text.split('\n').forEach((line, index) => {
      if (!line.trim()) return;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (typeof e.at !== 'number' || !['demote', 'restore', 'stop'].includes(e.action) || typeof e.iname !== 'string') throw new Error('not a journal entry');
        entries.push(e);
      } catch (err) {
        // A torn last line (crash mid-write) must not stop the watchdog; it is reported and skipped.
        problems.push(`${this.file}:${index + 1}: ${(err as Error).message}`);
      }
    });
    return { entries, problems };
  }

  async append(entry: JournalEntry): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }
}
