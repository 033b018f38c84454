import { collectDefaultMetrics, Registry } from 'prom-client';
import type { StateStore } from '../state/store.js';
import { registerKawatchMetrics } from './kawatch.js';
import { registerKeepalivedMetrics } from './keepalived.js';

export interface MetricsOptions {
  version: string;
  /** process_* and nodejs_* metrics of the daemon itself; off for byte-stable golden output. */
  processMetrics: boolean;
}

export function createRegistry(store: StateStore, options: MetricsOptions): Registry {
  const registry = new Registry();
  registerKeepalivedMetrics(registry, store);
  registerKawatchMetrics(registry, store, options.version);
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}
