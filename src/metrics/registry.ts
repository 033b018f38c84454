import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';
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
  /** The mailer's counters; they outlive the mailer (a reload rebuilds it). */
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

/** The parts a configuration may leave out whose families are shown only while the running configuration has them. */
export const OPTIONAL_PARTS = ['mail', 'wire', 'prevent'] as const;
export type OptionalPart = (typeof OPTIONAL_PARTS)[number];

export interface Metrics {
  registry: Registry;
  /** Counts a transition as it happens: transitions are events, not inventory. */
  countTransition: (change: Change) => void;
  /**
   * Shows the families of these parts and hides the other optional parts', their values kept. The
   * registry outlives reloads: this is called at every start of the parts, the first one and each
   * reload alike, so what is shown never depends on the configuration the daemon started with.
   */
  showParts: (parts: ReadonlySet<OptionalPart>) => void;
}

export function createMetrics(store: StateStore, options: MetricsOptions): Metrics {
  const registry = new Registry();
  const countTransition = registerKeepalivedMetrics(registry, store);
  registerTrackingMetrics(registry, store);
  registerKawatchMetrics(registry, store, options.version);
  if (options.keepalivedCapabilities) registerCapabilityMetrics(registry, options.keepalivedCapabilities);
  registerWatchdogMetrics(registry, store, options.verdicts, options.actions);
  if (options.drills) registerDrillMetrics(registry, options.drills.summary, options.drills.scheduled);
  const { mail, wire, prevent } = options;
  const optional: Record<OptionalPart, Family[]> = {
    mail: familiesOf(registry, mail && ((r) => registerMailMetrics(r, mail))),
    wire: familiesOf(registry, wire && ((r) => registerWireMetrics(r, store, wire))),
    prevent: familiesOf(registry, prevent && ((r) => registerPreventMetrics(r, prevent))),
  };
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
  const showParts = (parts: ReadonlySet<OptionalPart>) => {
    for (const part of OPTIONAL_PARTS) {
      for (const { name, metric } of optional[part]) {
        const shown = registry.getSingleMetric(name) !== undefined;
        if (parts.has(part) && !shown) registry.registerMetric(metric);
        else if (!parts.has(part) && shown) registry.removeSingleMetric(name);
      }
    }
  };
  return { registry, countTransition, showParts };
}

/** The families `register` adds to the registry (none without it), so that they can be hidden and shown again. */
function familiesOf(registry: Registry, register: ((registry: Registry) => void) | undefined): Family[] {
  if (!register) return [];
  const before = new Set(registry.getMetricsAsArray().map((m) => m.name));
  register(registry);
  return registry
    .getMetricsAsArray()
    .filter((m) => !before.has(m.name))
    .map(({ name }) => ({ name, metric: registry.getSingleMetric(name)! }));
}

interface Family {
  name: string;
  metric: Metric;
}
