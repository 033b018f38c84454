import type { DumpInstance } from '../model/vrrp.js';
import type { KeepalivedReport, StateReport } from '../model/vrrp.js';
import { checkerKey, type AddressView, type Change, type InstanceView, type PeerState, type Snapshot, type SourceName, type Update } from './snapshot.js';
import { dictFrom, emptyDict, entryOf, withEntry } from '../core/dict.js';

export interface Reduced {
  snapshot: Snapshot;
  changes: Change[];
}

/** The single place where state changes: pure, so every merge rule is a unit test. */
export function reduce(s: Snapshot, u: Update): Reduced {
  switch (u.type) {
    case 'report':
      return countEvent(applyReport(s, u.report, u.at, u.source), u.source);
    case 'dump':
      return countEvent(applyDump(s, u.instances, u.at), 'dump');
    case 'addresses':
      return countEvent({ snapshot: { ...s, addresses: dedupeAddresses(u.addresses) }, changes: [{ type: 'addresses', at: u.at }] }, 'netlink');
    case 'address':
      return countEvent(applyAddress(s, u.op, u.address, u.at), 'netlink');
    case 'process':
      return applyProcess(s, u.up, u.pid, u.at);
    case 'source-ok':
      return unchanged(withSource(s, u.source, (h) => ({ ...h, up: true, lastSuccess: u.at, lastError: undefined })));
    case 'source-error':
      return unchanged(withSource(s, u.source, (h) => ({ ...h, up: false, lastError: u.error, errors: h.errors + 1 })));
    case 'source-rejected':
      return unchanged(withSource(s, u.source, (h) => ({ ...h, lastRejected: u.error, rejected: h.rejected + 1 })));
    case 'source-enabled':
      return unchanged(withSource(s, u.source, (h) => ({ ...h, enabled: u.enabled, up: u.enabled && h.up })));
    case 'peers-configured':
      return unchanged({
        ...s,
        peers: dictFrom(u.peers.map((p) => [p.name, { ...(entryOf(s.peers, p.name) ?? { errors: 0 }), name: p.name, address: p.address }])),
      });
    case 'peer-view':
      return unchanged(withPeer(s, u.peer, (p) => ({ ...p, view: u.view, lastExchange: u.at, rttMs: u.rttMs ?? p.rttMs, lastError: undefined })));
    case 'peer-error':
      return unchanged(withPeer(s, u.peer, (p) => ({ ...p, lastError: u.error, errors: p.errors + 1 })));
    case 'witness': {
      const previous = s.witness?.target === u.target ? s.witness : undefined;
      const witness = u.error === undefined
        ? { target: u.target, lastReached: u.at }
        : { target: u.target, lastReached: previous?.lastReached, unreachableSince: previous?.unreachableSince ?? u.at, error: u.error };
      return unchanged({ ...s, witness });
    }
    case 'drill':
      return unchanged({ ...s, drill: u.drill });
    case 'peer-rejected':
      return unchanged({ ...s, peerRejected: withEntry(s.peerRejected, u.reason, (entryOf(s.peerRejected, u.reason) ?? 0) + 1) });
  }
}

function unchanged(snapshot: Snapshot): Reduced {
  return { snapshot, changes: [] };
}

function withSource(s: Snapshot, source: SourceName, f: (h: Snapshot['sources'][SourceName]) => Snapshot['sources'][SourceName]): Snapshot {
  return { ...s, sources: withEntry(s.sources, source, f(s.sources[source])) as Snapshot['sources'] };
}

/** Updates for peers that are not configured (any more) are dropped: the peer list comes from the config alone. */
function withPeer(s: Snapshot, name: string, f: (p: PeerState) => PeerState): Snapshot {
  const peer = entryOf(s.peers, name);
  return peer ? { ...s, peers: withEntry(s.peers, name, f(peer)) } : s;
}

function countEvent(r: Reduced, source: SourceName): Reduced {
  return { ...r, snapshot: withSource(r.snapshot, source, (h) => ({ ...h, events: h.events + 1 })) };
}

function newInstance(name: string): InstanceView {
  return { name, state: 'INIT', vips: [], lowerPriorityAdverts: 0 };
}

function applyReport(s: Snapshot, report: KeepalivedReport, at: number, source: SourceName): Reduced {
  switch (report.kind) {
    case 'state':
      if (report.name === undefined) return { snapshot: s, changes: [{ type: 'unattributed', state: report.state, at, source }] };
      return report.scope === 'instance' ? applyInstanceState(s, { ...report, name: report.name }, at, source) : applyGroupState(s, { ...report, name: report.name }, at, source);
    case 'master-rx-lower-priority': {
      const current = entryOf(s.instances, report.name) ?? newInstance(report.name);
      const next = { ...current, lowerPriorityAdverts: current.lowerPriorityAdverts + 1 };
      return { snapshot: { ...s, instances: withEntry(s.instances, report.name, next) }, changes: [{ type: 'master-rx-lower-priority', name: report.name, at }] };
    }
    case 'priority': {
      const current = entryOf(s.instances, report.name) ?? newInstance(report.name);
      if (current.effectivePriority === report.priority) return { snapshot: s, changes: [] };
      const next = { ...current, effectivePriority: report.priority };
      return { snapshot: { ...s, instances: withEntry(s.instances, report.name, next) }, changes: [{ type: 'priority', name: report.name, priority: report.priority, at }] };
    }
    case 'checker': {
      const key = checkerKey(report.virtualServer, report.realServer);
      const previous = entryOf(s.checkers, key);
      if (previous && previous.up === report.up) return { snapshot: s, changes: [] };
      const view = { virtualServer: report.virtualServer, realServer: report.realServer, up: report.up, since: at };
      return {
        snapshot: { ...s, checkers: withEntry(s.checkers, key, view) },
        changes: [{ type: 'checker', key, virtualServer: report.virtualServer, realServer: report.realServer, up: report.up, at }],
      };
    }
  }
}

