import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDump } from '../../src/keepalived/dump.js';
import { parseTextDump } from '../../src/keepalived/text-dump.js';
import { createMetrics } from '../../src/metrics/registry.js';
import type { DumpInstance } from '../../src/model/vrrp.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';
import { parseExposition, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';

// The real dumps of the matrix: VI_1 (MASTER) holds the excluded VIP 198.18.7.52, VI_2 (BACKUP) tracks check_service.
const read = (flavour: string, file: string) => readFileSync(new URL(`../fixtures/keepalived/dumps/${flavour}/${file}`, import.meta.url), 'utf8');

async function exposition(instances: DumpInstance[]): Promise<string> {
  const store = new StateStore('lb1', silentLog);
  const { registry } = createMetrics(store, { version: '0', processMetrics: false, verdicts: () => [], actions: () => [] });
  store.apply({ type: 'dump', at: Date.now(), instances });
  return registry.metrics();
}

const text = (flavour: string) => parseTextDump(read(flavour, 'keepalived.data'), read(flavour, 'keepalived.stats'));

describe('vrrp_script and excluded-VIP series, as mehdy/keepalived-exporter names them', () => {
  it.each(['1.3.5-nojson', '2.1.5-nojson', '2.4.3-json'])('%s text dumps: the script verdict, its state from 2.0, the excluded VIP with its instance state', async (flavour) => {
    const samples = parseExposition(await exposition(text(flavour)));
    expect(valueOf(samples, 'keepalived_script_status', { name: 'check_service' })).toBe(1);
    expect(valueOf(samples, 'keepalived_script_state', { name: 'check_service' })).toBe(flavour.startsWith('1.') ? undefined : 0);
    expect(valueOf(samples, 'keepalived_vrrp_excluded_state', { iname: 'VI_1', intf: 'matrix-a0', vrid: '71', ip_address: '198.18.7.52' })).toBe(2);
    expect(samples.filter((s) => s.name === 'keepalived_vrrp_excluded_state')).toHaveLength(1);
  });

  it('a script tracked by two instances is one series', async () => {
    const [vi1, vi2] = text('2.2.8-json');
    const samples = parseExposition(await exposition([{ ...vi1!, scripts: vi2!.scripts }, vi2!]));
    expect(samples.filter((s) => s.name === 'keepalived_script_status')).toHaveLength(1);
  });

  it('the JSON dump gives the excluded VIP but no script verdict', async () => {
    const samples = parseExposition(await exposition(parseDump(read('2.2.8-json', 'keepalived.json'))));
    expect(valueOf(samples, 'keepalived_vrrp_excluded_state', { iname: 'VI_1', intf: 'matrix-a0', vrid: '71', ip_address: '198.18.7.52' })).toBe(2);
    expect(samples.some((s) => s.name === 'keepalived_script_status')).toBe(false);
  });
});

describeWithPrereqs('the exposition with scripts and excluded VIPs', { commands: ['promtool'] }, () => {
  it('passes promtool check metrics', async () => {
    const out = execFileSync('promtool', ['check', 'metrics'], { input: await exposition(text('2.1.5-nojson')), encoding: 'utf8' });
    expect(out).toBe('');
  });
});
