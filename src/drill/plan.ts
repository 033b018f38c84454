import type { DrillMark, PeerInstance, PeerView } from '../model/peer.js';
import type { ProbeTarget } from '../core/probe-target.js';
import type { Verdict } from '../watchdog/diagnose.js';
import { electionOrder } from '../watchdog/election.js';
import { verdictText } from '../watchdog/verdict-text.js';

/**
 * What a drill may do and when it must stop: pure decisions over the group's views, the standing
 * verdicts and the journals, so every refusal and every abort is a unit test.
 */

/** track: the MASTER's track file puts its instance in FAULT (it steps down). stop: keepalived stopped on the MASTER (it dies). */
export const DRILL_MODES = ['track', 'stop'] as const;
export type DrillMode = (typeof DRILL_MODES)[number];

export interface DrillRequest {
  instance: string;
  /** The director expected to take over; by default the one VRRP elects among the others. */
  to?: string;
  probe?: ProbeTarget;
  mode: DrillMode;
  /** Leave the instance on the new MASTER instead of moving it back. */
  stay: boolean;
}

export interface DrillPlan {
  instance: string;
  vrid?: number;
  vips: string[];
  /** This director, the MASTER the drill moves the instance off. */
  from: string;
  to: string;
  mode: DrillMode;
  probe?: ProbeTarget;
  stay: boolean;
  /** keepalived's advert interval for the instance, for the report's bounds. */
  advertIntervalMs: number;
}

/** What the group looks like now, as the daemon knows it. */
export interface GroupFacts {
  node: string;
  /** This director's view and its peers' recent ones. */
  views: readonly PeerView[];
  /** Every configured peer. */
  members: readonly string[];
  /** The verdicts standing now (held back transients excluded). */
  verdicts: readonly Verdict[];
  /** Instances the watchdog has demoted and not restored yet. */
  fenced: readonly string[];
  /** The drill this director runs, if any. */
  running?: DrillMark;
  /** Whether watchdog.start_command is configured (mode stop needs it). */
  canRestart: boolean;
}

export type Planned = { ok: true; plan: DrillPlan } | { ok: false; reasons: string[] };

/** The verdicts a drill brings about by design: its instance on a director other than its preferred owner. */
function expectedDuring(v: Verdict, instance: string): boolean {
  return v.kind === 'not-on-preferred-owner' && v.iname === instance;
}

function instanceOf(view: PeerView, name: string): PeerInstance | undefined {
  return view.instances.find((i) => i.name === name);
}

/** Who is drilling, among the peers' views (never this director's own mark). */
export function peerDrills(facts: Pick<GroupFacts, 'node' | 'views'>): { node: string; mark: DrillMark }[] {
  return facts.views.flatMap((v) => (v.node !== facts.node && v.drill ? [{ node: v.node, mark: v.drill }] : []));
}

/**
 * Whether a drill may start: the whole group healthy (every peer heard, no verdict standing), nobody
 * else drilling, this director the MASTER holding every VIP, and the director that should take over
 * a BACKUP with keepalived up, its own priority, and first in VRRP's election among the others.
 */
export function planDrill(request: DrillRequest, facts: GroupFacts): Planned {
  const reasons: string[] = [];
  const heard = new Set(facts.views.map((v) => v.node));
  for (const member of facts.members) if (!heard.has(member)) reasons.push(`peer ${member} is not heard on the secondary link: the group cannot watch the drill`);
  for (const v of facts.verdicts) reasons.push(`a verdict stands: ${verdictText(v)}`);
  if (facts.running) reasons.push(`a drill of ${facts.running.instance} is running on ${facts.node}`);
  for (const { node, mark } of peerDrills(facts)) reasons.push(`${node} is drilling ${mark.instance}: one drill at a time in a group`);
  if (facts.fenced.includes(request.instance)) reasons.push(`the watchdog holds ${request.instance} demoted: its restore comes first`);
  if (request.mode === 'stop' && !facts.canRestart) reasons.push('mode stop needs watchdog.start_command (to start keepalived again afterwards)');

  const own = facts.views.find((v) => v.node === facts.node);
  const local = own && instanceOf(own, request.instance);
  if (!own?.keepalivedUp) reasons.push(`keepalived is not running on ${facts.node}`);
  if (!local) return { ok: false, reasons: [...reasons, `${facts.node} has no instance ${request.instance}`] };
  if (local.state !== 'MASTER') {
    const master = facts.views.find((v) => instanceOf(v, request.instance)?.state === 'MASTER');
    reasons.push(`${request.instance} is ${local.state} on ${facts.node}: run the drill on its MASTER${master ? ` (${master.node})` : ''}`);
  }
  if (!local.settingsKnown || local.advertInterval === undefined) reasons.push(`${request.instance}'s settings are not known yet (no keepalived dump so far)`);
  const missing = local.vips.filter((a) => !(local.vipsPresent ?? []).includes(a));
  if (missing.length) reasons.push(`${facts.node} is MASTER of ${request.instance} but does not hold ${missing.join(', ')}`);

  const others = facts.views.flatMap((view) => {
    const instance = view.node === facts.node ? undefined : instanceOf(view, request.instance);
    return instance && view.keepalivedUp && instance.state === 'BACKUP' ? [{ node: view.node, instance }] : [];
  });
  const order = electionOrder(others);
  const elected = order?.[0];
  const to = request.to ?? elected?.node;
  const target = others.find((c) => c.node === to);
  if (!to) reasons.push(`no director is BACKUP of ${request.instance} with keepalived up: nobody would take over`);
  else if (!target) reasons.push(`${to} is not a BACKUP of ${request.instance} with keepalived up`);
  else {
    const { basePriority, effectivePriority } = target.instance;
    if (basePriority !== undefined && effectivePriority !== undefined && effectivePriority !== basePriority) {
      reasons.push(`${to}'s priority for ${request.instance} is ${effectivePriority}, not its own ${basePriority}: something tracked lowered it`);
    }
    if (!order) reasons.push(`VRRP's election among the BACKUPs of ${request.instance} cannot be told (equal priorities, unknown addresses)`);
    else if (elected && elected.node !== to) reasons.push(`VRRP would elect ${elected.node}, not ${to}, when ${facts.node} steps down`);
  }
  if (reasons.length || !to) return { ok: false, reasons };
  return {
    ok: true,
    plan: {
      instance: request.instance,
      vrid: local.vrid,
      vips: local.vips,
      from: facts.node,
      to,
      mode: request.mode,
      probe: request.probe,
      stay: request.stay,
      advertIntervalMs: (local.advertInterval ?? 1) * 1000,
    },
  };
}

