import type { Registry } from 'prom-client';
import { VRRP_SCRIPT_STATES, type VrrpScriptStatus } from '../model/vrrp.js';
import type { Snapshot } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';
import { running, STATE_VALUE } from './keepalived.js';
import { snapshotGauge } from './snapshot-metric.js';

/**
 * What keepalived tracks beside the VIPs, under mehdy/keepalived-exporter's names and values:
 * `vrrp_script` verdicts (from keepalived.data: the JSON dump has none) and the excluded VIPs.
 */

/** Instances keepalived currently runs, as keepalived_vrrp_state counts them. */
/** One entry per script, whichever instances track it: keepalived runs each script once. */
function scriptsOf(s: Snapshot): VrrpScriptStatus[] {
  const byName = new Map<string, VrrpScriptStatus>();
  for (const i of running(s)) for (const script of i.scripts ?? []) byName.set(script.name, script);
  return [...byName.values()];
}

export function registerTrackingMetrics(registry: Registry, store: StateStore): void {
  const read = () => store.snapshot;

  snapshotGauge(registry, read, {
    name: 'keepalived_script_status',
    help: 'vrrp_script verdict: 0 BAD, 1 GOOD (mehdy/keepalived-exporter compatible); from keepalived.data.',
    labelNames: ['name'],
    fill: (s, emit) => {
      for (const script of scriptsOf(s)) if (script.good !== undefined) emit({ name: script.name }, script.good ? 1 : 0);
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_script_state',
    help: 'vrrp_script run state: 0 idle, 1 running, 2 requested termination, 3 forcing termination (mehdy/keepalived-exporter compatible); keepalived 2.0 and later.',
    labelNames: ['name'],
    fill: (s, emit) => {
      for (const script of scriptsOf(s)) if (script.state !== undefined) emit({ name: script.name }, VRRP_SCRIPT_STATES.indexOf(script.state));
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_vrrp_excluded_state',
    help: 'VRRP state per excluded VIP (virtual_ipaddress_excluded): 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (mehdy/keepalived-exporter compatible).',
    labelNames: ['iname', 'intf', 'vrid', 'ip_address'],
    fill: (s, emit) => {
      for (const i of running(s)) {
        for (const vip of i.excludedVips ?? []) {
          emit({ iname: i.name, intf: vip.dev ?? i.interface ?? '', vrid: i.vrid === undefined ? '' : String(i.vrid), ip_address: vip.address }, STATE_VALUE[i.state]);
        }
      }
    },
  });
}
