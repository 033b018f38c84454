import { Counter, Gauge, type Registry } from 'prom-client';
import { capabilityFlags, formatVersion, type KeepalivedCapabilities } from '../keepalived/capabilities.js';
import { VRRP_STAT_KEYS, type VrrpStatKey, type VrrpState } from '../model/vrrp.js';
import { RECONCILE_RESULTS } from '../state/identity.js';
import type { Change, InstanceView, Snapshot } from '../state/snapshot.js';
import type { StateStore } from '../state/store.js';
import { snapshotCounter, snapshotGauge } from './snapshot-metric.js';

/** mehdy/keepalived-exporter's encoding, extended for the states it never shows. */
export const STATE_VALUE: Record<VrrpState, number> = { INIT: 0, BACKUP: 1, MASTER: 2, FAULT: 3, STOP: 4, DELETED: 5 };

/** keepalived stat key → metric name, as mehdy/keepalived-exporter names them. */
const STAT_METRICS: Record<VrrpStatKey, [name: string, help: string]> = {
  advert_rcvd: ['keepalived_advertisements_received_total', 'VRRP advertisements received.'],
  advert_sent: ['keepalived_advertisements_sent_total', 'VRRP advertisements sent.'],
  become_master: ['keepalived_become_master_total', 'Times the instance became MASTER.'],
  release_master: ['keepalived_release_master_total', 'Times the instance released MASTER.'],
  packet_len_err: ['keepalived_packet_length_errors_total', 'Received VRRP packets with a bad length.'],
  advert_interval_err: ['keepalived_advertisements_interval_errors_total', 'Received adverts whose interval differs from the local one.'],
  ip_ttl_err: ['keepalived_ip_ttl_errors_total', 'Received VRRP packets with a TTL other than 255.'],
  invalid_type_rcvd: ['keepalived_invalid_type_received_total', 'Received VRRP packets of an invalid type.'],
  addr_list_err: ['keepalived_address_list_errors_total', 'Received adverts whose address list differs from the local one.'],
  invalid_authtype: ['keepalived_authentication_invalid_total', 'Received adverts with an invalid authentication type.'],
  authtype_mismatch: ['keepalived_authentication_mismatch_total', 'Received adverts with a different authentication type.'],
  auth_failure: ['keepalived_authentication_failure_total', 'Received adverts that failed authentication.'],
  pri_zero_rcvd: ['keepalived_priority_zero_received_total', 'Priority-0 adverts received (the MASTER is leaving).'],
  pri_zero_sent: ['keepalived_priority_zero_sent_total', 'Priority-0 adverts sent.'],
};

function instanceLabels(i: InstanceView): { iname: string; intf: string; vrid: string } {
  return { iname: i.name, intf: i.interface ?? '', vrid: i.vrid === undefined ? '' : String(i.vrid) };
}

/** Instances keepalived currently runs: a stopped keepalived reports none, as its own dump would. */
/** The instances of a running keepalived: a stopped or deleted one has no state to export. */
export function running(s: Snapshot): InstanceView[] {
  return Object.values(s.instances).filter((i) => i.state !== 'STOP' && i.state !== 'DELETED');
}

function vipPresent(s: Snapshot, address: string, dev: string | undefined): boolean {
  return (s.addresses ?? []).some((a) => a.address === address && (dev === undefined || a.ifname === dev));
}

