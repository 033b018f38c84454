import type { DumpGroup, DumpInstance, InstanceSettings, Vip } from '../model/vrrp.js';
import type { KeepalivedReport, VrrpState } from '../model/vrrp.js';
import type { RejectReason } from '../model/peer.js';
import type { DrillMark, PeerView } from '../model/peer.js';
import { dictFrom, emptyDict, type Dict } from '../core/dict.js';
import { noneReconciled, type CounterBaseline, type Reconciled, type TransitionRecord } from './identity.js';

import { SOURCE_NAMES, type SourceName } from './sources.js';

export { SOURCE_NAMES, type SourceName };

/** An instance as kawatch knows it: keepalived's settings once a dump told them, and its state from every source. */
export interface InstanceView extends Partial<InstanceSettings> {
  name: string;
  state: VrrpState;
  /** Epoch ms since which `state` holds; from keepalived's last_transition or the event's time. */
  stateSince?: number;
  vips: Vip[];
  /** MASTER_RX_LOWER_PRI notifications: another router claimed MASTER with a lower priority. */
  lowerPriorityAdverts: number;
  /** The last transitions, in keepalived's order, with the sources that reported each (state/identity.ts). */
  log?: readonly TransitionRecord[];
  /** keepalived's become_master/release_master at the last dump, and what kawatch counted since. */
  counters?: CounterBaseline;
}

export interface GroupView {
  name: string;
  state: VrrpState;
  stateSince?: number;
  log?: readonly TransitionRecord[];
}

export interface AddressView {
  address: string;
  prefix: number;
  ifname: string;
  family: 4 | 6;
}

export interface CheckerView {
  virtualServer: string;
  realServer?: string;
  up: boolean;
  since: number;
}

export interface SourceHealth {
  enabled: boolean;
  up: boolean;
  lastSuccess?: number;
  lastError?: string;
  /** The last input the source refused, for the operator to read. */
  lastRejected?: string;
  /** Failures to read the source itself. */
  errors: number;
  /** Inputs the source read but refused: malformed lines, arguments, records. */
  rejected: number;
  events: number;
}

/** A peer director on the secondary link, as far as this one knows it. */
export interface PeerState {
  name: string;
  address: string;
  /** The last view it sent, answering us or pushing to us. */
  view?: PeerView;
  /** Epoch ms of the last authenticated exchange in either direction. */
  lastExchange?: number;
  rttMs?: number;
  lastError?: string;
  errors: number;
}

/** Every record keyed by a name is a `Dict`: the names come from keepalived, its hook and FIFO, and the peers. */
export interface Snapshot {
  node: string;
  /** `sawStart`: kawatch saw this keepalived start (down, or another process, at an earlier check). */
  /** `startedAt`, `identity`: when that process started and which one it is (process.ts): the keepalived the instances' states came from. */
  keepalived: { up: boolean; pid?: number; startedAt?: number; identity?: string; checkedAt?: number; sawStart?: boolean };
  instances: Dict<InstanceView>;
  groups: Dict<GroupView>;
  /** Addresses on this host's interfaces, from netlink; `undefined` until the first full dump. */
  addresses?: readonly AddressView[];
  checkers: Dict<CheckerView>;
  sources: Readonly<Record<SourceName, SourceHealth>>;
  peers: Dict<PeerState>;
  /** Peer API messages refused, by reason. */
  peerRejected: Readonly<Partial<Record<RejectReason, number>>>;
  /** The witness, when one is configured: whether this node reaches it. */
  witness?: WitnessState;
  /** Transitions into and out of MASTER checked against keepalived's counters after each dump, by result. */
  reconciled: Reconciled;
  /** The drill this director runs now, told to its peers in its view. */
  drill?: DrillMark;
}

export interface WitnessState {
  target: string;
  /** Epoch ms of the last answer. */
  lastReached?: number;
  /** Since when it has not answered (unset while it answers). */
  unreachableSince?: number;
  error?: string;
}

