import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { parseFifoLine } from '../../src/keepalived/fifo-line.js';
import { BACKEND_LABELS } from '../../src/model/ipvs.js';
import { ipvsExposition } from '../../src/metrics/ipvs.js';
import type { CheckerView } from '../../src/state/snapshot.js';
import { expectGolden } from '../support/golden.js';
import { silentLog } from '../support/log.js';
import { parseExposition, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { ipvsFixtures, shapesTable, withNetlinkFigures } from './fixtures.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const goldenFile = join(fixtures, 'golden/ipvs.prom');
const run = promisify(execFile);

async function promtool(text: string): Promise<string> {
  const child = run('promtool', ['check', 'metrics']);
  child.child.stdin!.end(text);
  const { stdout, stderr } = await child;
  return stdout + stderr;
}

/** The checker lines keepalived writes to its FIFO (check_notify.c), as the core keeps them. */
function checkersFromFifo(): CheckerView[] {
  return readFileSync(join(fixtures, 'golden/fifo-checker.txt'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const parsed = parseFifoLine(line);
      if (!parsed.ok || parsed.value.kind !== 'checker') throw new Error(`fixture line ${line} is not a checker line`);
      const { virtualServer, realServer, up } = parsed.value;
      return [{ virtualServer, realServer, up, since: 0 }];
    });
}

describe('golden IPVS exposition', () => {
  const text = [
    ...ipvsExposition({
      table: shapesTable(),
      health: { up: true, durationSeconds: 0.0125, path: 'procfs', problemsTotal: 2 },
      backendLabels: BACKEND_LABELS,
      checkers: checkersFromFifo(),
      sorryServers: [{ service: { protocol: 'TCP', address: '198.18.9.50', port: 80, fwmark: 0 }, address: '198.18.9.200', port: 8080 }],
    }),
  ].join('');

  const netlink = [
    ...ipvsExposition({
      table: withNetlinkFigures(shapesTable()),
      health: { up: true, durationSeconds: 0.5, path: 'netlink', problemsTotal: 0 },
      backendLabels: ['proto', 'remote_address'],
      checkers: checkersFromFifo(),
    }),
  ].join('');

  it('matches the checked-in output (UPDATE_GOLDEN=1 regenerates it)', () => {
    expectGolden(goldenFile, text, 'npx vitest run test/ipvs/golden.test.ts');
  });

  it('with the figures only netlink gives, and a label subset, shows persistent connections', () => {
    expect(netlink).toContain('ipvs_backend_connections_persistent{');
  });

  describeWithPrereqs('promtool', { commands: ['promtool'] }, () => {
    it('passes promtool check metrics without a single remark', async () => {
      expect(await promtool(text)).toBe('');
    });

    it('with the figures only netlink gives, and a label subset, too', async () => {
      expect(await promtool(netlink)).toBe('');
    });
  });
});

let dir: string;
let daemon: Daemon;
let metrics: string;

describe('/metrics of a daemon reading IPVS through procfs', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-ipvs-'));
    // The sorry server of 198.18.9.50:80 is in the fixture's table; that of 198.18.9.53:53 is not.
    writeFileSync(
      `${dir}/keepalived.conf`,
      [
        'virtual_server 198.18.9.50 80 {',
        '    lb_algo wlc',
        '    sorry_server 198.18.9.200 8080',
        '    real_server 198.18.9.101 80 {',
        '    }',
        '}',
        'virtual_server 198.18.9.53 53 {',
        '    protocol UDP',
        '    sorry_server 10.1.0.99 53',
        '}',
        '',
      ].join('\n'),
    );
    const config = parseConfig(
      [
        'node_name: lb1',
        `state_dir: ${dir}/state`,
        `watchdog: { track_dir: ${dir}/track }`,
        'listen: 127.0.0.1:0',
        `procfs: ${ipvsFixtures}shapes`,
        `keepalived: { pid_file: ${dir}/keepalived.pid, config_file: ${dir}/keepalived.conf }`,
        'sources: { hook: { enabled: false }, netlink: { enabled: false }, dump: { enabled: false } }',
        'jobs: { digest: false, audit: false }',
        'ipvs: { path: procfs }',
      ].join('\n'),
      'ipvs.yml',
    );
    daemon = new Daemon(config, { log: silentLog, processMetrics: false });
    await daemon.start();
    metrics = await (await fetch(`http://${daemon.listenAddress}/metrics`)).text();
  });

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("appends the IPVS series to prom-client's", () => {
    const samples = parseExposition(metrics);
    expect(metrics.indexOf('kawatch_build_info')).toBeLessThan(metrics.indexOf('kawatch_ipvs_up'));
    expect(valueOf(samples, 'kawatch_ipvs_up')).toBe(1);
    expect(valueOf(samples, 'kawatch_ipvs_read_path', { path: 'procfs' })).toBe(1);
    expect(samples.filter((s) => s.name === 'ipvs_backend_weight')).toHaveLength(shapesTable().services.reduce((n, s) => n + s.destinations.length, 0));
  });

  describeWithPrereqs('promtool', { commands: ['promtool'] }, () => {
    it('the whole /metrics passes promtool check metrics without a single remark', async () => {
      expect(await promtool(metrics)).toBe('');
    });
  });

  it("tells from keepalived.conf which services are answered by their sorry server", () => {
    const samples = parseExposition(metrics);
    const service = (proto: string, address: string, port: number) => ({ proto, local_address: address, local_port: String(port), local_mark: '' });
    expect(valueOf(samples, 'ipvs_service_sorry_server_active', service('TCP', '198.18.9.50', 80))).toBe(1);
    expect(valueOf(samples, 'ipvs_service_sorry_server_active', service('UDP', '198.18.9.53', 53))).toBe(0);
    // The sorry server is no usable backend of its service.
    const tcp80 = shapesTable().services.find((s) => s.protocol === 'TCP' && s.address === '198.18.9.50' && s.port === 80)!;
    expect(valueOf(samples, 'ipvs_service_usable_backends', service('TCP', '198.18.9.50', 80))).toBe(tcp80.destinations.filter((d) => d.weight > 0 && d.address !== '198.18.9.200').length);
  });
});
