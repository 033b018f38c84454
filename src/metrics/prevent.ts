import { Counter, Gauge, type Registry } from 'prom-client';
import { carriedOut } from '../watchdog/journal.js';
import type { PreventStats } from '../watchdog/preventer.js';

/** watchdog.policy prevent (src/watchdog/preventer.ts), read at scrape time; shown only under that policy (registry.ts showParts). */
export function registerPreventMetrics(registry: Registry, stats: () => PreventStats | undefined): void {
  new Counter({
    name: 'kawatch_prevent_holds_total',
    help: "Instances held (track file) by policy prevent so that keepalived would not make a second MASTER: the MASTER's adverts stopped arriving while it confirmed it was MASTER.",
    labelNames: ['iname', 'dry_run'],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of carriedOut(stats()?.entries ?? [], 'hold')) if (e.action === 'hold') this.inc({ iname: e.iname, dry_run: String(e.dryRun) });
    },
  });
  new Gauge({
    name: 'kawatch_prevent_active',
    help: 'An instance held by policy prevent now (1), with the MASTER it keeps; the series is absent when nothing is held.',
    labelNames: ['iname', 'master'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [iname, hold] of stats()?.held ?? []) this.set({ iname, master: hold.master }, 1);
    },
  });
  new Gauge({
    name: 'kawatch_prevent_statement_age_seconds',
    help: "Age of each peer's freshest heartbeat statement (by this director's clock: since its request was sent); past watchdog.prevent.bound it confirms nothing.",
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const [peer, sentAt] of stats()?.statements ?? []) this.set({ peer }, (now - sentAt) / 1000);
    },
  });
}
