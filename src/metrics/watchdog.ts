import type { Registry } from 'prom-client';
import { REJECT_REASONS } from '../model/peer.js';
import { STATE_VALUE } from './keepalived.js';
import type { StateStore } from '../state/store.js';
import { knownInstances, MISMATCH_FIELDS, type Verdict } from '../watchdog/diagnose.js';
import { carriedOut, type JournalEntry } from '../watchdog/journal.js';
import { activeDemotions } from '../watchdog/policy.js';
import { snapshotCounter, snapshotGauge } from './snapshot-metric.js';

/** Peers on the secondary link and the watchdog's verdicts; every verdict is a metric. */
export function registerWatchdogMetrics(registry: Registry, store: StateStore, diagnose: () => Verdict[], actions: () => readonly JournalEntry[]): void {
  const read = () => store.snapshot;
  // One diagnosis per scrape, not one per metric: the metrics below all read the same verdicts.
  let cached: { snapshot: unknown; at: number; verdicts: Verdict[] } | undefined;
  const verdicts = (): Verdict[] => {
    const now = Date.now();
    if (!cached || cached.snapshot !== store.snapshot || now - cached.at > 100) cached = { snapshot: store.snapshot, at: now, verdicts: diagnose() };
    return cached.verdicts;
  };
  const vridLabel = (vrid: number | undefined) => (vrid === undefined ? '' : String(vrid));

  snapshotGauge(registry, read, {
    name: 'kawatch_peer_up',
    help: 'Whether the peer answered an authenticated exchange on the secondary link recently.',
    labelNames: ['peer'],
    fill: (s, emit) => {
      const unreachable = new Set(verdicts().flatMap((v) => (v.kind === 'peer-unreachable' ? [v.peer] : [])));
      for (const p of Object.values(s.peers)) emit({ peer: p.name }, unreachable.has(p.name) ? 0 : 1);
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_witness_up',
    help: 'Whether the witness (watchdog.witness) answers this director: 0 once it has not for the probe interval plus twice peers.timeout. Self-fencing and policy prevent rely on it.',
    labelNames: ['witness'],
    fill: (s, emit) => {
      if (s.witness) emit({ witness: s.witness.target }, s.witness.error === undefined ? 1 : 0);
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_peer_rtt_seconds',
    help: 'Round-trip time of the last exchange this node started with the peer.',
    labelNames: ['peer'],
    fill: (s, emit) => {
      for (const p of Object.values(s.peers)) if (p.rttMs !== undefined) emit({ peer: p.name }, p.rttMs / 1000);
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_peer_last_exchange_timestamp_seconds',
    help: 'When the last authenticated exchange with the peer happened, in either direction.',
    labelNames: ['peer'],
    fill: (s, emit) => {
      for (const p of Object.values(s.peers)) if (p.lastExchange !== undefined) emit({ peer: p.name }, p.lastExchange / 1000);
    },
  });
  snapshotCounter(registry, read, {
    name: 'kawatch_peer_exchange_errors_total',
    help: 'Exchanges with the peer that failed: unreachable, timed out, or answered unauthenticated.',
    labelNames: ['peer'],
    fill: (s, emit) => {
      for (const p of Object.values(s.peers)) emit({ peer: p.name }, p.errors);
    },
  });
  snapshotCounter(registry, read, {
    name: 'kawatch_peer_rejected_total',
    help: 'Peer API messages refused, by reason (forged, replayed, stale, malformed, ...).',
    labelNames: ['reason'],
    fill: (s, emit) => {
      for (const reason of REJECT_REASONS) emit({ reason }, s.peerRejected[reason] ?? 0);
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_peer_vrrp_state',
    help: "VRRP state each peer last reported per instance (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP); see kawatch_peer_up for its freshness.",
    labelNames: ['peer', 'iname', 'vrid'],
    fill: (s, emit) => {
      for (const p of Object.values(s.peers)) {
        for (const i of p.view?.instances ?? []) emit({ peer: p.name, iname: i.name, vrid: vridLabel(i.vrid) }, STATE_VALUE[i.state]);
      }
    },
  });

  for (const [name, kind, help] of [
    ['kawatch_split_brain', 'split-brain', 'More than one director is MASTER for the instance, by their own accounts over the secondary link.'],
    ['kawatch_no_master', 'no-master', 'Every director is reachable and runs keepalived, and none is MASTER for the instance.'],
    ['kawatch_equal_priority', 'equal-priority', 'Several directors have the highest priority for the instance: the MASTER is chosen by address alone.'],
    ['kawatch_not_on_preferred_owner', 'not-on-preferred-owner', 'The instance runs on another director than its highest-priority one (failover without failback).'],
  ] as const) {
    snapshotGauge(registry, read, {
      name,
      help: `${help} 1 while detected, 0 otherwise; present for every known instance.`,
      labelNames: ['iname', 'vrid'],
      fill: (s, emit) => {
        const active = new Set(verdicts().filter((v) => v.kind === kind).map((v) => (v as { iname: string }).iname));
        for (const [iname, vrid] of knownInstances(s)) emit({ iname, vrid: vridLabel(vrid) }, active.has(iname) ? 1 : 0);
      },
    });
  }

  snapshotGauge(registry, read, {
    name: 'kawatch_config_mismatch',
    help: 'The directors disagree on this setting of the instance (virtual_router_id, authentication, virtual_ipaddress, advert_int).',
    labelNames: ['iname', 'vrid', 'field'],
    fill: (s, emit) => {
      const active = new Set(verdicts().flatMap((v) => (v.kind === 'config-mismatch' ? [`${v.iname} ${v.field}`] : [])));
      for (const [iname, vrid] of knownInstances(s)) {
        for (const field of MISMATCH_FIELDS) emit({ iname, vrid: vridLabel(vrid), field }, active.has(`${iname} ${field}`) ? 1 : 0);
      }
    },
  });

  snapshotGauge(registry, read, {
    name: 'kawatch_vip_on_several_nodes',
    help: 'The VIP is on the interfaces of more than one director (netlink on each).',
    labelNames: ['iname', 'vrid', 'ip_address'],
    fill: (s, emit) => {
      const active = new Set(verdicts().flatMap((v) => (v.kind === 'vip-on-several-nodes' ? [`${v.iname} ${v.address}`] : [])));
      for (const i of Object.values(s.instances)) {
        for (const vip of i.vips) emit({ iname: i.name, vrid: vridLabel(i.vrid), ip_address: vip.address }, active.has(`${i.name} ${vip.address}`) ? 1 : 0);
      }
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_vip_absent_on_master',
    help: 'The MASTER of the instance (this node or a peer) does not hold this VIP.',
    labelNames: ['iname', 'vrid', 'ip_address', 'node'],
    fill: (_s, emit) => {
      for (const v of verdicts()) if (v.kind === 'vip-absent-on-master') emit({ iname: v.iname, vrid: vridLabel(v.vrid), ip_address: v.address, node: v.node }, 1);
    },
  });

  snapshotCounter(registry, read, {
    name: 'kawatch_watchdog_actions_total',
    help: 'Actions the watchdog took (or, with dry_run, would have taken), from its journal; cancel: a demotion withdrawn before it was carried out, which is not counted as a demote.',
    labelNames: ['action', 'iname', 'dry_run'],
    fill: (_s, emit) => {
      const counts = new Map<string, { action: string; iname: string; dry_run: string; n: number }>();
      for (const e of carriedOut(actions(), 'demote')) {
        const key = `${e.action} ${e.iname} ${e.dryRun}`;
        const c = counts.get(key) ?? { action: e.action, iname: e.iname, dry_run: String(e.dryRun), n: 0 };
        c.n++;
        counts.set(key, c);
      }
      for (const { n, ...labels } of counts.values()) emit(labels, n);
    },
  });
  snapshotGauge(registry, read, {
    name: 'kawatch_watchdog_demoted',
    help: 'Whether the watchdog holds this local instance in FAULT through its track file (1), for every local instance.',
    labelNames: ['iname', 'vrid'],
    fill: (s, emit) => {
      const demoted = activeDemotions([...actions()].filter((e) => !e.dryRun));
      for (const i of Object.values(s.instances)) emit({ iname: i.name, vrid: vridLabel(i.vrid) }, demoted.has(i.name) ? 1 : 0);
    },
  });
}
