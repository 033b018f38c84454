import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/registry.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { parseExposition } from '../support/metrics.js';

describe('kawatch_witness_up', () => {
  it("follows the witness's verdict, and has no series without a witness or once a reload removed it", async () => {
    const store = new StateStore('lb1', silentLog);
    const { registry } = createMetrics(store, { version: '0', processMetrics: false, verdicts: () => [], actions: () => [] });
    const series = async () => parseExposition(await registry.metrics()).filter((s) => s.name === 'kawatch_witness_up').map((s) => `${s.labels.witness} ${s.value}`);
    expect(await series()).toEqual([]);
    store.apply({ type: 'witness-configured', target: 'ping 198.18.0.254' });
    store.apply({ type: 'witness', at: Date.now(), target: 'ping 198.18.0.254' });
    expect(await series()).toEqual(['ping 198.18.0.254 1']);
    store.apply({ type: 'witness', at: Date.now(), target: 'ping 198.18.0.254', error: 'no answer to ping 198.18.0.254 within 2000 ms' });
    expect(await series()).toEqual(['ping 198.18.0.254 0']);
    store.apply({ type: 'witness-configured', target: undefined });
    expect(await series()).toEqual([]);
  });
});
