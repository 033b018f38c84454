import { Counter, Gauge, type Registry } from 'prom-client';
import type { Snapshot } from '../state/snapshot.js';

export type Labels<L extends string> = Record<L, string | number>;
export type Emit<L extends string> = (labels: Labels<L>, value: number) => void;

interface Spec<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Called at scrape time with the current snapshot: inventory is rebuilt, never left stale. */
  fill: (snapshot: Snapshot, emit: Emit<L>) => void;
}

/**
 * A metric whose series are rebuilt from the state snapshot on every scrape. As a counter it
 * mirrors a counter kept elsewhere (keepalived's statistics, the store's tallies), so it is
 * exact and never double-counts.
 */
function snapshotMetric<L extends string>(type: 'gauge' | 'counter', registry: Registry, read: () => Snapshot, spec: Spec<L>): void {
  const config = { name: spec.name, help: spec.help, labelNames: spec.labelNames, registers: [registry] };
  if (type === 'gauge') {
    new Gauge<L>({
      ...config,
      collect() {
        this.reset();
        spec.fill(read(), (labels, value) => this.set(labels, value));
      },
    });
  } else {
    new Counter<L>({
      ...config,
      collect() {
        this.reset();
        spec.fill(read(), (labels, value) => this.inc(labels, value));
      },
    });
  }
}

export function snapshotGauge<L extends string>(registry: Registry, read: () => Snapshot, spec: Spec<L>): void {
  snapshotMetric('gauge', registry, read, spec);
}

export function snapshotCounter<L extends string>(registry: Registry, read: () => Snapshot, spec: Spec<L>): void {
  snapshotMetric('counter', registry, read, spec);
}
