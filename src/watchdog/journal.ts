import { z } from 'zod';
import { JsonLinesFile } from '../core/json-lines.js';
import { count, epochMs, name } from '../core/persisted.js';

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

/**
 * Append-only JSON lines on disk. The watchdog reads it at start, so an action is never
 * repeated after a restart and a demotion is still restored by the daemon that comes back.
 */
export class Journal extends JsonLinesFile<JournalEntry> {
  constructor(file: string) {
    super(file, journalEntrySchema, 'journal entry');
  }
}
