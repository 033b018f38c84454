import { dictFrom, emptyDict, type Dict } from '../core/dict.js';
import { buildView, reportLagMs } from '../peer/view.js';
import { type PeerInstance, type PeerView, type PeerWire } from '../model/peer.js';
import { electionOrder, type Contender } from './election.js';
import type { Snapshot } from '../state/snapshot.js';
import { wireCauses, wireConfirmsSplit } from './wire.js';

export type Verdict =
  /**
   * More than one director is MASTER for one instance, each by its own account over the secondary
   * link, for longer than a VRRP hand-over takes. `since`: when the last of them became MASTER.
   */
  | { kind: 'split-brain'; iname: string; vrid?: number; masters: string[]; since?: number; causes: string[] }
  /** Every director of the group is reachable and runs keepalived, and none is MASTER. */
  | { kind: 'no-master'; iname: string; vrid?: number; nodes: string[] }
  /** One VIP sits on the interfaces of several directors. */
  | { kind: 'vip-on-several-nodes'; iname: string; vrid?: number; address: string; nodes: string[] }
  /** The MASTER does not hold a VIP it should. */
  | { kind: 'vip-absent-on-master'; iname: string; vrid?: number; address: string; node: string }
  /** No authenticated exchange with this peer lately: its view is unknown, nothing is concluded from it. */
  | { kind: 'peer-unreachable'; peer: string; lastExchange?: number; error?: string }
  /** The directors disagree on a setting that must match for VRRP to work (a classic split-brain cause). */
  | { kind: 'config-mismatch'; iname: string; vrid?: number; field: MismatchField; values: Dict<string> }
  /** Several directors have the same priority: the MASTER is chosen by address alone. */
  | { kind: 'equal-priority'; iname: string; vrid?: number; priority: number; nodes: string[] }
  /** The instance runs on another director than the one with the highest priority (failover without failback). */
  | { kind: 'not-on-preferred-owner'; iname: string; vrid?: number; preferred: string; master: string };

export const MISMATCH_FIELDS = ['virtual_router_id', 'authentication', 'virtual_ipaddress', 'advert_int'] as const;
export type MismatchField = (typeof MISMATCH_FIELDS)[number];

export type VerdictKind = Verdict['kind'];

export interface DiagnoseOptions {
  now: number;
  /** A peer whose last exchange is older than this is unreachable, and its last view is not used. */
  unreachableAfterMs: number;
  /**
   * How long two MASTERs must coexist to be a split brain. A preempting MASTER and the one it
   * replaces overlap for the few milliseconds the hand-over advert takes: that is VRRP working.
   */
  confirmAfterMs: number;
  /**
   * Since when this node has been listening to its peers. A peer never heard from is unreachable
   * only once it has had `unreachableAfterMs` to answer: at start nobody has been heard yet.
   * Unset: since long ago.
   */
  listeningSince?: number;
  /** What this director hears of VRRP on the wire (the observer's summary), as its view tells its peers. */
  wire?: PeerWire;
}

/** The views that count right now: ours, and those of peers heard from recently. */
export function currentViews(s: Snapshot, options: DiagnoseOptions): { views: PeerView[]; unreachable: Verdict[]; heardAt: Map<string, number> } {
  const views: PeerView[] = [buildView(s, undefined, options.wire)];
  const unreachable: Verdict[] = [];
  // When each view was last confirmed by an exchange (ours is current by definition).
  const heardAt = new Map<string, number>([[s.node, options.now]]);
  const starting = options.listeningSince !== undefined && options.now - options.listeningSince < options.unreachableAfterMs;
  for (const peer of Object.values(s.peers)) {
    const fresh = peer.view && peer.lastExchange !== undefined && options.now - peer.lastExchange <= options.unreachableAfterMs;
    if (fresh) {
      views.push(peer.view!);
      heardAt.set(peer.name, peer.lastExchange!);
    } else if (!(starting && peer.lastExchange === undefined)) {
      unreachable.push({ kind: 'peer-unreachable', peer: peer.name, lastExchange: peer.lastExchange, error: peer.lastError });
    }
  }
  return { views, unreachable, heardAt };
}

type Account = Contender & { view: PeerView };

