import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IpvsRates, IpvsStats } from '../../src/model/ipvs.js';
import { ipvsExposition } from '../../src/metrics/ipvs.js';
import { Supervisor } from '../../src/daemon/supervisor.js';
import { MailStats } from '../../src/mail/stats.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from './log.js';

const root = new URL('../../', import.meta.url).pathname;

/** Every metric name kawatch can export: the golden file's, the registry's (mail included), and the IPVS collector's. */
export function knownMetrics(): Set<string> {
  const names = new Set<string>();
  for (const m of readFileSync(join(root, 'test/fixtures/golden/metrics.prom'), 'utf8').matchAll(/^# TYPE (\S+)/gm)) names.add(m[1]!);
  const { registry } = createMetrics(new StateStore('lb1', silentLog), {
    version: '0',
    processMetrics: false,
    verdicts: () => [],
    actions: () => [],
    mail: new MailStats(),
    keepalivedCapabilities: () => undefined,
    drills: { summary: () => ({ failures: {} }), scheduled: () => false },
    prevent: () => undefined,
  });
  new Supervisor(registry, silentLog);
  for (const m of registry.getMetricsAsArray()) names.add(m.name);
  // An IPVS table where every field is known (the netlink path), so that every family is written.
  const stats: IpvsStats = { connections: 1n, incomingPackets: 1n, outgoingPackets: 1n, incomingBytes: 1n, outgoingBytes: 1n };
  const rates: IpvsRates = { connectionsPerSecond: 1, incomingPacketsPerSecond: 1, outgoingPacketsPerSecond: 1, incomingBytesPerSecond: 1, outgoingBytesPerSecond: 1 };
  const destination = { family: 4 as const, address: '10.0.0.2', port: 80, forwarding: 'masq' as const, weight: 1, activeConnections: 1, inactiveConnections: 1, persistentConnections: 1, stats, rates };
  const service = { protocol: 'TCP' as const, family: 4 as const, address: '10.0.0.1', port: 80, fwmark: 0, scheduler: 'wlc', flags: [], stats, rates, destinations: [destination] };
  const text = [
    ...ipvsExposition({
      table: { services: [service], totals: stats, totalRates: rates, problems: [] },
      health: { up: true, durationSeconds: 0.001, path: 'netlink', problemsTotal: 0 },
      backendLabels: ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'],
      backendRates: true,
      checkers: [{ virtualServer: '[10.0.0.1]:tcp:80', realServer: '[10.0.0.2]:tcp:80', up: true, since: 0 }],
      sorryServers: [{ service: { protocol: 'TCP', address: '10.0.0.1', port: 80, fwmark: 0 }, address: '10.0.0.9', port: 80 }],
    }),
  ].join('');
  for (const m of text.matchAll(/^# TYPE (\S+)/gm)) names.add(m[1]!);
  return names;
}