/** Registers keepalived's series; returns the counter of transitions, fed by the daemon's fan-out. */
export function registerKeepalivedMetrics(registry: Registry, store: StateStore): (change: Change) => void {
  const read = () => store.snapshot;

  snapshotGauge(registry, read, {
    name: 'keepalived_up',
    help: 'Whether keepalived is running (pid file names a live keepalived process).',
    labelNames: [],
    fill: (s, emit) => emit({}, s.keepalived.up ? 1 : 0),
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_vrrp_state',
    help: 'VRRP state per VIP: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (mehdy/keepalived-exporter compatible).',
    labelNames: ['iname', 'intf', 'vrid', 'ip_address'],
    fill: (s, emit) => {
      for (const i of running(s)) {
        for (const vip of i.vips) emit({ ...instanceLabels(i), intf: vip.dev ?? i.interface ?? '', ip_address: vip.address }, STATE_VALUE[i.state]);
      }
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_vrrp_instance_state',
    help: 'VRRP state per instance: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP, 5 DELETED.',
    labelNames: ['iname', 'intf', 'vrid'],
    fill: (s, emit) => {
      for (const i of Object.values(s.instances)) emit(instanceLabels(i), STATE_VALUE[i.state]);
    },
  });

  for (const [name, help, field] of [
    ['keepalived_vrrp_base_priority', 'Configured VRRP priority of the instance.', 'basePriority'],
    ['keepalived_vrrp_effective_priority', 'VRRP priority after track_script/track_interface/track_file weights.', 'effectivePriority'],
  ] as const) {
    snapshotGauge(registry, read, {
      name,
      help,
      labelNames: ['iname', 'intf', 'vrid'],
      fill: (s, emit) => {
        for (const i of running(s)) {
          const value = i[field];
          if (value !== undefined) emit(instanceLabels(i), value);
        }
      },
    });
  }

  snapshotGauge(registry, read, {
    name: 'keepalived_vrrp_last_transition_timestamp_seconds',
    help: 'When the instance entered its current state, in seconds since the epoch.',
    labelNames: ['iname', 'intf', 'vrid'],
    fill: (s, emit) => {
      for (const i of Object.values(s.instances)) if (i.stateSince !== undefined) emit(instanceLabels(i), i.stateSince / 1000);
    },
  });

  for (const key of VRRP_STAT_KEYS) {
    const [name, help] = STAT_METRICS[key];
    snapshotCounter(registry, read, {
      name,
      help: `${help} From keepalived's statistics.`,
      labelNames: ['iname', 'intf', 'vrid'],
      fill: (s, emit) => {
        for (const i of running(s)) if (i.stats) emit(instanceLabels(i), i.stats[key]);
      },
    });
  }

  snapshotCounter(registry, read, {
    name: 'keepalived_gratuitous_arp_delay_total',
    help: 'Configured gratuitous ARP delay in seconds (mehdy/keepalived-exporter compatible).',
    labelNames: ['iname', 'intf', 'vrid'],
    fill: (s, emit) => {
      for (const i of running(s)) if (i.garpDelay !== undefined) emit(instanceLabels(i), i.garpDelay);
    },
  });

  snapshotCounter(registry, read, {
    name: 'keepalived_vrrp_master_rx_lower_priority_total',
    help: 'MASTER_RX_LOWER_PRI notifications: this MASTER heard another MASTER with a lower priority.',
    labelNames: ['iname', 'intf', 'vrid'],
    fill: (s, emit) => {
      for (const i of Object.values(s.instances)) emit(instanceLabels(i), i.lowerPriorityAdverts);
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_vrrp_sync_group_state',
    help: 'VRRP sync group state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP.',
    labelNames: ['group'],
    fill: (s, emit) => {
      for (const g of Object.values(s.groups)) emit({ group: g.name }, STATE_VALUE[g.state]);
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_vip_present',
    help: 'Whether the VIP is on its interface right now (netlink), whatever keepalived reports.',
    labelNames: ['iname', 'intf', 'vrid', 'ip_address'],
    fill: (s, emit) => {
      if (!s.addresses) return;
      for (const i of Object.values(s.instances)) {
        for (const vip of i.vips) emit({ ...instanceLabels(i), intf: vip.dev ?? i.interface ?? '', ip_address: vip.address }, vipPresent(s, vip.address, vip.dev) ? 1 : 0);
      }
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_vip_mismatch',
    help: 'VIP presence contradicts the VRRP state: absent on a MASTER, or present on a node that is not MASTER.',
    labelNames: ['iname', 'intf', 'vrid', 'ip_address'],
    fill: (s, emit) => {
      if (!s.addresses) return;
      for (const i of Object.values(s.instances)) {
        for (const vip of i.vips) {
          const mismatch = vipPresent(s, vip.address, vip.dev) !== (i.state === 'MASTER');
          emit({ ...instanceLabels(i), intf: vip.dev ?? i.interface ?? '', ip_address: vip.address }, mismatch ? 1 : 0);
        }
      }
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_real_server_up',
    help: "Health-checker verdict for a real server (keepalived's RS UP/DOWN notifications).",
    labelNames: ['virtual_server', 'real_server'],
    fill: (s, emit) => {
      for (const c of Object.values(s.checkers)) if (c.realServer) emit({ virtual_server: c.virtualServer, real_server: c.realServer }, c.up ? 1 : 0);
    },
  });

  snapshotGauge(registry, read, {
    name: 'keepalived_virtual_server_quorum_up',
    help: "Whether a virtual server has its quorum of healthy real servers (keepalived's VS UP/DOWN notifications).",
    labelNames: ['virtual_server'],
    fill: (s, emit) => {
      for (const c of Object.values(s.checkers)) if (!c.realServer) emit({ virtual_server: c.virtualServer }, c.up ? 1 : 0);
    },
  });

  snapshotCounter(registry, read, {
    name: 'kawatch_transitions_reconciled_total',
    help: "Transitions into and out of MASTER checked against keepalived's become_master/release_master after each dump: match (counted once, as keepalived did), missed (keepalived made it, kawatch did not count it), duplicate (counted beyond keepalived's counters).",
    labelNames: ['result'],
    fill: (s, emit) => {
      for (const result of RECONCILE_RESULTS) emit({ result }, s.reconciled[result]);
    },
  });

  // Transitions are events, not inventory: counted as they happen. The state reducer gives each
  // keepalived transition one identity (state/identity.ts), so each arrives here once.
  const transitions = new Counter({
    name: 'keepalived_vrrp_transitions_total',
    help: 'VRRP state transitions seen by kawatch, by instance, from and to state.',
    // No vrid: a transition can be reported before the first dump tells it, and one instance must stay one series.
    labelNames: ['iname', 'from', 'to'],
    registers: [registry],
  });
  return (c) => {
    if (c.type === 'transition' && c.scope === 'instance') transitions.inc({ iname: c.name, from: c.from, to: c.to });
  };
}

/** What kawatch found the running keepalived can do (`keepalived -v`, `--signum`); nothing before it knows. */
export function registerCapabilityMetrics(registry: Registry, capabilities: () => KeepalivedCapabilities | undefined): void {
  new Gauge({
    name: 'keepalived_version_info',
    help: 'The version of the keepalived binary kawatch reads (keepalived -v); always 1.',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.reset();
      const caps = capabilities();
      if (caps) this.set({ version: formatVersion(caps.version) }, 1);
    },
  });
  new Gauge({
    name: 'kawatch_keepalived_capability',
    help: 'Whether the keepalived build can do it (json_dump, notify_fifo, fifo_priority_changes, track_file, ...): a source it cannot feed reports nothing.',
    labelNames: ['capability'],
    registers: [registry],
    collect() {
      this.reset();
      const caps = capabilities();
      if (caps) for (const [capability, has] of Object.entries(capabilityFlags(caps))) this.set({ capability }, has ? 1 : 0);
    },
  });
}