/** Instance name → each node's account of it. */
function byInstance(views: PeerView[]): Map<string, Account[]> {
  const map = new Map<string, Account[]>();
  for (const view of views) {
    for (const instance of view.instances) {
      const list = map.get(instance.name) ?? [];
      list.push({ node: view.node, view, instance });
      map.set(instance.name, list);
    }
  }
  return map;
}

/** Whether an account carries keepalived's settings of the instance, not only its state (see `settingsKnown`). */
function settingsKnown(instance: PeerInstance): boolean {
  return instance.settingsKnown ?? instance.vrid !== undefined;
}

const isMaster = (a: Account) => a.view.keepalivedUp && a.instance.state === 'MASTER';

/**
 * A MASTER holding none of the VIPs it owes is leaving MASTER (for BACKUP, FAULT or STOP):
 * keepalived removes the VIPs first and writes the FIFO line after, so until that line this view
 * is a transition, not a contender. Split brain, VIP and preferred-owner verdicts count it out;
 * if it stays so, it is reported as a MASTER without its VIPs (`vip-absent-on-master`).
 */
export function leavingMaster(instance: PeerInstance): boolean {
  return settingsKnown(instance) && instance.vips.length > 0 && instance.vipsPresent !== undefined && !instance.vips.some((a) => instance.vipsPresent!.includes(a));
}

const sinceOf = (a: Contender) => a.instance.stateSince ?? -Infinity;
const advertMs = (a: Contender) => (a.instance.advertInterval ?? 1) * 1000;

/**
 * Whether these accounts can be compared at all: each must come from an exchange after the
 * latest transition among them. A view from before it (a link went down at the same time, or
 * the peer has not answered since) may no longer be true, and proves nothing.
 */
function heardSinceChange(accounts: Contender[], heardAt: ReadonlyMap<string, number>): boolean {
  const since = Math.max(...accounts.map(sinceOf));
  return accounts.every((a) => (heardAt.get(a.node) ?? -Infinity) >= since);
}

interface Situation {
  iname: string;
  accounts: Account[];
  /** The MASTERs contending for it: those leaving MASTER (`leavingMaster`) are not. */
  masters: Account[];
  heardAt: ReadonlyMap<string, number>;
  options: DiagnoseOptions;
  /** How many views count: the MASTER may be a director that reports no such instance. */
  viewCount: number;
  everyoneHeard: boolean;
}

/**
 * Each candidate verdict of one instance with the time from which it holds (`-Infinity`: at
 * once). A candidate due later is a transition passing through (a hand-over, an election):
 * `diagnose` reports it only once due, `nextConfirmation` says when to look again.
 */
function candidates(sit: Situation): { verdict: Verdict; dueAt: number }[] {
  const { iname, accounts, masters, heardAt, options, viewCount, everyoneHeard } = sit;
  const vrid = accounts.find((a) => a.instance.vrid !== undefined)?.instance.vrid;
  const found: { verdict: Verdict; dueAt: number }[] = [];
  const atOnce = (verdict: Verdict) => found.push({ verdict, dueAt: -Infinity });
  // Settings are compared only between accounts that know them: before its first dump a director reports no VIPs.
  const configured = accounts.filter((a) => settingsKnown(a.instance));
  const mismatches = configMismatches(iname, vrid, configured);
  mismatches.forEach(atOnce);
  const dual = dualMaster(masters, options.confirmAfterMs, heardAt);
  if (dual) {
    const masterNodes = masters.map((m) => m.node).sort();
    found.push({ verdict: { kind: 'split-brain', iname, vrid, masters: masterNodes, since: Number.isFinite(dual.since) ? dual.since : undefined, causes: [...wireCauses(accounts, vrid), ...probableCauses(mismatches, masterNodes)] }, dueAt: wireConfirmsSplit(masters) ? dual.since : dual.confirmAt });
  }
  found.push(...priorityFindings(iname, vrid, accounts, masters, everyoneHeard, heardAt));
  const running = accounts.filter((a) => a.view.keepalivedUp);
  // Only with every peer heard and every keepalived up: otherwise the MASTER may be the one we cannot see.
  // Not during an election: all BACKUP for less than VRRP's master-down interval is normal.
  if (masters.length === 0 && everyoneHeard && running.length === viewCount && running.every((a) => a.instance.state === 'BACKUP') && heardSinceChange(running, heardAt)) {
    found.push({ verdict: { kind: 'no-master', iname, vrid, nodes: running.map((a) => a.node).sort() }, dueAt: Math.max(...running.map(sinceOf)) + masterDownMs(running) });
  }
  const addresses = new Set(configured.flatMap((a) => a.instance.vips));
  for (const address of addresses) {
    const holders = configured.filter((a) => a.instance.vipsPresent?.includes(address));
    const overlap = holders.length > 1 ? vipOverlap(holders, options, heardAt) : undefined;
    if (overlap !== undefined) found.push({ verdict: { kind: 'vip-on-several-nodes', iname, vrid, address, nodes: holders.map((h) => h.node).sort() }, dueAt: overlap });
  }
  for (const m of accounts.filter(isMaster)) {
    // A MASTER owes the VIPs of its own configuration (another director's differing list is a config mismatch).
    if (!settingsKnown(m.instance) || !m.instance.vipsPresent) continue;
    for (const address of m.instance.vips) {
      if (m.instance.vipsPresent.includes(address)) continue;
      // keepalived adds the VIPs just after it becomes MASTER: give it an advert interval. (On
      // leaving MASTER it removes them just before it says so: `heldVerdicts` waits that out.)
      found.push({ verdict: { kind: 'vip-absent-on-master', iname, vrid, address, node: m.node }, dueAt: sinceOf(m) + advertMs(m) });
    }
  }
  return found;
}

