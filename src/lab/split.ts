import { join } from 'node:path';
import { PRIMARY_IFNAME, SECONDARY_IFNAME } from './plan.js';
import { renderHealRuleset, renderSplitRuleset } from './render.js';
import { updateLabState, type LabInfo, type LabState } from './state.js';
import { LabError, listNetns, nftInNetns } from './system.js';
import { openLab, type LabRef } from './lifecycle.js';

/** Split brains on demand: nftables rules inside a director's namespace, and their removal. */

export interface SplitState {
  prefix: string;
  /** Nodes whose primary segment drops VRRP. */
  split: string[];
  /** Nodes whose secondary link drops everything. */
  cut: string[];
  /** Nodes cut off from both links (everything dropped). */
  isolated: string[];
}

export type SplitLink = 'primary' | 'secondary' | 'both' | 'isolate';

async function requireLab(ref: LabRef): Promise<{ prefix: string; dir: string; state: LabState & { info: LabInfo } }> {
  const { prefix, dir, state } = await openLab(ref);
  if (!state?.info) throw new LabError(`lab "${prefix}" is not up (no finished lab in ${dir})`);
  return { prefix, dir, state: state as LabState & { info: LabInfo } };
}

/**
 * On one node: `primary` drops VRRP on its primary interface, both ways (each side stops hearing
 * the other and both become MASTER); `secondary` cuts its secondary link; `both` does both;
 * `isolate` drops everything on both links, witness included.
 */
export async function labSplit(options: LabRef & { node?: string; link?: SplitLink } = {}): Promise<SplitState> {
  const { prefix, dir, state } = await requireLab(options);
  const nodeName = options.node ?? 'lb2';
  const link = options.link ?? 'primary';
  const node = state.info.nodes.find((n) => n.name === nodeName);
  if (!node) throw new LabError(`no node ${JSON.stringify(nodeName)} in lab "${prefix}" (nodes: ${state.info.nodes.map((n) => n.name).join(', ')})`);
  const add = (list: string[], yes: boolean) => (yes ? [...new Set([...list, nodeName])] : list);
  const split = add(state.split, link !== 'secondary');
  const cut = add(state.cut, link !== 'primary');
  const isolated = add(state.isolated, link === 'isolate');
  // Rules first, record after: lab.json never claims a split that nft failed to make.
  await nftInNetns(
    node.netns,
    renderSplitRuleset({
      dropVrrpOn: split.includes(nodeName) ? PRIMARY_IFNAME : undefined,
      dropAllOn: [...(cut.includes(nodeName) ? [SECONDARY_IFNAME] : []), ...(isolated.includes(nodeName) ? [PRIMARY_IFNAME] : [])],
    }),
  );
  const next = await updateLabState(dir, (s) => ({ ...s, split, cut, isolated }));
  return { prefix, split: next.split, cut: next.cut, isolated: next.isolated };
}

/** Removes the split rules from every node; harmless when there are none. */
export async function labHeal(ref: LabRef = {}): Promise<SplitState> {
  const { prefix, dir, state } = await requireLab(ref);
  const present = new Set(await listNetns());
  for (const node of state.info.nodes) {
    if (present.has(node.netns)) await nftInNetns(node.netns, renderHealRuleset());
  }
  await updateLabState(dir, (s) => ({ ...s, split: [], cut: [], isolated: [] }));
  return { prefix, split: [], cut: [], isolated: [] };
}
