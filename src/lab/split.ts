import { PRIMARY_IFNAME, SECONDARY_IFNAME } from './plan.js';
import { renderHealRuleset, renderSplitRuleset, type SplitRules } from './render.js';
import { updateLabState, type LabInfo, type LabNode, type LabState, type NodePair } from './state.js';
import { LabError, listNetns, nftInNetns } from './system.js';
import { openLab, type LabRef } from './lifecycle.js';

/** Split brains on demand: nftables rules inside a director's namespace, and their removal. */

/** What is cut where: the lists `lab.json` keeps. */
export type SplitLists = Pick<LabState, 'split' | 'cut' | 'isolated' | 'splitPairs' | 'cutPairs'>;

export interface SplitState extends SplitLists {
  prefix: string;
}

export type SplitLink = 'primary' | 'secondary' | 'both' | 'segment' | 'isolate';

const NO_SPLIT: SplitLists = { split: [], cut: [], isolated: [], splitPairs: [], cutPairs: [] };

async function requireLab(ref: LabRef): Promise<{ prefix: string; dir: string; state: LabState & { info: LabInfo } }> {
  const { prefix, dir, state } = await openLab(ref);
  if (!state?.info) throw new LabError(`lab "${prefix}" is not up (no finished lab in ${dir})`);
  return { prefix, dir, state: state as LabState & { info: LabInfo } };
}

function findNode(state: LabState & { info: LabInfo }, name: string): LabNode {
  const node = state.info.nodes.find((n) => n.name === name);
  if (!node) throw new LabError(`no node ${JSON.stringify(name)} in lab "${state.prefix}" (nodes: ${state.info.nodes.map((n) => n.name).join(', ')})`);
  return node;
}

/** The rules one node needs for everything the lists cut, from it or between it and another node. */
export function splitRules(lists: SplitLists, node: Pick<LabNode, 'name'>, nodes: readonly Pick<LabNode, 'name' | 'primary' | 'secondary'>[]): SplitRules {
  const partners = (pairs: readonly NodePair[]) => pairs.flatMap(([a, b]) => (a === node.name ? [b] : b === node.name ? [a] : []));
  const addresses = (names: string[], pick: (n: Pick<LabNode, 'primary' | 'secondary'>) => string) => nodes.filter((n) => names.includes(n.name)).map(pick);
  return {
    dropVrrpOn: lists.split.includes(node.name) ? PRIMARY_IFNAME : undefined,
    dropAllOn: [...(lists.cut.includes(node.name) ? [SECONDARY_IFNAME] : []), ...(lists.isolated.includes(node.name) ? [PRIMARY_IFNAME] : [])],
    dropVrrpFrom: { ifname: PRIMARY_IFNAME, addresses: addresses(partners(lists.splitPairs), (n) => n.primary) },
    dropAllWith: { ifname: SECONDARY_IFNAME, addresses: addresses(partners(lists.cutPairs), (n) => n.secondary) },
  };
}

const withItem = <T>(list: readonly T[], item: T, yes: boolean, same: (a: T, b: T) => boolean): T[] => (yes && !list.some((x) => same(x, item)) ? [...list, item] : [...list]);
const sameName = (a: string, b: string) => a === b;
const samePair = (a: NodePair, b: NodePair) => a[0] === b[0] && a[1] === b[1];

/**
 * On one node: `primary` drops VRRP on its primary interface, both ways (each side stops hearing
 * the other and both become MASTER); `secondary` cuts its secondary link; `both` does both;
 * `segment` drops everything on its primary link, witness included (a dead NIC or switch port: its
 * keepalived stays MASTER, unheard, while the secondary link still carries its daemon's word);
 * `isolate` drops everything on both links. With `peer`, only between the two:
 * `primary` makes each deaf to the other's VRRP, `secondary` cuts their peer link, the rest of
 * the group still hears both.
 */
export async function labSplit(options: LabRef & { node?: string; peer?: string; link?: SplitLink } = {}): Promise<SplitState> {
  const { prefix, dir, state } = await requireLab(options);
  const node = findNode(state, options.node ?? 'lb2');
  const link = options.link ?? 'primary';
  const peer = options.peer === undefined ? undefined : findNode(state, options.peer);
  if (peer === node) throw new LabError(`--peer ${peer.name} is --node itself: a split between two directors needs two`);
  if (peer && (link === 'isolate' || link === 'segment')) throw new LabError(`${link} cuts a director off from its whole segment: it takes no --peer`);
  const wholePrimary = link === 'isolate' || link === 'segment';
  const onPrimary = link === 'primary' || link === 'both' || link === 'isolate';
  const onSecondary = link === 'secondary' || link === 'both' || link === 'isolate';
  let next: SplitLists;
  if (peer) {
    const pair = [node.name, peer.name].sort() as NodePair;
    next = { ...state, splitPairs: withItem(state.splitPairs, pair, onPrimary, samePair), cutPairs: withItem(state.cutPairs, pair, onSecondary, samePair) };
  } else {
    next = {
      ...state,
      split: withItem(state.split, node.name, onPrimary, sameName),
      cut: withItem(state.cut, node.name, onSecondary, sameName),
      isolated: withItem(state.isolated, node.name, wholePrimary, sameName),
    };
  }
  // Rules first, record after: lab.json never claims a split that nft failed to make.
  for (const n of peer ? [node, peer] : [node]) await nftInNetns(n.netns, renderSplitRuleset(splitRules(next, n, state.info.nodes)));
  const saved = await updateLabState(dir, (s) => ({ ...s, split: next.split, cut: next.cut, isolated: next.isolated, splitPairs: next.splitPairs, cutPairs: next.cutPairs }));
  return { prefix, split: saved.split, cut: saved.cut, isolated: saved.isolated, splitPairs: saved.splitPairs, cutPairs: saved.cutPairs };
}

/** Removes the split rules from every node; harmless when there are none. */
export async function labHeal(ref: LabRef = {}): Promise<SplitState> {
  const { prefix, dir, state } = await requireLab(ref);
  const present = new Set(await listNetns());
  for (const node of state.info.nodes) {
    if (present.has(node.netns)) await nftInNetns(node.netns, renderHealRuleset());
  }
  await updateLabState(dir, (s) => ({ ...s, ...NO_SPLIT }));
  return { prefix, ...NO_SPLIT };
}
