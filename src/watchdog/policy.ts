import type { PeerInstance, PeerView } from '../model/peer.js';
import type { JournalEntry } from './journal.js';
import type { Verdict } from './diagnose.js';
import { electionOrder, type Contender } from './election.js';
import { planSplits, planStops, type SplitVerdict } from './split-plan.js';

export interface PolicyConfig {
  mode: 'alert' | 'demote' | 'stop' | 'prevent';
  dryRun: boolean;
  /** A split brain must last this long (from its onset) before this node acts. */
  holdDownMs: number;
  /** Least time between two actions on one instance. */
  cooldownMs: number;
  maxActionsPerHour: number;
  /** First wait before restoring a demoted instance; doubled each time the split comes back. */
  restoreAfterMs: number;
  maxRestoreAfterMs: number;
}

export type Decision =
  | { kind: 'demote' | 'stop'; iname: string; vrid?: number; winner?: string; reason: string; restoreAfterMs: number; isolation?: boolean }
  | { kind: 'restore'; iname: string; vrid?: number; winner?: string; reason: string }
  /** Nothing to do yet; `until` is when to look again. */
  | { kind: 'wait'; iname: string; why: string; until?: number };

export interface PolicyInput {
  node: string;
  now: number;
  verdicts: Verdict[];
  /** This node's view and its peers' fresh views: the same on every director. */
  views: PeerView[];
  journal: JournalEntry[];
  config: PolicyConfig;
  /** Set when every peer is unreachable and so is the configured witness: since when. */
  isolatedSince?: number;
  /**
   * Peers not heard since this daemon started and still within the time they have to answer:
   * their silence says nothing yet (a keeper not heard yet is not a keeper gone).
   */
  awaiting?: readonly string[];
}

const HOUR_MS = 3_600_000;

/** Demotions still in force: the last demote of an instance with no restore or cancel after it. */
export function activeDemotions(journal: JournalEntry[]): Map<string, JournalEntry> {
  const active = new Map<string, JournalEntry>();
  for (const e of journal) {
    if (e.action === 'demote') active.set(e.iname, e);
    else if (e.action === 'restore' || e.action === 'cancel') active.delete(e.iname);
  }
  return active;
}

/**
 * A demoted instance still MASTER: keepalived leaves MASTER as soon as it reads the track file
 * and says so on the FIFO just after, so until an advert interval has passed since the demotion
 * that is the demotion under way; only after it is the track file probably not wired in. A dry
 * run touched nothing: the instance stays MASTER by design.
 */
function stillMaster(demotion: JournalEntry, local: PeerInstance | undefined, now: number): Decision {
  const iname = demotion.iname;
  if (demotion.dryRun) return { kind: 'wait', iname, why: 'dry run: demoted in the journal only, keepalived left MASTER' };
  const settledAt = demotion.at + (local?.advertInterval ?? 1) * 1000;
  if (now < settledAt) return { kind: 'wait', iname, why: 'demotion under way: waiting for keepalived to leave MASTER', until: settledAt };
  return { kind: 'wait', iname, why: `demoted, yet still MASTER: is track_file kawatch_${iname} in its vrrp_instance (see README, "Fencing")?` };
}

function masterOf(views: PeerView[], node: string, iname: string): boolean {
  const view = views.find((v) => v.node === node);
  return Boolean(view?.keepalivedUp && view.instances.some((i) => i.name === iname && i.state === 'MASTER'));
}

/**
 * When the split that `v` is part of began. One partition shows VRID by VRID, each when its
 * MASTER's adverts stop reaching the others, up to an advert interval apart: a split that began
 * within a hold-down after another belongs to the same event and ripens with it, so one hold-down
 * ends the whole event. An older split left unresolved (capped, dry run) shortens nobody's wait.
 */
function eventOnset(v: SplitVerdict, splits: readonly SplitVerdict[], now: number, holdDownMs: number): number {
  const own = v.since ?? now;
  return Math.min(own, ...splits.map((u) => u.since ?? now).filter((since) => since <= own && own - since <= holdDownMs));
}

