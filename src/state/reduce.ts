import type { DumpGroup, DumpInstance } from '../model/vrrp.js';
import type { KeepalivedReport, StateReport } from '../model/vrrp.js';
import type { VrrpState } from '../model/vrrp.js';
import { checkerKey, type AddressView, type Change, type GroupView, type InstanceView, type KnownKeepalived, type PeerState, type RestoredSubject, type Snapshot, type SourceName, type Update } from './snapshot.js';
import { dictFrom, emptyDict, entryOf, withEntry } from '../core/dict.js';
import { countInBaseline, identify, onsetAfter, reconcile, type Clock, type Reconciled, type Sighting, type SightingSource, type TransitionRecord } from './identity.js';

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
      return countEvent(withDumpGroups(applyDump(s, u.instances, u.at, u.pid, u.takenAfter), u.groups, u.at, u.takenAfter), 'dump');
    case 'restore':
      return unchanged(applyRestore(s, u.instances, u.groups, u.keepalived));
    case 'addresses':
      return countEvent({ snapshot: { ...s, addresses: dedupeAddresses(u.addresses) }, changes: [{ type: 'addresses', at: u.at }] }, 'netlink');
    case 'address':
      return countEvent(applyAddress(s, u.op, u.address, u.at), 'netlink');
    case 'process':
      return applyProcess(s, u);
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
    case 'witness-configured':
      return unchanged({ ...s, witness: u.target !== undefined && s.witness?.target === u.target ? s.witness : undefined });
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