/**
 * Everything wrong with the group, from this node's view and its peers' recent views. Pure: the
 * same views give the same verdicts on every director, which is what lets exactly one of them act.
 */
export function diagnose(s: Snapshot, options: DiagnoseOptions): Verdict[] {
  const { unreachable, found } = survey(s, options);
  return [...unreachable, ...found.flatMap((c) => (options.now >= c.dueAt ? [c.verdict] : []))];
}

/** Every candidate verdict of every instance, from the views that count now. */
function survey(s: Snapshot, options: DiagnoseOptions): { unreachable: Verdict[]; found: { verdict: Verdict; dueAt: number }[] } {
  const { views, unreachable, heardAt } = currentViews(s, options);
  const found = [...byInstance(views)].flatMap(([iname, accounts]) => {
    const masters = accounts.filter((a) => isMaster(a) && !leavingMaster(a.instance));
    // Every peer's view at hand: a peer not heard yet at start is not unreachable, but not heard either.
    const everyoneHeard = unreachable.length === 0 && views.length === Object.keys(s.peers).length + 1;
    return candidates({ iname, accounts, masters, heardAt, options, viewCount: views.length, everyoneHeard });
  });
  return { unreachable, found };
}

/**
 * When several MASTERs began to coexist (the latest of their transitions; unknown ones count as
 * long ago), and when that becomes a split brain. A newcomer that outranks a MASTER already there
 * is preempting it, and VRRP hands over within an advert interval: only a dual MASTER lasting
 * longer is a split. A newcomer that does not outrank anyone became MASTER because it hears
 * nobody: that is a split at once, after the short `confirmAfterMs` guard.
 */
function dualMaster(masters: Contender[], confirmAfterMs: number, heardAt: ReadonlyMap<string, number>): { since: number; confirmAt: number } | undefined {
  if (masters.length < 2) return undefined;
  const since = Math.max(...masters.map(sinceOf));
  // Seen by both sides: every MASTER's view must come from an exchange after the onset.
  if (!heardSinceChange(masters, heardAt)) return undefined;
  const newest = masters.find((m) => sinceOf(m) === since)!;
  const order = electionOrder(masters);
  const preempting = order !== undefined && order.indexOf(newest) < order.length - 1;
  return { since, confirmAt: since + confirmAfterMs + (preempting ? advertMs(newest) : 0) };
}

/**
 * When one VIP on several directors stops being a hand-over: between MASTERs, when their dual
 * MASTER would be a split brain; on a director that just left MASTER (its VIPs go before the
 * FIFO line, but the address event may come after it), after `confirmAfterMs`. Undefined when
 * the views cannot be compared.
 */
function vipOverlap(holders: Account[], options: DiagnoseOptions, heardAt: ReadonlyMap<string, number>): number | undefined {
  if (!heardSinceChange(holders, heardAt)) return undefined;
  if (holders.every((h) => h.view.keepalivedUp && h.instance.state === 'MASTER')) return dualMaster(holders, options.confirmAfterMs, heardAt)?.confirmAt;
  return Math.max(...holders.map(sinceOf)) + options.confirmAfterMs;
}

