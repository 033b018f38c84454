import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Change } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';
import type { Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';
import { registerWatchdogMetrics } from './watchdog.js';
import { registerKawatchMetrics } from './kawatch.js';
import { registerCapabilityMetrics, registerKeepalivedMetrics } from './keepalived.js';
import { registerTrackingMetrics } from './keepalived-tracking.js';
import type { KeepalivedCapabilities } from '../keepalived/capabilities.js';
import { registerMailMetrics } from './mail.js';
import type { MailStatsView } from '../mail/stats.js';
import type { DrillSummary } from '../drill/journal.js';
import { registerDrillMetrics } from './drill.js';
import type { WireListener } from '../model/wire.js';
import { registerWireMetrics } from './wire.js';
import type { PreventStats } from '../watchdog/preventer.js';
import { registerPreventMetrics } from './prevent.js';

export interface MetricsOptions {
  version: string;
  /** process_* and nodejs_* metrics of the daemon itself; off for byte-stable golden output. */
  processMetrics: boolean;
  /** The watchdog's verdicts now; metrics are computed from them at scrape time. */
  verdicts: () => Verdict[];
  /** The watchdog's action journal. */
  actions: () => readonly JournalEntry[];
  /** The mailer's counters, when mail is configured. */
  mail?: MailStatsView;
  /** What the running keepalived can do, once detected. */
  keepalivedCapabilities?: () => KeepalivedCapabilities | undefined;
  /** The failover drills' results, and whether jobs.drill schedules them. */
  drills?: { summary: () => DrillSummary; scheduled: () => boolean };
  /** The VRRP observer of the running configuration, when there is one. */
  wire?: () => WireListener | undefined;
  /** watchdog.policy prevent's holds, when that is the policy. */
  prevent?: () => PreventStats | undefined;
}

export interface Metrics {
  registry: Registry;
  /** Counts a transition as it happens: transitions are events, not inventory. */
  countTransition: (change: Change) => void;
}

export function createMetrics(store: StateStore, options: MetricsOptions): Metrics {
  const registry = new Registry();
  const countTransition = registerKeepalivedMetrics(registry, store);
  registerTrackingMetrics(registry, store);
  registerKawatchMetrics(registry, store, options.version);
  if (options.keepalivedCapabilities) registerCapabilityMetrics(registry, options.keepalivedCapabilities);
  registerWatchdogMetrics(registry, store, options.verdicts, options.actions);
  if (options.mail) registerMailMetrics(registry, options.mail);
  if (options.drills) registerDrillMetrics(registry, options.drills.summary, options.drills.scheduled);
  if (options.wire) registerWireMetrics(registry, store, options.wire);
  if (options.prevent) registerPreventMetrics(registry, options.prevent);
  if (options.processMetrics) {
    // The event-loop delay histogram samples at this resolution: prom-client's 10 ms default wakes an
    // idle daemon 100 times a second, 0.7 % of a core (bench/memory.ts); 100 ms still shows any stall that matters.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
    // prom-client types these totals as gauges; promtool rightly objects to a gauge named *_total.
    // The per-type series (nodejs_active_handles{type=...}) carry the same information.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  return { registry, countTransition };
}
