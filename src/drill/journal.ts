import { z } from 'zod';
import { JsonLinesFile } from '../core/json-lines.js';
import { count, epochMs, name } from '../core/persisted.js';
import { ABORT_REASONS, DRILL_MODES } from './plan.js';

/**
 * Every step of a drill, written before it is taken: a daemon that comes back reads the journal
 * and restores a drill left unfinished, never repeats one.
 */

const id = z.string().regex(/^[0-9a-z-]{1,64}$/, { message: 'expected a drill id' });
const address = z.union([z.ipv4(), z.ipv6()]);

export const probeResultSchema = z.strictObject({
  target: z.string().max(2048),
  attempts: count,
  failures: count,
  /** Failed tries in a row, added up as time: how long the service was out through the VIP. */
  outageMs: count,
  longestOutageMs: count,
});
export type ProbeResult = z.infer<typeof probeResultSchema>;

export const DRILL_OUTCOMES = ['success', 'aborted', 'refused'] as const;

export const drillReportSchema = z.strictObject({
  id,
  node: name,
  instance: name,
  from: name,
  to: name,
  mode: z.enum(DRILL_MODES),
  startedAt: epochMs,
  endedAt: epochMs,
  outcome: z.enum(DRILL_OUTCOMES),
  /** Why it stopped early (aborted), or why it never began (refused). */
  reason: z.enum([...ABORT_REASONS, 'restart', 'unhealthy']).optional(),
  detail: z.array(z.string().max(4096)).max(64).default([]),
  /** From the MASTER stepping down to the new MASTER holding every VIP, seen by every director. */
  failoverMs: count.optional(),
  /** The same for the way back. */
  failbackMs: count.optional(),
  /** Advert intervals that passed without a MASTER holding the VIP. */
  advertsLost: count.optional(),
  /** keepalived's own bound for the move: one advert interval (steps down), 3 × advert_int + skew (dies). */
  boundMs: count,
  probe: probeResultSchema.optional(),
  /** The instance was left on the new MASTER (--stay). */
  stayed: z.boolean().default(false),
  /** What the drill saw that it did not expect. */
  unexpected: z.array(z.string().max(4096)).max(64).default([]),
});
export type DrillReport = z.infer<typeof drillReportSchema>;

export const drillEntrySchema = z.discriminatedUnion('step', [
  z.strictObject({
    step: z.literal('start'),
    id,
    at: epochMs,
    instance: name,
    from: name,
    to: name,
    mode: z.enum(DRILL_MODES),
    stay: z.boolean(),
    vips: z.array(address).max(1024),
  }),
  z.strictObject({ step: z.literal('moved'), id, at: epochMs, failoverMs: count }),
  z.strictObject({ step: z.literal('restoring'), id, at: epochMs, why: z.string().max(4096) }),
  z.strictObject({ step: z.literal('end'), id, at: epochMs, report: drillReportSchema }),
]);
export type DrillEntry = z.infer<typeof drillEntrySchema>;
export type DrillStart = Extract<DrillEntry, { step: 'start' }>;

export class DrillJournal extends JsonLinesFile<DrillEntry> {
  constructor(file: string) {
    super(file, drillEntrySchema, 'drill journal entry');
  }
}

/** What a daemon owes its drills when it starts: the unfinished ones, each to restore once. */
export interface Replay {
  restore: DrillStart[];
  reports: DrillReport[];
}

/**
 * Reads the journal back: a drill with a start and no end is restored (never started again,
 * whichever step it reached); one that ended is a report. An entry without its start is ignored.
 */
export function replay(entries: readonly DrillEntry[]): Replay {
  const started = new Map<string, DrillStart>();
  const ended = new Set<string>();
  const reports: DrillReport[] = [];
  for (const e of entries) {
    if (e.step === 'start') started.set(e.id, e);
    else if (e.step === 'end' && !ended.has(e.id)) {
      ended.add(e.id);
      reports.push(e.report);
    }
  }
  return { restore: [...started.values()].filter((s) => !ended.has(s.id)), reports };
}

/** The figures the metrics show, from the reports, oldest first. */
export interface DrillSummary {
  lastSuccessAt?: number;
  lastFailoverMs?: number;
  failures: Partial<Record<NonNullable<DrillReport['reason']>, number>>;
  last?: DrillReport;
}

export function summarize(reports: readonly DrillReport[]): DrillSummary {
  const summary: DrillSummary = { failures: {} };
  for (const r of reports) {
    summary.last = r;
    if (r.outcome === 'success') {
      summary.lastSuccessAt = r.endedAt;
      if (r.failoverMs !== undefined) summary.lastFailoverMs = r.failoverMs;
    } else {
      // A refusal counts too: a scheduled drill that cannot run says the group is not ready for a failover.
      const reason = r.reason ?? (r.outcome === 'refused' ? 'unhealthy' : 'error');
      summary.failures[reason] = (summary.failures[reason] ?? 0) + 1;
    }
  }
  return summary;
}

/** The summary of earlier reports followed by later ones: counts add up, the later figures win. */
export function mergeSummary(earlier: DrillSummary, later: DrillSummary): DrillSummary {
  const failures = { ...earlier.failures };
  for (const [reason, n] of Object.entries(later.failures) as [keyof DrillSummary['failures'], number][]) failures[reason] = (failures[reason] ?? 0) + n;
  return {
    lastSuccessAt: later.lastSuccessAt ?? earlier.lastSuccessAt,
    lastFailoverMs: later.lastFailoverMs ?? earlier.lastFailoverMs,
    failures,
    last: later.last ?? earlier.last,
  };
}