/** VRRP's master-down interval (three adverts and a skew): how long an election may take. */
function masterDownMs(accounts: Account[]): number {
  const advert = Math.max(1, ...accounts.map((a) => a.instance.advertInterval ?? 1));
  return (3 * advert + 1) * 1000;
}

/**
 * When the next verdict a transition is passing through (a hand-over, an election, a VIP being
 * added) would be due, if it lasts: the watchdog looks again then, rather than waiting for its next tick.
 */
export function nextConfirmation(s: Snapshot, options: DiagnoseOptions): number | undefined {
  const due = survey(s, options).found.flatMap((c) => (c.dueAt > options.now ? [c.dueAt] : []));
  return due.length ? Math.min(...due) : undefined;
}

function describeValue(field: MismatchField, instance: PeerInstance): string | undefined {
  switch (field) {
    case 'virtual_router_id':
      return instance.vrid === undefined ? undefined : String(instance.vrid);
    case 'authentication':
      return instance.authDigest;
    case 'virtual_ipaddress':
      return [...instance.vips].sort().join(' ');
    case 'advert_int':
      return instance.advertInterval === undefined ? undefined : `${instance.advertInterval}s`;
  }
}

/** Settings that differ between the directors' accounts of one instance (unknown values are not compared). */
function configMismatches(iname: string, vrid: number | undefined, accounts: Account[]): Verdict[] {
  const found: Verdict[] = [];
  for (const field of MISMATCH_FIELDS) {
    // Keyed by node names, which the peers choose.
    const values = emptyDict<string>();
    for (const a of accounts) {
      const value = describeValue(field, a.instance);
      if (value !== undefined) values[a.node] = value;
    }
    if (new Set(Object.values(values)).size > 1) {
      // The digests themselves mean nothing to a reader: say only that they differ.
      found.push({ kind: 'config-mismatch', iname, vrid, field, values: field === 'authentication' ? dictFrom(Object.keys(values).map((n) => [n, 'differs'])) : values });
    }
  }
  return found;
}

function probableCauses(mismatches: Verdict[], masters: string[]): string[] {
  const causes = mismatches.flatMap((m) =>
    m.kind === 'config-mismatch' ? [`${m.field} differs between directors (${Object.entries(m.values).map(([n, v]) => `${n}: ${v}`).join(', ')}): each ignores the other's adverts`] : [],
  );
  if (causes.length === 0) {
    causes.push(`VRRP adverts are not getting through between ${masters.join(' and ')}: IP protocol 112 dropped by a firewall (nftables, iptables, security group), multicast 224.0.0.18 filtered by the switch, or the primary link down`);
  }
  return causes;
}

/**
 * Equal priorities, and an instance left on another director than its preferred (highest-priority)
 * one. A preferred director just back in BACKUP takes its instance over at the next adverts
 * (preemption): that is failback under way, due only after VRRP's master-down interval.
 */
function priorityFindings(iname: string, vrid: number | undefined, accounts: Account[], masters: Account[], everyoneHeard: boolean, heardAt: ReadonlyMap<string, number>): { verdict: Verdict; dueAt: number }[] {
  const found: { verdict: Verdict; dueAt: number }[] = [];
  const known = accounts.filter((a) => settingsKnown(a.instance) && a.instance.basePriority !== undefined);
  if (known.length < 2 || known.length !== accounts.length) return found;
  const top = Math.max(...known.map((a) => a.instance.basePriority!));
  const atTop = known.filter((a) => a.instance.basePriority === top);
  if (atTop.length > 1) found.push({ verdict: { kind: 'equal-priority', iname, vrid, priority: top, nodes: atTop.map((a) => a.node).sort() }, dueAt: -Infinity });
  const preferred = atTop.length === 1 ? atTop[0]! : undefined;
  const master = masters.length === 1 ? masters[0]! : undefined;
  if (everyoneHeard && preferred && master && master.node !== preferred.node && preferred.view.keepalivedUp && preferred.instance.state === 'BACKUP' && heardSinceChange([master, preferred], heardAt)) {
    found.push({ verdict: { kind: 'not-on-preferred-owner', iname, vrid, preferred: preferred.node, master: master.node }, dueAt: sinceOf(preferred) + masterDownMs([master, preferred]) });
  }
  return found;
}

