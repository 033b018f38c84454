import { SOURCE_NAMES } from '../state/snapshot.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { quarantinedCounts } from '../core/quarantine.js';
import type { StateStore } from '../state/store.js';
import { snapshotCounter, snapshotGauge } from './snapshot-metric.js';

/** kawatch's health of its own sources, in node_exporter's spirit: "no data" is not "failed". */
export function registerKawatchMetrics(registry: Registry, store: StateStore, version: string): void {
  const read = () => store.snapshot;

  new Gauge({
    name: 'kawatch_build_info',
    help: 'kawatch version and the node name it reports as; always 1.',
    labelNames: ['version', 'node'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ version, node: store.snapshot.node }, 1);
    },
  });

  snapshotGauge(registry, read, {
    name: 'kawatch_source_enabled',
    help: 'Whether the source is switched on in the configuration and the running keepalived can feed it.',
    labelNames: ['source'],
    fill: (s, emit) => {
      for (const name of SOURCE_NAMES) emit({ source: name }, s.sources[name].enabled ? 1 : 0);
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_source_up',
    help: 'Whether the last attempt to read the source succeeded (0 when disabled).',
    labelNames: ['source'],
    fill: (s, emit) => {
      for (const name of SOURCE_NAMES) emit({ source: name }, s.sources[name].enabled && s.sources[name].up ? 1 : 0);
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_source_last_success_timestamp_seconds',
    help: 'When the source was last read successfully, in seconds since the epoch.',
    labelNames: ['source'],
    fill: (s, emit) => {
      for (const name of SOURCE_NAMES) {
        const at = s.sources[name].lastSuccess;
        if (at !== undefined) emit({ source: name }, at / 1000);
      }
    },
  });
  for (const [key, metric, help] of [
    ['errors', 'kawatch_source_errors_total', 'Failures to read the source.'],
    ['rejected', 'kawatch_source_rejected_total', 'Inputs refused as malformed: notify arguments, FIFO lines, dumps.'],
    ['events', 'kawatch_source_events_total', 'Updates the source delivered.'],
  ] as const) {
    snapshotCounter(registry, read, {
      name: metric,
      help,
      labelNames: ['source'],
      fill: (s, emit) => {
        for (const name of SOURCE_NAMES) emit({ source: name }, s.sources[name][key]);
      },
    });
  }
  new Counter({
    name: 'kawatch_persisted_records_quarantined_total',
    help: 'Records of kawatch\'s own state files that failed validation when loaded and were moved aside (FILE.bad-*).',
    labelNames: ['file'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [file, n] of quarantinedCounts()) this.inc({ file }, n);
    },
  });
}
