import type { PeerInstance, PeerView } from '../model/peer.js';
import { leavingMaster, type Verdict } from './diagnose.js';
import { addressValue, electionOrder, type Contender } from './election.js';

/**
 * The whole split decided at once, for a group of any size: for each VRID with several MASTERs,
 * who keeps it and who demotes. Demoting only the other MASTERs is enough for a pair, not for a
 * group: a BACKUP that hears the demoted MASTER but not the keeper takes the VRID over, and the
 * split begins again with a second hold-down. So every director not known to hear the keeper
 * demotes too. Pure, and independent of the order of the views: every director that has the
 * same views reaches the same plan.
 */

export type SplitVerdict = Extract<Verdict, { kind: 'split-brain' }>;

export interface VridPlan {
  iname: string;
  vrid?: number;
  /** Stays MASTER: the first of the MASTERs by VRRP's own order. */
  keeper: string;
  /** Demote their instance: the other MASTERs, and the BACKUPs not known to hear the keeper. By name. */
  demote: string[];
}

export interface SplitPlan {
  vrids: VridPlan[];
  /** VRIDs whose MASTERs VRRP's order cannot rank (equal priorities, no addresses): nobody acts on them. */
  unranked: string[];
  /** The directors known to hear each other's VRRP, as far as the views tell: each group by name. */
  groups: string[][];
}

interface Account extends Contender {
  state: PeerInstance['state'];
}