/** Waits on actions: the cooldown since `last`, and the hourly cap. */
function limited(iname: string, last: JournalEntry | undefined, journal: JournalEntry[], now: number, config: PolicyConfig): Decision | undefined {
  if (last && now - last.at < config.cooldownMs) return { kind: 'wait', iname, why: 'cooldown', until: last.at + config.cooldownMs };
  // A cancel did nothing to keepalived: the demotion it withdrew is counted already.
  const recent = journal.filter((e) => e.action !== 'cancel' && now - e.at < HOUR_MS).length;
  if (recent >= config.maxActionsPerHour) return { kind: 'wait', iname, why: `${recent} actions in the last hour, the cap is ${config.maxActionsPerHour}` };
  return undefined;
}

/** The MASTERs of a split by VRRP's order, from the views; undefined when the order cannot be told. */
function orderOf(v: SplitVerdict, views: PeerView[]): Contender[] | undefined {
  const contenders = v.masters.flatMap((m) => {
    const instance = views.find((view) => view.node === m)?.instances.find((i) => i.name === v.iname);
    return instance ? [{ node: m, instance }] : [];
  });
  return electionOrder(contenders);
}

/**
 * Under `demote`: this director's share of the plan (`planSplits`). For each VRID the first MASTER
 * by VRRP's own order keeps it, and every director not known to hear it demotes its own instance,
 * MASTER or BACKUP; each acts only while the keeper is heard and MASTER.
 */
function demotions(input: PolicyInput, splits: SplitVerdict[], demoted: Map<string, JournalEntry>): Decision[] {
  const { node, now, views, journal, config } = input;
  const plan = new Map(planSplits(splits, views).vrids.map((p) => [p.iname, p]));
  const decisions: Decision[] = [];
  for (const v of splits) {
    const share = plan.get(v.iname);
    // A BACKUP acts too when the plan says it cannot hear the keeper.
    if (!v.masters.includes(node) && !share?.demote.includes(node)) continue;
    const demotion = demoted.get(v.iname);
    if (demotion) {
      const local = views.find((view) => view.node === node)?.instances.find((i) => i.name === v.iname);
      // A BACKUP demoted with the plan has nothing left to leave.
      if (local?.state === 'MASTER') decisions.push(stillMaster(demotion, local, now));
      continue;
    }
    const onset = eventOnset(v, splits, now, config.holdDownMs);
    if (now - onset < config.holdDownMs) {
      decisions.push({ kind: 'wait', iname: v.iname, why: 'hold-down', until: onset + config.holdDownMs });
      continue;
    }
    if (!orderOf(v, views)) {
      decisions.push({ kind: 'wait', iname: v.iname, why: 'equal priorities and no primary addresses to break the tie: nobody acts' });
      continue;
    }
    if (!share?.demote.includes(node)) continue;
    const winner = share.keeper;
    const last = journal.filter((e) => e.iname === v.iname).at(-1);
    const wait = limited(v.iname, last, journal, now, config);
    if (wait) {
      decisions.push(wait);
      continue;
    }
    // The split came back after a restore: wait twice as long before the next try.
    const lastDemote = journal.filter((e) => e.iname === v.iname && e.action === 'demote').at(-1);
    const restoreAfterMs = lastDemote?.restoreAfterMs && last?.action === 'restore' && now - last.at < 2 * lastDemote.restoreAfterMs
      ? Math.min(2 * lastDemote.restoreAfterMs, config.maxRestoreAfterMs)
      : config.restoreAfterMs;
    const reason = v.masters.includes(node)
      ? `split brain on ${v.iname} with ${winner}, which wins VRRP's election`
      : `split brain on ${v.iname} between ${v.masters.join(' and ')}: ${winner} keeps it by VRRP's election, and this director, not known to hear ${winner}, would take it over from a demoted MASTER`;
    decisions.push({ kind: 'demote', iname: v.iname, vrid: v.vrid, winner, reason, restoreAfterMs });
  }
  return decisions;
}

/**
 * Under `stop`: whether this director's side of the plan (`planStops`) stops, once the split
 * event has lasted the hold-down. One stop ends every instance here, so it is one decision, named
 * after the first split past its hold-down.
 */
