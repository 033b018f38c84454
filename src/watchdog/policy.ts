import type { PeerInstance, PeerView } from '../model/peer.js';
import type { JournalEntry } from './journal.js';
import type { Verdict } from './diagnose.js';
import { addressValue, electionOrder, type Contender } from './election.js';
import { planSplits, type SplitVerdict } from './split-plan.js';

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

/**
 * The one director to stop: the one that wins fewest split VRIDs by VRRP's order; then the lower
 * sum of priorities over them; then the lower primary address. The same on every director.
 */
export function stopLoser(orders: Contender[][]): string | undefined {
  const score = new Map<string, { wins: number; priority: number; address: bigint }>();
  for (const order of orders) {
    order.forEach((c, rank) => {
      const s = score.get(c.node) ?? { wins: 0, priority: 0, address: addressValue(c.instance.primaryAddress) ?? 0n };
      s.wins += rank === 0 ? 1 : 0;
      s.priority += c.instance.effectivePriority ?? c.instance.basePriority ?? 0;
      score.set(c.node, s);
    });
  }
  const ranked = [...score].sort(([na, a], [nb, b]) => a.wins - b.wins || a.priority - b.priority || (a.address < b.address ? -1 : a.address > b.address ? 1 : na < nb ? -1 : 1));
  return ranked[0]?.[0];
}

/** Demotions still in force: the last demote of an instance with no restore after it. */
export function activeDemotions(journal: JournalEntry[]): Map<string, JournalEntry> {
  const active = new Map<string, JournalEntry>();
  for (const e of journal) {
    if (e.action === 'demote') active.set(e.iname, e);
    else if (e.action === 'restore') active.delete(e.iname);
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

/**
 * What this node should do about split brains, from the same facts every director has. Pure:
 * under `demote` the whole split is planned at once (`planSplits`): for each VRID the first
 * MASTER by VRRP's own order keeps it, and every director not known to hear it demotes its own
 * instance, MASTER or BACKUP, so one hold-down ends the split in a group of any size; each acts
 * only while the keeper is heard and MASTER. A demotion is undone after a while, at once if the
 * keeper goes away.
 */
export function decide(input: PolicyInput): Decision[] {
  const { node, now, verdicts, views, journal, config, isolatedSince } = input;
  const decisions: Decision[] = [];
  const demoted = activeDemotions(journal);
  const recent = journal.filter((e) => now - e.at < HOUR_MS);
  const splits = config.mode === 'alert' ? [] : verdicts.filter((v): v is SplitVerdict => v.kind === 'split-brain');
  const plan = config.mode === 'demote' ? new Map(planSplits(splits, views).vrids.map((p) => [p.iname, p])) : undefined;

  const ripe: { verdict: SplitVerdict; order: Contender[] }[] = [];
  const orders: Contender[][] = [];
  for (const v of splits) {
    const mine = v.masters.includes(node);
    // Under demote a BACKUP acts too when the plan says it cannot hear the keeper; under stop only a MASTER does.
    if (!mine && !plan?.get(v.iname)?.demote.includes(node)) continue;
    const contenders = v.masters.flatMap((m) => {
      const instance = views.find((view) => view.node === m)?.instances.find((i) => i.name === v.iname);
      return instance ? [{ node: m, instance }] : [];
    });
    const order = electionOrder(contenders);
    if (order && mine) orders.push(order);
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
    if (!order) {
      decisions.push({ kind: 'wait', iname: v.iname, why: 'equal priorities and no primary addresses to break the tie: nobody acts' });
      continue;
    }
    ripe.push({ verdict: v, order });
  }

  // Stopping keepalived ends every instance of the node: in the multi-master model each director
  // loses one VRID, so one director is chosen for the whole group (the one that wins fewest), from
  // every split seen — not only those past their hold-down, which ripen at different moments.
  const kind = config.mode === 'stop' ? 'stop' : 'demote';
  const targets = kind === 'stop' ? (stopLoser(orders) === node ? ripe.slice(0, 1) : []) : ripe.filter((r) => plan?.get(r.verdict.iname)?.demote.includes(node));
  for (const { verdict: v, order } of targets) {
    const winner = plan?.get(v.iname)?.keeper ?? order.find((c) => c.node !== node)!.node;
    const last = journal.filter((e) => e.iname === v.iname || kind === 'stop').at(-1);
    if (last && now - last.at < config.cooldownMs) {
      decisions.push({ kind: 'wait', iname: v.iname, why: 'cooldown', until: last.at + config.cooldownMs });
      continue;
    }
    if (recent.length >= config.maxActionsPerHour) {
      decisions.push({ kind: 'wait', iname: v.iname, why: `${recent.length} actions in the last hour, the cap is ${config.maxActionsPerHour}` });
      continue;
    }
    // The split came back after a restore: wait twice as long before the next try.
    const lastDemote = journal.filter((e) => e.iname === v.iname && e.action === 'demote').at(-1);
    const restoreAfterMs = lastDemote?.restoreAfterMs && last?.action === 'restore' && now - last.at < 2 * lastDemote.restoreAfterMs
      ? Math.min(2 * lastDemote.restoreAfterMs, config.maxRestoreAfterMs)
      : config.restoreAfterMs;
    const reason = kind === 'stop'
      ? `split brain on ${ripe.map((r) => r.verdict.iname).join(', ')}: this director wins fewest of them, ${winner} keeps them`
      : v.masters.includes(node)
        ? `split brain on ${v.iname} with ${winner}, which wins VRRP's election`
        : `split brain on ${v.iname} between ${v.masters.join(' and ')}: ${winner} keeps it by VRRP's election, and this director, not known to hear ${winner}, would take it over from a demoted MASTER`;
    decisions.push({ kind, iname: v.iname, vrid: v.vrid, winner, reason, restoreAfterMs });
  }

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
