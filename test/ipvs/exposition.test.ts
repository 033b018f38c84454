import { describe, expect, it } from 'vitest';
import { BACKEND_LABELS } from '../../src/model/ipvs.js';
import { Registry } from 'prom-client';
import { createApp, HttpServer } from '../../src/http/server.js';
import { ChunkBuffers, ipvsExposition, realServerOfChecker, serviceOfChecker, type IpvsExpositionInput } from '../../src/metrics/ipvs.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import type { CheckerView } from '../../src/state/snapshot.js';
import { parseExposition, valueOf, type Sample } from '../support/metrics.js';
import { shapesTable, withNetlinkFigures } from './fixtures.js';

const ALL = BACKEND_LABELS;

const checker = (virtualServer: string, realServer: string | undefined, up: boolean): CheckerView => ({ virtualServer, realServer, up, since: 0 });

function expose(input: Partial<IpvsExpositionInput>): { text: string; samples: Sample[] } {
  const text = [
    ...ipvsExposition({ table: shapesTable(), health: { up: true, durationSeconds: 0.01, path: 'procfs', problemsTotal: 0 }, backendLabels: ALL, checkers: [], ...input }),
  ].join('');
  return { text, samples: parseExposition(text) };
}

const backend = (local: string, localPort: number, remote: string, remotePort: number, proto = 'TCP', mark = '') => ({
  local_address: local,
  local_port: String(localPort),
  remote_address: remote,
  remote_port: String(remotePort),
  proto,
  local_mark: mark,
});