type NamedStateReport = StateReport & { name: string };

function applyInstanceState(s: Snapshot, report: NamedStateReport, at: number, source: SourceName): Reduced {
  const current = entryOf(s.instances, report.name) ?? newInstance(report.name);
  // The hook and the FIFO both report the same transition, and a hook replayed from the spool
  // may be older than what a dump already showed: only a newer, different state is a transition.
  if (current.stateSince !== undefined && at < current.stateSince) return { snapshot: s, changes: [] };
  const next: InstanceView = { ...current, effectivePriority: report.priority ?? current.effectivePriority };
  const changes: Change[] = [];
  if (current.state !== report.state) {
    next.state = report.state;
    next.stateSince = at;
    changes.push({ type: 'transition', scope: 'instance', name: report.name, vrid: current.vrid, from: current.state, to: report.state, at, source });
  }
  return { snapshot: { ...s, instances: withEntry(s.instances, report.name, next) }, changes };
}

function applyGroupState(s: Snapshot, report: NamedStateReport, at: number, source: SourceName): Reduced {
  const current = entryOf(s.groups, report.name) ?? { name: report.name, state: 'INIT' as const };
  if (current.state === report.state || (current.stateSince !== undefined && at < current.stateSince)) return { snapshot: s, changes: [] };
  return {
    snapshot: { ...s, groups: withEntry(s.groups, report.name, { name: report.name, state: report.state, stateSince: at }) },
    changes: [{ type: 'transition', scope: 'group', name: report.name, from: current.state, to: report.state, at, source }],
  };
}

/**
 * A dump is keepalived's own full view: it replaces configuration and counters, drops instances
 * that are gone after a reload, and moves the state only when keepalived's transition is at
 * least as recent as what the hook or FIFO already told (a dump can be older than an event).
 */
function applyDump(s: Snapshot, dumped: DumpInstance[], at: number): Reduced {
  const instances = emptyDict<InstanceView>();
  const changes: Change[] = [];
  for (const d of dumped) {
    const { name, state, lastTransition, ...settings } = d;
    const current = entryOf(s.instances, name);
    const keepalivedSince = lastTransition !== undefined && lastTransition > 0 ? Math.round(lastTransition * 1000) : at;
    const next: InstanceView = {
      ...settings,
      name,
      state: current?.state ?? state,
      stateSince: current?.stateSince ?? keepalivedSince,
      lowerPriorityAdverts: current?.lowerPriorityAdverts ?? 0,
    };
    if (current && current.state !== state && (current.stateSince === undefined || keepalivedSince >= current.stateSince)) {
      next.state = state;
      next.stateSince = keepalivedSince;
      changes.push({ type: 'transition', scope: 'instance', name, vrid: d.vrid, from: current.state, to: state, at: keepalivedSince, source: 'dump' });
    }
    instances[name] = next;
  }
  return { snapshot: { ...s, instances }, changes };
}

function applyProcess(s: Snapshot, up: boolean, pid: number | undefined, at: number): Reduced {
  if (s.keepalived.up === up && s.keepalived.pid === pid) return unchanged({ ...s, keepalived: { up, pid, checkedAt: at } });
  const changes: Change[] = [{ type: 'process', up, pid, at }];
  let instances = s.instances;
  if (!up) {
    // A dead keepalived holds nothing: every instance it ran is stopped, whatever the last event said.
    instances = dictFrom(
      Object.entries(s.instances).map(([name, inst]) => {
        if (inst.state === 'STOP') return [name, inst];
        changes.push({ type: 'transition', scope: 'instance', name, vrid: inst.vrid, from: inst.state, to: 'STOP', at, source: 'process' });
        return [name, { ...inst, state: 'STOP' as const, stateSince: at }];
      }),
    );
  }
  return { snapshot: { ...s, instances, keepalived: { up, pid, checkedAt: at } }, changes };
}

function addressKey(a: AddressView): string {
  return `${a.ifname}|${a.address}/${a.prefix}`;
}

function dedupeAddresses(list: readonly AddressView[]): AddressView[] {
  return [...new Map(list.map((a) => [addressKey(a), a])).values()];
}

function applyAddress(s: Snapshot, op: 'add' | 'del', address: AddressView, at: number): Reduced {
  const others = (s.addresses ?? []).filter((a) => addressKey(a) !== addressKey(address));
  return { snapshot: { ...s, addresses: op === 'add' ? [...others, address] : others }, changes: [{ type: 'addresses', at }] };
}
