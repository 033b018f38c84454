import { z } from 'zod';
import { JsonLinesFile } from '../core/json-lines.js';
import { count, epochMs, name } from '../core/persisted.js';

/**
 * One action of the watchdog, as written to the journal before it is carried out. `cancel` ends a
 * demotion that was journaled but never carried out: keepalived left MASTER on its own meanwhile.
 */
export const journalEntrySchema = z.object({
  at: epochMs,
  action: z.enum(['demote', 'restore', 'stop', 'cancel']),
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
 * A journal without the actions a cancel withdrew (a demote, or policy prevent's hold, journaled
 * and then found overtaken by keepalived before it was carried out): what was done, or with
 * dry_run would have been. The counters count these, so a withdrawn action is never counted.
 */
export function carriedOut<E extends { action: string; iname: string }>(entries: readonly E[], withdrawable: E['action']): E[] {
  const withdrawn = new Set<E>();
  const open = new Map<string, E>();
  for (const e of entries) {
    const last = open.get(e.iname);
    if (e.action === 'cancel' && last) withdrawn.add(last);
    if (e.action === withdrawable) open.set(e.iname, e);
    else open.delete(e.iname);
  }
  return entries.filter((e) => !withdrawn.has(e));
}

/**
 * Append-only JSON lines on disk. The watchdog reads it at start, so an action is never
 * repeated after a restart and a demotion is still restored by the daemon that comes back.
 */
export class Journal extends JsonLinesFile<JournalEntry> {
  constructor(file: string) {
    super(file, journalEntrySchema, 'journal entry');
  }
}
