import { Counter, Gauge, type Registry } from 'prom-client';
import { ABORT_REASONS } from '../drill/plan.js';
import type { DrillSummary } from '../drill/journal.js';

/** Every reason a drill can fail for, so each series exists from the start (rate() sees the first failure). */
const FAILURE_REASONS = [...ABORT_REASONS, 'restart', 'unhealthy'] as const;

/** The drills' results, from the journal's reports at scrape time: they outlive restarts like the journal. */
export function registerDrillMetrics(registry: Registry, summary: () => DrillSummary, scheduled: () => boolean): void {
  new Gauge({
    name: 'kawatch_drill_scheduled',
    help: 'Whether jobs.drill schedules failover drills on this director (1) or not (0): the drill alert looks only where they are.',
    registers: [registry],
    collect() {
      this.set(scheduled() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'kawatch_drill_last_success_timestamp_seconds',
    help: 'When the last failover drill of this director succeeded (moved and, unless --stay, back); 0 before the first.',
    registers: [registry],
    collect() {
      this.set((summary().lastSuccessAt ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'kawatch_drill_last_failover_seconds',
    help: 'In the last successful drill: from the MASTER stepping down to the new MASTER holding every VIP, seen by every director; 0 before the first.',
    registers: [registry],
    collect() {
      const ms = summary().lastFailoverMs;
      this.reset();
      if (ms !== undefined) this.set(ms / 1000);
    },
  });
  new Counter({
    name: 'kawatch_drill_failures_total',
    help: 'Drills that were aborted and restored, or refused because the group was not healthy, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const { failures } = summary();
      this.reset();
      for (const reason of FAILURE_REASONS) this.inc({ reason }, failures[reason] ?? 0);
    },
  });
}