function stops(input: PolicyInput, splits: SplitVerdict[]): Decision[] {
  const { node, now, views, journal, config } = input;
  const plan = planStops(splits, views);
  const side = plan.sides.find((s) => s.nodes.includes(node));
  if (!side?.stop) return [];
  const decisions: Decision[] = [];
  const ripe: SplitVerdict[] = [];
  for (const v of [...splits].sort((a, b) => (a.iname < b.iname ? -1 : a.iname > b.iname ? 1 : 0))) {
    const onset = eventOnset(v, splits, now, config.holdDownMs);
    if (now - onset < config.holdDownMs) decisions.push({ kind: 'wait', iname: v.iname, why: 'hold-down', until: onset + config.holdDownMs });
    else ripe.push(v);
  }
  const first = ripe[0];
  if (!first) return decisions;
  const wait = limited(first.iname, journal.at(-1), journal, now, config);
  if (wait) return [...decisions, wait];
  const running = new Set(plan.sides.filter((s) => !s.stop).flatMap((s) => s.nodes));
  const winner = orderOf(first, views)?.find((c) => running.has(c.node))?.node;
  const keeps = plan.sides[0]!;
  const reason = `split brain on ${ripe.map((r) => r.iname).join(', ')}: ${keeps.nodes.join(', ')} ${keeps.nodes.length > 1 ? 'win' : 'wins'} most of the split VRIDs (${keeps.wins.join(', ') || 'none'}) and keep running; this director's side (${side.nodes.join(', ')}) stops keepalived, and every instance it runs stays with a side that keeps running`;
  return [...decisions, { kind: 'stop', iname: first.iname, vrid: first.vrid, winner, reason, restoreAfterMs: config.restoreAfterMs }];
}

/**
 * What this node should do about split brains, from the same facts every director has. Pure: the
 * whole split is planned at once (`planSplits` under `demote`, `planStops` under `stop`), so one
 * hold-down ends it in a group of any size, and each director acts on its own share. A demotion is
 * undone after a while, at once if the keeper goes away.
 */
export function decide(input: PolicyInput): Decision[] {
  const { node, now, views, config, isolatedSince } = input;
  const demoted = activeDemotions(input.journal);
  const splits = config.mode === 'alert' ? [] : input.verdicts.filter((v): v is SplitVerdict => v.kind === 'split-brain');
  const decisions = config.mode === 'stop' ? stops(input, splits) : demotions(input, splits, demoted);

  // Self-fencing (like sbd): a MASTER that hears neither its peers nor the witness is the one cut
  // off, so it steps down itself — never the other way round, and never without a witness.
  const isolated = isolatedSince !== undefined && config.mode !== 'alert';
  if (isolated && now - isolatedSince >= config.holdDownMs) {
    const local = views.find((v) => v.node === node);
    for (const instance of local?.instances ?? []) {
      if (instance.state !== 'MASTER' || demoted.has(instance.name)) continue;
      decisions.push({ kind: 'demote', iname: instance.name, vrid: instance.vrid, reason: 'isolated: neither the peers nor the witness answer', restoreAfterMs: config.restoreAfterMs, isolation: true });
    }
  } else if (isolated) {
    decisions.push({ kind: 'wait', iname: '*', why: 'isolated: hold-down', until: isolatedSince + config.holdDownMs });
  }

  for (const [iname, entry] of demoted) {
    if (entry.isolation) {
      if (!isolated) decisions.push({ kind: 'restore', iname, vrid: entry.vrid, reason: 'a peer or the witness answers again' });
      continue;
    }
    const winnerHolds = entry.winner !== undefined && masterOf(views, entry.winner, iname);
    const local = views.find((v) => v.node === node)?.instances.find((i) => i.name === iname);
    if (!local) {
      decisions.push({ kind: 'restore', iname, vrid: entry.vrid, winner: entry.winner, reason: `${iname} is no longer configured here` });
    } else if (!winnerHolds && entry.winner !== undefined && input.awaiting?.includes(entry.winner)) {
      decisions.push({ kind: 'wait', iname, why: `${entry.winner} not heard yet since start` });
    } else if (!winnerHolds) {
      // Our demotion must never leave the instance without a MASTER.
      decisions.push({ kind: 'restore', iname, vrid: entry.vrid, winner: entry.winner, reason: `${entry.winner ?? 'the winner'} is no longer heard as MASTER of ${iname}` });
    } else if (now - entry.at >= (entry.restoreAfterMs ?? config.restoreAfterMs)) {
      decisions.push({ kind: 'restore', iname, vrid: entry.vrid, winner: entry.winner, reason: `no split brain for ${Math.round((now - entry.at) / 1000)} s: trying ${iname} again` });
    } else {
      decisions.push({ kind: 'wait', iname, why: 'demoted', until: entry.at + (entry.restoreAfterMs ?? config.restoreAfterMs) });
    }
  }
  return decisions;
}
