import type { Config } from '../config/schema.js';
import type { VrrpState } from '../model/vrrp.js';
import type { Change, Snapshot, SourceName } from '../state/snapshot.js';
import { entryOf } from '../core/dict.js';
import { currentViews, verdictKey, type Verdict } from '../watchdog/diagnose.js';
import type { JournalEntry } from '../watchdog/journal.js';

export type MailConfig = NonNullable<Config['mail']>;

type GroupVerdict = Exclude<Verdict, { kind: 'peer-unreachable' }>;

/**
 * Something worth a mail, with everything the mail says about it captured when it happened:
 * the state moves on, and an event may wait in the outbox across a restart. Plain JSON, and
 * never holds a secret (keepalived's auth_pass never reaches the state in the first place).
 */
export type MailEvent =
  | {
      kind: 'transition';
      at: number;
      /** The director reporting it: this one. */
      node: string;
      scope: 'instance' | 'group';
      name: string;
      vrid?: number;
      vips: string[];
      from: VrrpState;
      to: VrrpState;
      source: SourceName;
    }
  | {
      kind: 'verdict';
      at: number;
      node: string;
      change: 'raised' | 'cleared';
      verdict: GroupVerdict;
      vips: string[];
      /**
       * Where the instance stood when the verdict cleared, by the views fresh then: its MASTERs,
       * and the directors holding the verdict's VIP. A resolution names these, not the directors
       * of the verdict raised earlier. Absent on raised verdicts and on events from older versions.
       */
      standing?: Standing;
    }
  | { kind: 'action'; at: number; node: string; entry: JournalEntry }
  | { kind: 'peer'; at: number; node: string; change: 'lost' | 'back'; peer: string; error?: string; lastExchange?: number }
  /**
   * The scheduled configuration audit's findings. `at`: the time the schedule fired for (the same
   * on every director, whatever its clock read when it ran), so the directors that hear each other
   * find the same audit and one of them mails it.
   */
  | { kind: 'audit'; at: number; node: string; findings: AuditFinding[] };

/** What the audit reports: everything wrong with the group's configuration or its current layout. */
export type AuditFinding = GroupVerdict;

export interface Standing {
  masters: string[];
  holders: string[];
}

/** How long a peer's view counts, for a resolution's standing (`peers.unreachable_after`); none: this director's own view only. */
export interface StandingOptions {
  unreachableAfterMs?: number;
}

function standingOf(verdict: GroupVerdict, s: Snapshot, at: number, options: StandingOptions): Standing {
  const { views } = currentViews(s, { now: at, unreachableAfterMs: options.unreachableAfterMs ?? -1, confirmAfterMs: 0 });
  const address = verdict.kind === 'vip-absent-on-master' || verdict.kind === 'vip-on-several-nodes' ? verdict.address : undefined;
  const masters: string[] = [];
  const holders: string[] = [];
  for (const view of views) {
    const instance = view.instances.find((i) => i.name === verdict.iname);
    if (view.keepalivedUp && instance?.state === 'MASTER') masters.push(view.node);
    if (address !== undefined && instance?.vipsPresent?.includes(address)) holders.push(view.node);
  }
  return { masters: masters.sort(), holders: holders.sort() };
}

/** VIP addresses of an instance: this node's configuration, else a peer's account of it. */
function vipsOf(s: Snapshot, iname: string): string[] {
  const local = entryOf(s.instances, iname);
  if (local) return local.vips.map((v) => v.address);
  for (const peer of Object.values(s.peers)) {
    const remote = peer.view?.instances.find((i) => i.name === iname);
    if (remote) return remote.vips;
  }
  return [];
}

/** `node`: this director's name as configured now (the store keeps the one it started with). */
export function eventFromChange(change: Change, s: Snapshot, node: string): MailEvent | undefined {
  if (change.type !== 'transition') return undefined;
  const instance = change.scope === 'instance' ? entryOf(s.instances, change.name) : undefined;
  return {
    kind: 'transition',
    at: change.at,
    node,
    scope: change.scope,
    name: change.name,
    vrid: change.vrid ?? instance?.vrid,
    vips: instance?.vips.map((v) => v.address) ?? [],
    from: change.from,
    to: change.to,
    source: change.source,
  };
}