describe('ipvsExposition', () => {
  const { text, samples } = expose({});
  const table = shapesTable();

  it('global counters are exact 64-bit integers, rates are gauges', () => {
    expect(text).toContain('\nipvs_outgoing_bytes_total 18446744073709551615\n');
    expect(valueOf(samples, 'ipvs_incoming_packets_total')).toBe(Number(table.totals.incomingPackets));
    expect(valueOf(samples, 'ipvs_incoming_bytes_per_second')).toBe(table.totalRates.incomingBytesPerSecond);
    expect(text).toMatch(/# TYPE ipvs_connections_total counter\n/);
    expect(text).toMatch(/# TYPE ipvs_connections_per_second gauge\n/);
  });

  it('one backend series per real server with node_exporter labels, values from the table', () => {
    const weights = samples.filter((s) => s.name === 'ipvs_backend_weight');
    expect(weights).toHaveLength(table.services.reduce((n, s) => n + s.destinations.length, 0));
    for (const w of weights) expect(Object.keys(w.labels)).toEqual([...ALL]);
    expect(valueOf(samples, 'ipvs_backend_connections_active', backend('198.18.9.50', 80, '198.18.9.101', 80))).toBe(12);
    expect(valueOf(samples, 'ipvs_backend_connections_inactive', backend('2001:db8::50', 443, '2001:db8::11', 443))).toBe(12);
    expect(valueOf(samples, 'ipvs_backend_weight', backend('', 0, '2001:db8::11', 0, 'FWM', '00000007'))).toBe(3);
    expect(valueOf(samples, 'ipvs_backend_weight', backend('198.18.9.60', 3868, '10.2.0.2', 3868, 'SCTP'))).toBe(1);
    expect(valueOf(samples, 'ipvs_backend_info', { ...backend('198.18.9.60', 3868, '10.2.0.2', 3868, 'SCTP'), forwarding: 'local' })).toBe(1);
  });

  it('procfs knows no per-backend or per-service statistics: those families are absent, not zero', () => {
    for (const name of ['ipvs_backend_connections_total', 'ipvs_backend_connections_persistent', 'ipvs_service_incoming_bytes_total', 'ipvs_service_connections_per_second']) {
      expect(text).not.toContain(name);
    }
  });

  it('services: info with scheduler and persistence, backends and usable backends; one-mark IPv4 and IPv6 services summed', () => {
    expect(valueOf(samples, 'ipvs_service_info', { local_address: '2001:db8::50', proto: 'TCP', scheduler: 'wrr', persistence_timeout_seconds: '600' })).toBe(1);
    expect(valueOf(samples, 'ipvs_service_info', { local_address: '198.18.9.50', scheduler: 'wlc', persistence_timeout_seconds: '0' })).toBe(1);
    expect(valueOf(samples, 'ipvs_service_backends', { local_address: '198.18.9.50', proto: 'TCP' })).toBe(3);
    expect(valueOf(samples, 'ipvs_service_usable_backends', { local_address: '198.18.9.50', proto: 'TCP' })).toBe(2);
    expect(valueOf(samples, 'ipvs_service_backends', { proto: 'FWM', local_mark: '00000007' })).toBe(3);
    expect(valueOf(samples, 'ipvs_service_backends', { local_address: '2001:db8::53', proto: 'UDP' })).toBe(0);
    // Both schedulers of mark 7 are shown.
    expect(samples.filter((s) => s.name === 'ipvs_service_info' && s.labels.local_mark === '00000007').map((s) => s.labels.scheduler).sort()).toEqual(['rr', 'wlc']);
    expect(text).not.toContain('ipvs_service_sorry_server_active');
  });

  it('health comes first and stands alone when the read failed', () => {
    expect(text.startsWith('# HELP kawatch_ipvs_up')).toBe(true);
    const failed = [...ipvsExposition({ health: { up: false, durationSeconds: 0.002, problemsTotal: 3 }, backendLabels: ALL, checkers: [] })].join('');
    const s = parseExposition(failed);
    expect(valueOf(s, 'kawatch_ipvs_up')).toBe(0);
    expect(valueOf(s, 'kawatch_ipvs_problems_total')).toBe(3);
    expect(failed).not.toContain('kawatch_ipvs_read_path');
    expect(s.filter((x) => x.name.startsWith('ipvs_'))).toEqual([]);
  });

  it('global statistics that could not be read are left out, not shown as zeros', () => {
    const partial = [...ipvsExposition({ table: { ...table, totalsUnknown: true }, health: { up: true, durationSeconds: 0, problemsTotal: 1 }, backendLabels: ALL, checkers: [] })].join('');
    expect(partial).not.toContain('ipvs_connections_total');
    expect(partial).toContain('ipvs_backend_weight{');
  });
});

describe('the figures only netlink gives', () => {
  const table = withNetlinkFigures(shapesTable());
  const { text, samples } = expose({ table, backendRates: true });

  it('per real server: exact 64-bit counters, rates and persistent connections', () => {
    const d = table.services[0]!.destinations[1]!;
    const labels = backend('198.18.9.50', 80, d.address, d.port);
    expect(text).toContain(`ipvs_backend_outgoing_bytes_total{local_address="198.18.9.50",local_port="80",remote_address="${d.address}",remote_port="80",proto="TCP",local_mark=""} ${d.stats!.outgoingBytes}\n`);
    expect(valueOf(samples, 'ipvs_backend_connections_total', labels)).toBe(Number(d.stats!.connections));
    expect(valueOf(samples, 'ipvs_backend_incoming_bytes_per_second', labels)).toBe(d.rates!.incomingBytesPerSecond);
    expect(valueOf(samples, 'ipvs_backend_connections_persistent', labels)).toBe(d.persistentConnections);
  });

  it('per service, summed over the IPv4 and IPv6 services of one mark', () => {
    const mark7 = table.services.filter((s) => s.protocol === 'FWM' && s.fwmark === 7);
    expect(mark7).toHaveLength(2);
    expect(valueOf(samples, 'ipvs_service_connections_total', { proto: 'FWM', local_mark: '00000007' })).toBe(Number(mark7[0]!.stats!.connections + mark7[1]!.stats!.connections));
    expect(text).toContain(`ipvs_service_outgoing_bytes_total{local_address="",local_port="0",proto="FWM",local_mark="00000007"} ${mark7[0]!.stats!.outgoingBytes + mark7[1]!.stats!.outgoingBytes}\n`);
    expect(text).toMatch(/# TYPE ipvs_service_incoming_packets_total counter\n/);
    expect(text).toMatch(/# TYPE ipvs_backend_outgoing_packets_per_second gauge\n/);
  });

  it("writes the kernel's estimator rates per real server only with ipvs.backend_rates, and every other series either way", () => {
    const byDefault = expose({ table });
    const rates = ['connections', 'incoming_packets', 'outgoing_packets', 'incoming_bytes', 'outgoing_bytes'].map((what) => `${what}_per_second`);
    for (const rate of rates) {
      expect(text).toContain(`\nipvs_backend_${rate}{`);
      expect(byDefault.text).not.toContain(`ipvs_backend_${rate}`);
      expect(byDefault.text).toContain(`\nipvs_service_${rate}{`);
      expect(byDefault.text).toContain(`\nipvs_${rate} `);
    }
    const withoutRates = (t: string) => t.split('\n').filter((line) => !rates.some((rate) => line.includes(`ipvs_backend_${rate}`)));
    expect(byDefault.text.split('\n')).toEqual(withoutRates(text));
  });
});

describe('backend label subset (node_exporter --collector.ipvs.backend-labels)', () => {
  const table = shapesTable();
  const all = table.services.flatMap((s) => s.destinations.map((d) => ({ s, d })));

  it('keeps only the chosen labels and sums over the others', () => {
    const { samples } = expose({ backendLabels: ['remote_address'] });
    const weights = samples.filter((s) => s.name === 'ipvs_backend_weight');
    for (const w of weights) expect(Object.keys(w.labels)).toEqual(['remote_address']);
    const expected = new Map<string, number>();
    for (const { d } of all) expected.set(d.address, (expected.get(d.address) ?? 0) + d.weight);
    expect(new Map(weights.map((w) => [w.labels.remote_address, w.value]))).toEqual(expected);
    // 2001:db8::11 serves TCP 443 and FWM 7: one series, the sum of both.
    expect(expected.size).toBe(all.length - 1);
  });

  it('an empty subset gives one series per family: the totals', () => {
    const { samples } = expose({ backendLabels: [] });
    expect(valueOf(samples, 'ipvs_backend_connections_active')).toBe(all.reduce((n, { d }) => n + d.activeConnections, 0));
    // The info series stays per real server.
    expect(samples.filter((s) => s.name === 'ipvs_backend_info')).toHaveLength(all.length);
  });
});

describe("keepalived's checker verdicts next to the IPVS backends", () => {
  it('reads FMT_VS and FMT_RS', () => {
    expect(serviceOfChecker('[198.18.9.50]:tcp:80')).toEqual({ protocol: 'TCP', address: '198.18.9.50', port: 80, fwmark: 0 });
    expect(serviceOfChecker('[2001:db8::50]:sctp:3868')).toEqual({ protocol: 'SCTP', address: '2001:db8::50', port: 3868, fwmark: 0 });
    expect(serviceOfChecker('FWM 7')).toEqual({ protocol: 'FWM', address: '', port: 0, fwmark: 7 });
    expect(serviceOfChecker('[web_group]:80')).toBeUndefined();
    expect(realServerOfChecker('[2001:DB8::11]:udp:53')).toEqual({ address: '2001:db8::11', port: 53 });
  });

  it('ipvs_backend_checker_up carries the backend labels, for every real server keepalived reported on', () => {
    const { samples } = expose({
      checkers: [
        checker('[198.18.9.50]:tcp:80', '[198.18.9.101]:tcp:80', true),
        checker('[198.18.9.50]:tcp:80', '[198.18.9.102]:tcp:80', false),
        checker('[198.18.9.50]:tcp:80', '[198.18.9.103]:tcp:80', false),
        checker('FWM 7', '[2001:db8::11]:udp:0', true),
        checker('[198.18.9.50]:tcp:80', undefined, true),
        checker('[web_group]:80', '[198.18.9.104]:tcp:80', true),
      ],
    });
    const up = samples.filter((s) => s.name === 'ipvs_backend_checker_up');
    expect(up).toHaveLength(4);
    expect(valueOf(samples, 'ipvs_backend_checker_up', backend('198.18.9.50', 80, '198.18.9.101', 80))).toBe(1);
    // Taken out by the checker: weight 0 in IPVS, down here.
    expect(valueOf(samples, 'ipvs_backend_checker_up', backend('198.18.9.50', 80, '198.18.9.102', 80))).toBe(0);
    expect(valueOf(samples, 'ipvs_backend_weight', backend('198.18.9.50', 80, '198.18.9.102', 80))).toBe(0);
    // Taken out and removed from IPVS: only the verdict is there.
    expect(valueOf(samples, 'ipvs_backend_checker_up', backend('198.18.9.50', 80, '198.18.9.103', 80))).toBe(0);
    expect(valueOf(samples, 'ipvs_backend_weight', backend('198.18.9.50', 80, '198.18.9.103', 80))).toBeUndefined();
    expect(valueOf(samples, 'ipvs_backend_checker_up', backend('', 0, '2001:db8::11', 0, 'FWM', '00000007'))).toBe(1);
  });
});

describe('sorry servers', () => {
  it('active when in the table, not counted as usable; 0 when absent', () => {
    const { samples } = expose({
      sorryServers: [
        { service: { protocol: 'TCP', address: '198.18.9.50', port: 80, fwmark: 0 }, address: '198.18.9.200', port: 8080 },
        { service: { protocol: 'UDP', address: '198.18.9.53', port: 53, fwmark: 0 }, address: '10.1.0.99', port: 53 },
      ],
    });
    expect(valueOf(samples, 'ipvs_service_sorry_server_active', { local_address: '198.18.9.50', proto: 'TCP' })).toBe(1);
    expect(valueOf(samples, 'ipvs_service_usable_backends', { local_address: '198.18.9.50', proto: 'TCP' })).toBe(1);
    expect(valueOf(samples, 'ipvs_service_sorry_server_active', { local_address: '198.18.9.53', proto: 'UDP' })).toBe(0);
    expect(valueOf(samples, 'ipvs_service_usable_backends', { local_address: '198.18.9.53', proto: 'UDP' })).toBe(2);
    expect(samples.filter((s) => s.name === 'ipvs_service_sorry_server_active')).toHaveLength(2);
  });
});

describe('chunks', () => {
  it('a large table comes out in bounded chunks that join to whole lines', () => {
    const table = shapesTable();
    const template = table.services[0]!.destinations[0]!;
    table.services[0]!.destinations = Array.from({ length: 5000 }, (_, i) => ({ ...template, address: `10.${i >> 8}.${i & 255}.1` }));
    const chunks = [...ipvsExposition({ table, health: { up: true, durationSeconds: 0, problemsTotal: 0 }, backendLabels: ALL, checkers: [] })];
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) expect(chunk.length).toBeLessThan(65_536 + 512);
    const samples = parseExposition(chunks.join(''));
    expect(samples.filter((s) => s.name === 'ipvs_backend_weight' && s.labels.local_address === '198.18.9.50')).toHaveLength(5000);
  });
});

describe('chunk buffers reused between scrapes', () => {
  const bigTable = () => {
    const table = shapesTable();
    const template = table.services[0]!.destinations[0]!;
    table.services[0]!.destinations = Array.from({ length: 20_000 }, (_, i) => ({ ...template, address: `10.${i >> 8}.${i & 255}.1`, weight: i }));
    return table;
  };
  const input = (): IpvsExpositionInput => ({ table: bigTable(), health: { up: true, durationSeconds: 0, problemsTotal: 0 }, backendLabels: ALL, checkers: [] });

  it('a buffer given back is handed out again, and a view of another is refused', () => {
    const buffers = new ChunkBuffers();
    const first = buffers.take();
    buffers.give(first.subarray(0, 10));
    expect(buffers.take().buffer).toBe(first.buffer);
    buffers.give(Buffer.alloc(65_536));
    expect(buffers.take().buffer).not.toBe(first.buffer);
  });

  it('concurrent scrapes through a real listener each get the whole text, buffers reused only once written', async () => {
    // What prom-client writes first (its registry is empty here), then the IPVS series.
    const expected = (await new Registry().metrics()) + [...ipvsExposition(input())].join('');
    const buffers = new ChunkBuffers();
    let recycled = 0;
    const app = createApp({
      store: new StateStore('lb1', silentLog),
      registry: new Registry(),
      version: '1',
      verdicts: () => [],
      actions: () => [],
      recent: () => [],
      streamedMetrics: async () => ipvsExposition(input(), buffers),
      recycleChunk: (chunk) => {
        recycled++;
        buffers.give(chunk);
      },
    });
    const server = new HttpServer('127.0.0.1:0', app, silentLog);
    await server.start();
    try {
      const bodies = await Promise.all(Array.from({ length: 4 }, async () => (await fetch(`http://${server.address}/metrics`)).text()));
      for (const body of bodies) expect(body).toBe(expected);
      // A second round runs on the buffers the first gave back.
      expect(recycled).toBeGreaterThan(4 * 10);
      expect(await (await fetch(`http://${server.address}/metrics`)).text()).toBe(expected);
    } finally {
      await server.stop();
    }
  });
});

describe('checker verdicts that do not parse', () => {
  it('a zone-id or garbage checker address leaves every ipvs_* series in place', () => {
    const clean = expose({ checkers: [checker('[198.18.9.50]:tcp:80', '[198.18.9.101]:tcp:80', true)] });
    const hostile = expose({
      checkers: [
        checker('[198.18.9.50]:tcp:80', '[198.18.9.101]:tcp:80', true),
        checker('[198.18.9.50]:tcp:80', '[fe80::1%eth0]:tcp:80', true),
        checker('[fe80::50%eth0]:tcp:80', '[198.18.9.101]:tcp:80', false),
        checker('[::ffff:1.2.3.4%x]:udp:1', undefined, true),
        checker('[]:tcp:80', '[[]]:tcp:1', true),
      ],
    });
    expect(hostile.text).toBe(clean.text);
    expect(serviceOfChecker('[fe80::50%eth0]:tcp:80')).toBeUndefined();
    expect(realServerOfChecker('[fe80::1%eth0]:tcp:80')).toBeUndefined();
  });
});