function applyReport(s: Snapshot, report: KeepalivedReport, at: number, source: 'hook' | 'fifo'): Reduced {
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

/** What the hook and the FIFO say: the hook's stamp is within SAME_TRANSITION_MS of keepalived's time, a FIFO line's only when it was read. */
function sightingOf(source: 'hook' | 'fifo', to: VrrpState, at: number): Sighting {
  return { source, to, at, clock: source === 'hook' ? 'hook' : 'read', inOrder: true };
}

/**
 * The hook and the FIFO both report each transition, the spool may replay what a dump already
 * showed, the FIFO may hold lines from before a restart: state/identity.ts tells which transition
 * each report is, so each is a change once, in keepalived's order.
 */
function applyInstanceState(s: Snapshot, report: NamedStateReport, at: number, source: 'hook' | 'fifo'): Reduced {
  const current = entryOf(s.instances, report.name) ?? newInstance(report.name);
  const id = identify(current.log ?? [], current.state, sightingOf(source, report.state, at));
  if (id.kind === 'stale') return { snapshot: s, changes: [] };
  // A priority belongs to the state it came with: one replayed from an older transition is not current.
  const priority = id.kind === 'new' || report.state === current.state ? (report.priority ?? current.effectivePriority) : current.effectivePriority;
  if (id.kind === 'known') {
    const next: InstanceView = { ...current, effectivePriority: priority, log: id.log, stateSince: onsetAfter(id, current.stateSince) };
    return { snapshot: { ...s, instances: withEntry(s.instances, report.name, next) }, changes: [] };
  }
  const { from, to } = id.record;
  const next: InstanceView = { ...current, effectivePriority: priority, state: to, stateSince: at, log: id.log, counters: countInBaseline(current.counters, from, to) };
  return {
    snapshot: { ...s, instances: withEntry(s.instances, report.name, next) },
    changes: [{ type: 'transition', scope: 'instance', name: report.name, vrid: current.vrid, from, to, at, source }],
  };
}

function applyGroupState(s: Snapshot, report: NamedStateReport, at: number, source: 'hook' | 'fifo'): Reduced {
  const known = entryOf(s.groups, report.name);
  const current: GroupView = known ?? { name: report.name, state: 'INIT' };
  const id = identify(current.log ?? [], current.state, sightingOf(source, report.state, at));
  // A sync group first reported in INIT has not moved: nothing to record yet.
  if (id.kind === 'stale' || (id.kind === 'known' && !known)) return { snapshot: s, changes: [] };
  if (id.kind === 'known') return { snapshot: { ...s, groups: withEntry(s.groups, report.name, { ...current, log: id.log, stateSince: onsetAfter(id, current.stateSince) }) }, changes: [] };
  const { from, to } = id.record;
  return {
    snapshot: { ...s, groups: withEntry(s.groups, report.name, { name: report.name, state: to, stateSince: at, log: id.log }) },
    changes: [{ type: 'transition', scope: 'group', name: report.name, from, to, at, source }],
  };
}

/** The first record of a subject first seen in a dump: no transition, but the one later reports must find. */
function seedRecord(to: VrrpState, at: number, clock: Clock, source: SightingSource): TransitionRecord {
  return { seq: 1, from: 'INIT', to, at, clock, seenBy: [source] };
}

/**
 * A dump is keepalived's own full view: it replaces configuration and counters, drops instances
 * that are gone after a reload, and moves the state only when it is a transition no other source
 * reported (state/identity.ts: keepalived's last_transition is its identity; a dump older than
 * what the hook told is stale). Then keepalived's become_master/release_master are checked against
 * the transitions kawatch counted since the last dump.
 */
function applyDump(s: Snapshot, dumped: DumpInstance[], at: number, pid: number | undefined, takenAfter: number | undefined): Reduced {
  const instances = emptyDict<InstanceView>();
  const changes: Change[] = [];
  let reconciled: Reconciled = s.reconciled;
  const started = startedSinceSeen(s, pid);
  for (const d of dumped) {
    const { name, state, lastTransition, scriptsAwaited, ...settings } = d;
    const current = entryOf(s.instances, name);
    // keepalived's own hold until its weight-0 scripts first answer: no transition it logs or notifies.
    const awaitingScripts = state === 'FAULT' && (scriptsAwaited ?? 0) > 0;
    const timed = lastTransition !== undefined && lastTransition > 0;
    // Whole ms down, as the hook's stamp is cut from ns: never after the stamp of the same transition.
    const keepalivedSince = timed ? Math.floor(lastTransition * 1000) : at;
    const clock: Clock = timed ? 'keepalived' : 'read';
    const kept = { lowerPriorityAdverts: current?.lowerPriorityAdverts ?? 0, counters: current?.counters };
    // The dump's settings on the state kawatch knew: what a dump that is no transition leaves.
    const known = current ?? newInstance(name);
    const base: InstanceView = { ...settings, name, ...kept, state: known.state, stateSince: known.stateSince, log: known.log };
    let next: InstanceView;
    let stale = false;
    if (awaitingScripts) next = base;
    else if (!current && started && state !== 'INIT') {
      // A keepalived kawatch saw start: its instances' first states are transitions, whichever source tells them first.
      next = { ...settings, name, ...kept, state, stateSince: keepalivedSince, log: [seedRecord(state, keepalivedSince, clock, 'dump')] };
      changes.push({ type: 'transition', scope: 'instance', name, vrid: d.vrid, from: 'INIT', to: state, at: keepalivedSince, source: 'dump' });
    } else if (!current) {
      next = { ...settings, name, ...kept, state, stateSince: keepalivedSince, log: [seedRecord(state, keepalivedSince, clock, 'dump')] };
    } else {
      const id = identify(current.log ?? [], current.state, { source: 'dump', to: state, at: keepalivedSince, clock, inOrder: false, takenAfter });
      // A dump of an older transition (keepalived wrote it before a change the hook already told) is stale too.
      stale = id.kind === 'stale' || (id.kind === 'known' && !id.current);
      if (id.kind === 'known') next = { ...base, log: id.log, stateSince: onsetAfter(id, current.stateSince) };
      else if (id.kind === 'new') {
        const { from, to } = id.record;
        next = { ...base, state: to, stateSince: keepalivedSince, log: id.log, counters: countInBaseline(current.counters, from, to) };
        changes.push({ type: 'transition', scope: 'instance', name, vrid: d.vrid, from, to, at: keepalivedSince, source: 'dump' });
      } else next = base;
    }
    // A stale dump's counters are older than what was counted since: compared next time.
    if (d.stats && !stale) {
      const { baseline, result } = reconcile(next.counters, d.stats, pid);
      next = { ...next, counters: baseline };
      if (result) reconciled = { match: reconciled.match + result.match, missed: reconciled.missed + result.missed, duplicate: reconciled.duplicate + result.duplicate };
    }
    instances[name] = next;
  }
  return { snapshot: { ...s, instances, reconciled }, changes };
}

/**
 * The sync groups of a dump that has them: keepalived's full list (a group gone after a reload is
 * dropped), each one's state a transition only when nothing reported the group since keepalived was
 * asked for the dump. A group's line has no time of its own (unlike an instance's last_transition),
 * so a dump asked before a transition the hook or FIFO already told would otherwise undo it.
 */
function withDumpGroups(r: Reduced, dumped: readonly DumpGroup[] | undefined, at: number, takenAfter: number | undefined): Reduced {
  if (!dumped) return r;
  const s = r.snapshot;
  const groups = emptyDict<GroupView>();
  const changes: Change[] = [];
  // A dump kawatch did not ask for may be older than any report: it never overrides one.
  const askedAt = takenAfter ?? Number.NEGATIVE_INFINITY;
  for (const g of dumped) groups[g.name] = dumpedGroup(entryOf(s.groups, g.name), g, at, askedAt, changes);
  return { snapshot: { ...s, groups }, changes: [...r.changes, ...changes] };
}

function dumpedGroup(current: GroupView | undefined, g: DumpGroup, at: number, askedAt: number, changes: Change[]): GroupView {
  if (!current) return { name: g.name, state: g.state, stateSince: at, log: [seedRecord(g.state, at, 'read', 'dump')] };
  const latest = current.log?.at(-1);
  if (latest && !latest.seenBy.includes('dump') && latest.at >= askedAt) return current;
  const id = identify(current.log ?? [], current.state, { source: 'dump', to: g.state, at, clock: 'read', inOrder: false });
  if (id.kind === 'stale') return current;
  if (id.kind === 'known') return { ...current, log: id.log, stateSince: onsetAfter(id, current.stateSince) };
  const { from, to } = id.record;
  changes.push({ type: 'transition', scope: 'group', name: g.name, from, to, at, source: 'dump' });
  return { name: g.name, state: to, stateSince: at, log: id.log };
}

/**
 * Whether the keepalived that wrote a dump (`pid`) started while kawatch watched: kawatch saw it
 * down at an earlier check, or saw it start, or another process ran then. Otherwise (kawatch's own
 * start, keepalived already running) an instance first seen in a dump has made no transition kawatch saw.
 */
function startedSinceSeen(s: Snapshot, pid: number | undefined): boolean {
  const k = s.keepalived;
  if (k.checkedAt === undefined) return false;
  return !k.up || k.sawStart === true || (pid !== undefined && k.pid !== undefined && pid !== k.pid);
}

/** The last known state from `state_dir`; a subject some source already told of keeps what it told. */
function applyRestore(s: Snapshot, instances: readonly RestoredSubject[], groups: readonly RestoredSubject[], keepalived: KnownKeepalived | undefined): Snapshot {
  const restoredInstances = dictFrom(Object.entries(s.instances));
  for (const r of instances) {
    if (entryOf(restoredInstances, r.name)) continue;
    restoredInstances[r.name] = { ...newInstance(r.name), vrid: r.vrid, state: r.state, stateSince: r.stateSince, log: r.log, counters: r.counters };
  }
  const restoredGroups = dictFrom(Object.entries(s.groups));
  for (const r of groups) {
    if (entryOf(restoredGroups, r.name)) continue;
    restoredGroups[r.name] = { name: r.name, state: r.state, stateSince: r.stateSince, log: r.log };
  }
  // The process those states came from, until kawatch checks the one running now (applyProcess).
  const known = keepalived && s.keepalived.checkedAt === undefined ? { ...s.keepalived, pid: keepalived.pid, startedAt: keepalived.startedAt, identity: keepalived.identity } : s.keepalived;
  return { ...s, instances: restoredInstances, groups: restoredGroups, keepalived: known };
}

/**
 * A start time from a file of an older version was read in whole seconds of the boot, up to a
 * second early; one process's start times never differ by more.
 */
const SAME_START_WITHIN_MS = 1500;

/** Whether a check sees the keepalived the states came from: by identity where both have one. */
function isSameProcess(k: Snapshot['keepalived'], seen: { pid?: number; startedAt?: number; identity?: string }): boolean {
  if (k.pid !== seen.pid) return false;
  if (k.identity !== undefined && seen.identity !== undefined) return k.identity === seen.identity;
  return k.startedAt === undefined || seen.startedAt === undefined || Math.abs(k.startedAt - seen.startedAt) < SAME_START_WITHIN_MS;
}

function applyProcess(s: Snapshot, seen: Extract<Update, { type: 'process' }>): Reduced {
  const { up, pid, startedAt, at } = seen;
  const k = s.keepalived;
  const sameProcess = isSameProcess(k, seen);
  const sawStart = up && (k.up && sameProcess ? k.sawStart : k.checkedAt !== undefined) ? true : undefined;
  // The start time a check saw first is kept: one process's start times differ by a few ms between kawatch runs.
  const keepalived = up ? { up, pid, startedAt: sameProcess ? (k.startedAt ?? startedAt) : startedAt, identity: seen.identity, checkedAt: at, sawStart } : { up, pid, checkedAt: at };
  if (k.up === up && sameProcess) return unchanged({ ...s, keepalived });
  const changes: Change[] = [{ type: 'process', up, pid, at }];
  let instances = s.instances;
  // A dead keepalived holds nothing: every instance it ran is stopped, whatever the last event said.
  if (!up) instances = stopped(s.instances, at, Number.POSITIVE_INFINITY, changes);
  // Another keepalived than the one the states came from, which kawatch never saw stop (a restart
  // between two checks, or while kawatch was down: the pid state_dir kept): the one before stopped
  // before this one started. What was told since is this one's already.
  else if (k.pid !== undefined && k.startedAt !== undefined && startedAt !== undefined && !sameProcess) instances = stopped(s.instances, startedAt, startedAt, changes);
  return { snapshot: { ...s, instances, keepalived }, changes };
}

/** Every instance whose latest transition is before `before` goes to STOP, by `at` at the latest. */
function stopped(instances: Snapshot['instances'], at: number, before: number, changes: Change[]): Snapshot['instances'] {
  return dictFrom(
    Object.entries(instances).map(([name, inst]) => {
      if ((inst.log?.at(-1)?.at ?? Number.NEGATIVE_INFINITY) >= before) return [name, inst];
      const id = identify(inst.log ?? [], inst.state, { source: 'process', to: 'STOP', at, clock: 'read', inOrder: true });
      if (id.kind !== 'new') return [name, id.kind === 'known' ? { ...inst, log: id.log } : inst];
      changes.push({ type: 'transition', scope: 'instance', name, vrid: inst.vrid, from: inst.state, to: 'STOP', at, source: 'process' });
      return [name, { ...inst, state: 'STOP' as const, stateSince: at, log: id.log, counters: countInBaseline(inst.counters, inst.state, 'STOP') }];
    }),
  );
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