export type Update =
  /** `at`: the hook's stamp (keepalived's time), or when the FIFO line was read. */
  | { type: 'report'; source: 'hook' | 'fifo'; at: number; report: KeepalivedReport }
  /**
   * `pid`: the keepalived that wrote it, whose counters these are. `takenAfter`: when kawatch asked
   * keepalived for it (signalled it); unknown for a dump file kawatch did not ask for. `groups`: the
   * sync groups, where the dump has them (keepalived.data; the JSON dump has none).
   */
  | { type: 'dump'; at: number; instances: DumpInstance[]; pid?: number; takenAfter?: number; groups?: readonly DumpGroup[] }
  /** What `state_dir` kept of the last run: applied once at start, before any source; never a transition. */
  | { type: 'restore'; instances: readonly RestoredSubject[]; groups: readonly RestoredSubject[]; keepalived?: KnownKeepalived }
  | { type: 'addresses'; at: number; addresses: AddressView[] }
  | { type: 'address'; at: number; op: 'add' | 'del'; address: AddressView }
  | { type: 'process'; at: number; up: boolean; pid?: number; startedAt?: number; identity?: string }
  | { type: 'source-ok'; at: number; source: SourceName }
  | { type: 'source-error'; at: number; source: SourceName; error: string }
  | { type: 'source-rejected'; at: number; source: SourceName; error: string }
  | { type: 'source-enabled'; source: SourceName; enabled: boolean }
  | { type: 'peers-configured'; peers: { name: string; address: string }[] }
  | { type: 'peer-view'; at: number; peer: string; view: PeerView; rttMs?: number }
  | { type: 'peer-error'; at: number; peer: string; error: string }
  | { type: 'peer-rejected'; at: number; reason: RejectReason }
  | { type: 'witness'; at: number; target: string; error?: string }
  /** The witness the configuration names (none: undefined); what was probed of another is forgotten. */
  | { type: 'witness-configured'; target?: string }
  | { type: 'drill'; drill?: DrillMark };

/** The keepalived process the last known states came from, as `state_dir` keeps it. */
export interface KnownKeepalived {
  pid: number;
  startedAt: number;
  /** Absent from files of older versions: the start time, within a second, stands for it. */
  identity?: string;
}

/** The last known state of an instance or sync group, and its transition log, as `state_dir` keeps them. */
export interface RestoredSubject {
  name: string;
  vrid?: number;
  state: VrrpState;
  stateSince?: number;
  log: readonly TransitionRecord[];
  counters?: CounterBaseline;
}

export type Change =
  | { type: 'transition'; scope: 'instance' | 'group'; name: string; vrid?: number; from: VrrpState; to: VrrpState; at: number; source: SourceName }
  | { type: 'master-rx-lower-priority'; name: string; at: number }
  /** The effective priority moved without a transition (a tracked script, interface or file). */
  | { type: 'priority'; name: string; priority: number; at: number }
  | { type: 'checker'; key: string; virtualServer: string; realServer?: string; up: boolean; at: number }
  | { type: 'addresses'; at: number }
  | { type: 'process'; up: boolean; pid?: number; at: number }
  /** A per-state hook named no instance: only a fresh dump can tell which one moved. */
  | { type: 'unattributed'; state: VrrpState; at: number; source: SourceName };

export function emptySnapshot(node: string): Snapshot {
  const sources = dictFrom(
    SOURCE_NAMES.map((s) => [s, { enabled: false, up: false, errors: 0, rejected: 0, events: 0 } satisfies SourceHealth]),
  ) as Record<SourceName, SourceHealth>;
  return { node, keepalived: { up: false }, instances: emptyDict(), groups: emptyDict(), checkers: emptyDict(), sources, peers: emptyDict(), peerRejected: emptyDict(), reconciled: noneReconciled() };
}

export function checkerKey(virtualServer: string, realServer?: string): string {
  return realServer ? `${realServer} ${virtualServer}` : virtualServer;
}
