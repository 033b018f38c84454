import { Counter, Gauge, type Registry } from 'prom-client';
import type { Snapshot } from '../state/model.js';

export type Labels<L extends string> = Record<L, string | number>;
export type Emit<L extends string> = (labels: Labels<L>, value: number) => void;

interface Spec<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Called at scrape time with the current snapshot: inventory is rebuilt, never left stale. */
  fill: (snapshot: Snapshot, emit: Emit<L>) => void;
}

/** A gauge whose series are rebuilt from the state snapshot on every scrape. */
export function snapshotGauge<L extends string>(registry: Registry, read: () => Snapshot, spec: Spec<L>): void {
  new Gauge<L>({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      spec.fill(read(), (labels, value) => this.set(labels, value));
    },
  });
}

/**
 * A counter that mirrors a counter kept elsewhere (keepalived's own statistics, the store's
 * tallies): rebuilt from the snapshot on every scrape, so it is exact and never double-counts.
 */
export function snapshotCounter<L extends string>(registry: Registry, read: () => Snapshot, spec: Spec<L>): void {
  new Counter<L>({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      spec.fill(read(), (labels, value) => this.inc(labels, value));
    },
  });
}
