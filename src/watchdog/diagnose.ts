import { dictFrom, emptyDict, type Dict } from '../core/dict.js';
import { buildView } from '../peer/view.js';
import { type PeerInstance, type PeerView } from '../model/peer.js';
import { electionOrder, type Contender } from './election.js';
import type { Snapshot } from '../state/snapshot.js';

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
}

/** The views that count right now: ours, and those of peers heard from recently. */
export function currentViews(s: Snapshot, options: DiagnoseOptions): { views: PeerView[]; unreachable: Verdict[]; heardAt: Map<string, number> } {
  const views: PeerView[] = [buildView(s)];
  const unreachable: Verdict[] = [];
  // When each view was last confirmed by an exchange (ours is current by definition).
  const heardAt = new Map<string, number>([[s.node, options.now]]);
  for (const peer of Object.values(s.peers)) {
    const fresh = peer.view && peer.lastExchange !== undefined && options.now - peer.lastExchange <= options.unreachableAfterMs;
    if (fresh) {
      views.push(peer.view!);
      heardAt.set(peer.name, peer.lastExchange!);
    } else unreachable.push({ kind: 'peer-unreachable', peer: peer.name, lastExchange: peer.lastExchange, error: peer.lastError });
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

/**
 * Everything wrong with the group, from this node's view and its peers' recent views. Pure: the
 * same views give the same verdicts on every director, which is what lets exactly one of them act.
 */
export function diagnose(s: Snapshot, options: DiagnoseOptions): Verdict[] {
  const { views, unreachable, heardAt } = currentViews(s, options);
  const verdicts: Verdict[] = [...unreachable];
  const everyoneHeard = unreachable.length === 0;
  for (const [iname, accounts] of byInstance(views)) {
    const vrid = accounts.find((a) => a.instance.vrid !== undefined)?.instance.vrid;
    const masters = accounts.filter((a) => a.view.keepalivedUp && a.instance.state === 'MASTER');
    const mismatches = configMismatches(iname, vrid, accounts);
    verdicts.push(...mismatches);
    const dual = dualMaster(masters, options.confirmAfterMs, heardAt);
    if (dual && options.now >= dual.confirmAt) {
      const masterNodes = masters.map((m) => m.node).sort();
      verdicts.push({ kind: 'split-brain', iname, vrid, masters: masterNodes, since: Number.isFinite(dual.since) ? dual.since : undefined, causes: probableCauses(mismatches, masterNodes) });
    }
    verdicts.push(...priorityFindings(iname, vrid, accounts, masters, everyoneHeard));
    const running = accounts.filter((a) => a.view.keepalivedUp);
    // Only with every peer heard and every keepalived up: otherwise the MASTER may be the one we cannot see.
    // Not during an election: all BACKUP for less than VRRP's master-down interval is normal.
    const settled = options.now - Math.max(...running.map((a) => a.instance.stateSince ?? -Infinity)) >= masterDownMs(running);
    if (masters.length === 0 && everyoneHeard && settled && running.length === views.length && running.every((a) => a.instance.state === 'BACKUP')) {
      verdicts.push({ kind: 'no-master', iname, vrid, nodes: running.map((a) => a.node).sort() });
    }
    const addresses = new Set(accounts.flatMap((a) => a.instance.vips));
    for (const address of addresses) {
      const holders = accounts.filter((a) => a.instance.vipsPresent?.includes(address)).map((a) => a.node);
      if (holders.length > 1) verdicts.push({ kind: 'vip-on-several-nodes', iname, vrid, address, nodes: holders.sort() });
      for (const m of masters) {
        // keepalived adds the VIPs just after it becomes MASTER: give it an advert interval.
        const settledMaster = options.now - (m.instance.stateSince ?? -Infinity) >= (m.instance.advertInterval ?? 1) * 1000;
        if (settledMaster && m.instance.vipsPresent && !m.instance.vipsPresent.includes(address)) verdicts.push({ kind: 'vip-absent-on-master', iname, vrid, address, node: m.node });
      }
    }
  }
  return verdicts;
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
  const sinceOf = (m: Contender) => m.instance.stateSince ?? -Infinity;
  const since = Math.max(...masters.map(sinceOf));
  // Seen by both sides: every MASTER's view must come from an exchange after the onset. A view from
  // before it (the secondary link went down at the same time) is not a confirmation.
  if (masters.some((m) => (heardAt.get(m.node) ?? -Infinity) < since)) return undefined;
  const newest = masters.find((m) => sinceOf(m) === since)!;
  const order = electionOrder(masters);
  const preempting = order !== undefined && order.indexOf(newest) < order.length - 1;
  return { since, confirmAt: since + confirmAfterMs + (preempting ? (newest.instance.advertInterval ?? 1) * 1000 : 0) };
}

/** VRRP's master-down interval (three adverts and a skew): how long an election may take. */
function masterDownMs(accounts: Account[]): number {
  const advert = Math.max(1, ...accounts.map((a) => a.instance.advertInterval ?? 1));
  return (3 * advert + 1) * 1000;
}

/**
 * When the next dual MASTER not yet confirmed would become a split brain, if it lasts: the
 * watchdog looks again then, rather than waiting for its next tick.
 */
export function nextConfirmation(s: Snapshot, options: DiagnoseOptions): number | undefined {
  let next: number | undefined;
  const { views, heardAt } = currentViews(s, options);
  for (const accounts of byInstance(views).values()) {
    const at = dualMaster(accounts.filter((a) => a.view.keepalivedUp && a.instance.state === 'MASTER'), options.confirmAfterMs, heardAt)?.confirmAt;
    if (at !== undefined && at > options.now && (next === undefined || at < next)) next = at;
  }
  return next;
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

/** Equal priorities, and an instance left on another director than its preferred (highest-priority) one. */
function priorityFindings(iname: string, vrid: number | undefined, accounts: Account[], masters: Account[], everyoneHeard: boolean): Verdict[] {
  const found: Verdict[] = [];
  const known = accounts.filter((a) => a.instance.basePriority !== undefined);
  if (known.length < 2 || known.length !== accounts.length) return found;
  const top = Math.max(...known.map((a) => a.instance.basePriority!));
  const atTop = known.filter((a) => a.instance.basePriority === top);
  if (atTop.length > 1) found.push({ kind: 'equal-priority', iname, vrid, priority: top, nodes: atTop.map((a) => a.node).sort() });
  const preferred = atTop.length === 1 ? atTop[0]! : undefined;
  if (everyoneHeard && preferred && masters.length === 1 && masters[0]!.node !== preferred.node && preferred.view.keepalivedUp && preferred.instance.state === 'BACKUP') {
    found.push({ kind: 'not-on-preferred-owner', iname, vrid, preferred: preferred.node, master: masters[0]!.node });
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