/** Every instance name known in the group, local or reported by a peer, with its vrid when known. */
export function knownInstances(s: Snapshot): Map<string, number | undefined> {
  const known = new Map<string, number | undefined>();
  const note = (name: string, vrid?: number) => known.set(name, known.get(name) ?? vrid);
  for (const i of Object.values(s.instances)) note(i.name, i.vrid);
  for (const p of Object.values(s.peers)) for (const i of p.view?.instances ?? []) note(i.name, i.vrid);
  return known;
}

/**
 * Verdicts no snapshot can tell from a transition in progress, with how long they must hold:
 * keepalived leaving MASTER (for BACKUP, FAULT or STOP) removes the VIPs first and says so on
 * the FIFO just after, so for that moment the snapshot shows a MASTER without its VIPs; and
 * keepalived becoming MASTER adds the VIPs first, so for that moment a director still BACKUP by
 * its last line holds the VIP that the MASTER of a peer's view (fresh, or last heard before a
 * cut) holds too — until the FIFO line makes it a dual MASTER, judged on fresh views only.
 */
function holdMs(v: Verdict, diagnosed: readonly Verdict[], options: HoldOptions): number {
  // A director that learns its transitions late (the hook alone) says so, and is waited for that much longer.
  const lag = (nodes: readonly string[]) => Math.max(0, ...nodes.map((n) => options.reportLagMs?.get(n) ?? 0));
  if (v.kind === 'vip-absent-on-master') return options.confirmAfterMs + lag([v.node]);
  if (v.kind !== 'vip-on-several-nodes') return 0;
  // On the MASTERs of a split brain diagnosed now, the VIP is that split, confirmed with it.
  const split = diagnosed.some((d) => d.kind === 'split-brain' && d.iname === v.iname && v.nodes.every((n) => d.masters.includes(n)));
  return split ? 0 : options.confirmAfterMs + lag(v.nodes);
}

export type HoldOptions = Pick<DiagnoseOptions, 'now' | 'confirmAfterMs'> & {
  /** Per director, how late it may learn of its keepalived's transitions (`reportLags`). */
  reportLagMs?: ReadonlyMap<string, number>;
};

/** How late each director may learn of its keepalived's transitions: this one's own, and what each peer's view says. */
export function reportLags(s: Snapshot): Map<string, number> {
  const lags = new Map<string, number>([[s.node, reportLagMs(s)]]);
  for (const p of Object.values(s.peers)) if (p.view?.reportLagMs !== undefined) lags.set(p.name, p.view.reportLagMs);
  return lags;
}

/**
 * The verdicts that have held long enough, from one diagnosis and the time each was first seen in
 * the ones before (`seenSince`, kept by the caller, is returned updated); `nextAt` is when one
 * still held back would be due. Pure: the caller keeps `seenSince` between diagnoses.
 */
export function heldVerdicts(diagnosed: Verdict[], seenSince: ReadonlyMap<string, number>, options: HoldOptions): { verdicts: Verdict[]; seenSince: Map<string, number>; nextAt?: number } {
  const since = new Map<string, number>();
  const verdicts: Verdict[] = [];
  let nextAt: number | undefined;
  for (const v of diagnosed) {
    const key = verdictKey(v);
    const first = seenSince.get(key) ?? options.now;
    since.set(key, first);
    const dueAt = first + holdMs(v, diagnosed, options);
    if (options.now >= dueAt) verdicts.push(v);
    else if (nextAt === undefined || dueAt < nextAt) nextAt = dueAt;
  }
  return { verdicts, seenSince: since, nextAt };
}

/** A stable key per verdict, to tell raised from cleared between two diagnoses. */
export function verdictKey(v: Verdict): string {
  switch (v.kind) {
    case 'peer-unreachable':
      return `${v.kind}|${v.peer}`;
    case 'vip-on-several-nodes':
    case 'vip-absent-on-master':
      return `${v.kind}|${v.iname}|${v.address}`;
    case 'config-mismatch':
      return `${v.kind}|${v.iname}|${v.field}`;
    default:
      return `${v.kind}|${v.iname}`;
  }
}