/** `s`: the state when the verdict was raised or cleared. */
export function eventFromVerdict(change: 'raised' | 'cleared', verdict: Verdict, at: number, s: Snapshot, node: string, options: StandingOptions = {}): MailEvent {
  if (verdict.kind === 'peer-unreachable') {
    return { kind: 'peer', at, node, change: change === 'raised' ? 'lost' : 'back', peer: verdict.peer, error: verdict.error, lastExchange: verdict.lastExchange };
  }
  const standing = change === 'cleared' ? standingOf(verdict, s, at, options) : undefined;
  return { kind: 'verdict', at, node, change, verdict, vips: vipsOf(s, verdict.iname), ...(standing && { standing }) };
}

export function eventFromAudit(at: number, findings: readonly AuditFinding[], node: string): MailEvent {
  return { kind: 'audit', at, node, findings: [...findings] };
}

export function eventFromAction(entry: JournalEntry, node: string): MailEvent {
  return { kind: 'action', at: entry.at, node, entry };
}

/** The instance (or sync group) an event is about, if any. */
export function instanceOf(e: MailEvent): string | undefined {
  switch (e.kind) {
    case 'transition':
      return e.name;
    case 'verdict':
      return e.verdict.iname;
    case 'action':
      return e.entry.iname;
    case 'peer':
    case 'audit':
      return undefined;
  }
}

/**
 * For an event that starts or ends a condition (a verdict, a lost peer): which condition, and
 * whether it starts or ends. A condition that starts and ends within one mail was transient.
 */
export function conditionOf(e: MailEvent): { key: string; phase: 'start' | 'end' } | undefined {
  switch (e.kind) {
    case 'verdict':
      return { key: verdictKey(e.verdict), phase: e.change === 'raised' ? 'start' : 'end' };
    case 'peer':
      return { key: verdictKey({ kind: 'peer-unreachable', peer: e.peer }), phase: e.change === 'lost' ? 'start' : 'end' };
    default:
      return undefined;
  }
}

/**
 * Lower is more important; it picks a mail's headline. Problems come before their resolutions,
 * and a split brain resolving outranks the transitions that come with it: they are its story.
 */
export function importance(e: MailEvent, transient = false): number {
  // A condition that came and went within one mail (a VIP on two directors for the milliseconds
  // of a hand-over) ranks with minor resolutions; not a split brain: it is raised only once
  // confirmed (peers.confirm_after), so even a short one is news.
  if (transient && !(e.kind === 'verdict' && e.verdict.kind === 'split-brain')) return MINOR;
  switch (e.kind) {
    case 'verdict':
      return e.change === 'raised' ? RAISED_RANK[e.verdict.kind] : CLEARED_RANK[e.verdict.kind];
    case 'action':
      return e.entry.action === 'restore' || e.entry.action === 'cancel' ? 9 : 2;
    case 'transition':
      return e.to === 'FAULT' || e.to === 'STOP' || e.to === 'DELETED' ? 3 : 7;
    case 'peer':
      return e.change === 'lost' ? 5 : 10;
    case 'audit':
      return MINOR;
  }
}

const MINOR = 8;

const RAISED_RANK: Record<GroupVerdict['kind'], number> = {
  'split-brain': 0,
  'no-master': 1,
  'config-mismatch': 4,
  'vip-on-several-nodes': 4,
  'vip-absent-on-master': 4,
  'equal-priority': MINOR,
  'not-on-preferred-owner': MINOR,
};
const CLEARED_RANK: Record<GroupVerdict['kind'], number> = {
  'split-brain': 6,
  'no-master': 6,
  'config-mismatch': MINOR,
  'vip-on-several-nodes': MINOR,
  'vip-absent-on-master': MINOR,
  'equal-priority': MINOR,
  'not-on-preferred-owner': MINOR,
};

/** Subjects for "what to check" hints: each kind of problem in a mail gets its hint once. */
export const HINT_TOPICS = ['split-brain', 'no-master', 'config', 'vip', 'fault', 'priority', 'peer'] as const;
export type HintTopic = (typeof HINT_TOPICS)[number];

const VERDICT_TOPIC: Record<GroupVerdict['kind'], HintTopic> = {
  'split-brain': 'split-brain',
  'no-master': 'no-master',
  'config-mismatch': 'config',
  'vip-on-several-nodes': 'vip',
  'vip-absent-on-master': 'vip',
  'equal-priority': 'priority',
  'not-on-preferred-owner': 'priority',
};

export function hintTopic(e: MailEvent): HintTopic | undefined {
  switch (e.kind) {
    case 'verdict':
      return e.change === 'raised' ? VERDICT_TOPIC[e.verdict.kind] : undefined;
    case 'transition':
      return e.to === 'FAULT' ? 'fault' : undefined;
    case 'peer':
      return e.change === 'lost' ? 'peer' : undefined;
    case 'action':
    case 'audit':
      return undefined;
  }
}