/** Instance name → the accounts of the directors whose keepalived runs, by node name. */
function accountsByInstance(views: readonly PeerView[]): Map<string, Account[]> {
  const map = new Map<string, Account[]>();
  for (const view of [...views].sort((a, b) => compare(a.node, b.node))) {
    if (!view.keepalivedUp) continue;
    for (const instance of view.instances) {
      const list = map.get(instance.name) ?? [];
      list.push({ node: view.node, instance, state: instance.state });
      map.set(instance.name, list);
    }
  }
  return new Map([...map].sort(([a], [b]) => compare(a, b)));
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A BACKUP that outranks a MASTER would have taken over from it (unless nopreempt): it does not hear that MASTER. */
function preempts(backup: Account, master: Account): boolean {
  if (backup.instance.nopreempt) return false;
  return electionOrder([master, backup])?.[0] === backup;
}

/**
 * Which directors hear each other on the VRRP segment, inferred from converged VRRP states alone:
 * within a group every VRID has exactly one MASTER, and no BACKUP outranks it. So two MASTERs of
 * one VRID are apart; a BACKUP that only one MASTER of its VRID can be heard by is with that
 * MASTER. Sound, not complete: a director left alone may still hear someone.
 */
export function vrrpGroups(views: readonly PeerView[]): string[][] {
  const accounts = accountsByInstance(views);
  const nodes = [...new Set([...accounts.values()].flat().map((a) => a.node))].sort(compare);
  const parent = new Map(nodes.map((n) => [n, n]));
  const find = (n: string): string => {
    const p = parent.get(n)!;
    return p === n ? n : find(p);
  };
  const members = (root: string) => nodes.filter((n) => find(n) === root);
  /** Whether the views prove two groups cannot hear each other. */
  const apart = (x: string, y: string): boolean => {
    const [gx, gy] = [new Set(members(find(x))), new Set(members(find(y)))];
    for (const list of accounts.values()) {
      const masters = list.filter((a) => a.state === 'MASTER');
      const backups = list.filter((a) => a.state === 'BACKUP');
      if (masters.some((m) => gx.has(m.node)) && masters.some((m) => gy.has(m.node))) return true;
      for (const b of backups) {
        for (const m of masters) {
          if (((gx.has(b.node) && gy.has(m.node)) || (gy.has(b.node) && gx.has(m.node))) && preempts(b, m)) return true;
        }
      }
    }
    return false;
  };
  // Each union can make another BACKUP's choice unique: repeat until nothing changes (at most one round per node).
  for (let changed = true; changed; ) {
    changed = false;
    for (const list of accounts.values()) {
      const masters = list.filter((a) => a.state === 'MASTER');
      for (const b of list.filter((a) => a.state === 'BACKUP')) {
        if (masters.some((m) => find(m.node) === find(b.node))) continue;
        const possible = masters.filter((m) => !preempts(b, m) && !apart(b.node, m.node));
        if (possible.length !== 1) continue;
        const [rb, rm] = [find(b.node), find(possible[0]!.node)].sort(compare) as [string, string];
        parent.set(rm, rb);
        changed = true;
      }
    }
  }
  const groups = new Map<string, string[]>();
  for (const n of nodes) groups.set(find(n), [...(groups.get(find(n)) ?? []), n]);
  return [...groups.values()];
}

/** The plan for these split brains, from the views of the directors heard (this one's included). */
export function planSplits(splits: readonly SplitVerdict[], views: readonly PeerView[]): SplitPlan {
  const accounts = accountsByInstance(views);
  const groups = vrrpGroups(views);
  const groupOf = (node: string) => groups.find((g) => g.includes(node));
  const vrids: VridPlan[] = [];
  const unranked: string[] = [];
  for (const v of [...splits].sort((a, b) => compare(a.iname, b.iname))) {
    const list = accounts.get(v.iname) ?? [];
    const masters = list.filter((a) => a.state === 'MASTER' && v.masters.includes(a.node));
    // The views no longer show the split (a MASTER left it since the verdict): nothing to plan.
    if (masters.length < 2) continue;
    const order = electionOrder(masters);
    if (!order) {
      unranked.push(v.iname);
      continue;
    }
    const keeper = order[0]!.node;
    const withKeeper = groupOf(keeper) ?? [keeper];
    const demote = list.filter((a) => (a.state === 'MASTER' || a.state === 'BACKUP') && !withKeeper.includes(a.node)).map((a) => a.node);
    vrids.push({ iname: v.iname, vrid: v.vrid, keeper, demote });
  }
  return { vrids, unranked, groups };
}

/** One side of a split under policy `stop`: directors known to hear each other's VRRP. */
export interface StopSide {
  nodes: string[];
  /** The split VRIDs (instance names) whose keeper is on this side. */
  wins: string[];
  /** Stop keepalived on every director of the side. */
  stop: boolean;
}

export interface StopPlan {
  /** Best first: most wins, then the higher sum of its MASTERs' priorities over the split VRIDs, then the higher primary address. */
  sides: StopSide[];
  unranked: string[];
}

/**
 * The whole split decided at once under policy `stop`, for a group of any size. Stopping keepalived
 * ends every instance of a director, and a BACKUP left running beside a stopped MASTER takes its
 * VRIDs over, so a whole side stops or none of it. The side that wins most split VRIDs keeps
 * running; each other side that runs a split VRID stops, unless an instance it runs runs on no side
 * kept so far: stopping never leaves a VRID without a director to be its MASTER (such a side keeps
 * running and its split stays, reported). Nobody stops while a director is stopping already or a
 * split verdict is no longer shown by the views. Pure, and independent of the order of the views.
 */
export function planStops(splits: readonly SplitVerdict[], views: readonly PeerView[]): StopPlan {
  const accounts = accountsByInstance(views);
  const { vrids, unranked, groups } = planSplits(splits, views);
  const split = new Set([...vrids.map((p) => p.iname), ...unranked]);
  const runs = (a: Account) => a.state === 'MASTER' || a.state === 'BACKUP';
  const scored = groups.flatMap((nodes) => {
    const mine = [...accounts].flatMap(([iname, list]) => list.filter((a) => nodes.includes(a.node) && runs(a)).map((a) => ({ iname, ...a })));
    if (!mine.some((a) => split.has(a.iname))) return [];
    const masters = mine.filter((a) => a.state === 'MASTER' && split.has(a.iname));
    return [{
      nodes,
      wins: vrids.filter((p) => nodes.includes(p.keeper)).map((p) => p.iname),
      priority: masters.reduce((sum, a) => sum + (a.instance.effectivePriority ?? a.instance.basePriority ?? 0), 0),
      address: masters.reduce((max, a) => { const v = addressValue(a.instance.primaryAddress) ?? 0n; return v > max ? v : max; }, 0n),
      instances: new Set(mine.map((a) => a.iname)),
    }];
  });
  // A director already stopping (an instance in STOP, or a MASTER whose VIPs are gone) changes the
  // split VRID by VRID, and so would a plan drawn from it (its splits leave one by one, its wins
  // with them): nobody stops until the views show the split whole and steady again.
  const stopping = views.some((v) => v.keepalivedUp && v.instances.some((i) => i.state === 'STOP' || (i.state === 'MASTER' && leavingMaster(i))));
  const shown = splits.every((v) => split.has(v.iname));
  scored.sort((a, b) => b.wins.length - a.wins.length || b.priority - a.priority || (a.address > b.address ? -1 : a.address < b.address ? 1 : compare(a.nodes[0]!, b.nodes[0]!)));
  const kept = new Set<string>();
  const sides = scored.map(({ nodes, wins, instances }) => {
    // No VRID ranked by VRRP's order: nobody can tell who keeps what, nobody stops.
    const stop = !stopping && shown && vrids.length > 0 && kept.size > 0 && [...instances].every((iname) => kept.has(iname));
    if (!stop) for (const iname of instances) kept.add(iname);
    return { nodes, wins, stop };
  });
  return { sides, unranked };
}