/** Who holds the instance, by every director's own account. */
export interface Placement {
  /** Directors that say they are MASTER. */
  masters: string[];
  /** VIP → directors whose netlink sees it on their interfaces. */
  holders: Record<string, string[]>;
}

export function placement(views: readonly PeerView[], instance: string): Placement {
  const masters: string[] = [];
  const holders: Record<string, string[]> = {};
  for (const view of views) {
    const i = instanceOf(view, instance);
    if (!i) continue;
    if (i.state === 'MASTER') masters.push(view.node);
    for (const address of i.vipsPresent ?? []) (holders[address] ??= []).push(view.node);
  }
  return { masters, holders };
}

/** Whether `node` alone is MASTER and alone holds every VIP, in every director's account, all of them heard. */
export function heldBy(views: readonly PeerView[], plan: Pick<DrillPlan, 'instance' | 'vips'>, node: string, members: readonly string[]): boolean {
  const heard = new Set(views.map((v) => v.node));
  if (members.some((m) => !heard.has(m))) return false;
  const p = placement(views, plan.instance);
  return p.masters.length === 1 && p.masters[0] === node && plan.vips.every((a) => (p.holders[a] ?? []).join() === node);
}

/** Verdicts a hand-over of the drilled instance passes through when a view arrives late: VIP on two directors, no MASTER. */
const HANDOVER_KINDS: ReadonlySet<Verdict['kind']> = new Set(['vip-on-several-nodes', 'no-master']);

/**
 * The verdicts a running drill weighs: those about its own instance that a hand-over passes through
 * (a peer's view arriving after our own netlink saw the VIP move) count only once they have lasted
 * `graceMs` (VRRP's master-down interval); every other verdict counts at once. `firstSeen` is kept by
 * the caller between looks and returned updated.
 */
export function weighedVerdicts(verdicts: readonly Verdict[], instance: string, firstSeen: ReadonlyMap<string, number>, now: number, graceMs: number): { verdicts: Verdict[]; firstSeen: Map<string, number> } {
  const seen = new Map<string, number>();
  const weighed = verdicts.filter((v) => {
    if (!HANDOVER_KINDS.has(v.kind) || !('iname' in v) || v.iname !== instance) return true;
    const key = JSON.stringify(v);
    const since = firstSeen.get(key) ?? now;
    seen.set(key, since);
    return now - since >= graceMs;
  });
  return { verdicts: weighed, firstSeen: seen };
}

export const ABORT_REASONS = ['verdict', 'peer-lost', 'timeout', 'signal', 'other-drill', 'error'] as const;
export type AbortReason = (typeof ABORT_REASONS)[number];

export interface Progress {
  now: number;
  deadline: number;
  facts: Pick<GroupFacts, 'node' | 'views' | 'members' | 'verdicts'>;
  plan: Pick<DrillPlan, 'instance'>;
  mark: DrillMark;
  stopping: boolean;
}

/** Orders two drills the same way on every director: the earlier mark, then the lower node name, goes on. */
export function precedes(a: { node: string; mark: DrillMark }, b: { node: string; mark: DrillMark }): boolean {
  return a.mark.since !== b.mark.since ? a.mark.since < b.mark.since : a.node < b.node;
}

/**
 * Whether a running drill must stop and restore now, and why: the daemon stopping, a peer lost,
 * any verdict the drill does not bring about by design, another director's drill that goes first,
 * or the step's time up.
 */
export function abortReason(p: Progress): { reason: AbortReason; detail: string } | undefined {
  if (p.stopping) return { reason: 'signal', detail: 'the daemon is stopping' };
  const heard = new Set(p.facts.views.map((v) => v.node));
  const lost = p.facts.members.filter((m) => !heard.has(m));
  if (lost.length) return { reason: 'peer-lost', detail: `peer ${lost.join(', ')} no longer heard` };
  const verdict = p.facts.verdicts.find((v) => !expectedDuring(v, p.plan.instance) && v.kind !== 'peer-unreachable');
  if (verdict) return { reason: 'verdict', detail: verdictText(verdict) };
  const self = { node: p.facts.node, mark: p.mark };
  const first = peerDrills(p.facts).find((other) => precedes(other, self));
  if (first) return { reason: 'other-drill', detail: `${first.node} is drilling ${first.mark.instance}` };
  if (p.now >= p.deadline) return { reason: 'timeout', detail: 'the step took longer than drill.timeout' };
  return undefined;
}
