import { beforeAll, expect, it } from 'vitest';
import { type LabNode } from '../../src/lab/state.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { stopKeepalived, startKeepalived } from '../../src/lab/directors.js';
import { nodeState, useLab } from '../support/lab.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const PREFIX = 'kwtwatch';
let lb1: LabNode;
let lb2: LabNode;
const state = nodeState;
const kinds = async (node: LabNode) => (await state(node)).verdicts.map((v) => v.kind).sort();
const splitBrain = async (node: LabNode, iname: string) => valueOf(await scrape(node.api), 'kawatch_split_brain', { iname });
const peerUp = async (node: LabNode, peer: string) => valueOf(await scrape(node.api), 'kawatch_peer_up', { peer });

async function healthy(): Promise<void> {
  await labHeal({ prefix: PREFIX });
  for (const node of [lb1, lb2]) await waitFor(async () => (await kinds(node)).length === 0 && (await state(node)).instances.VI_1?.state !== undefined, `${node.name} without verdicts`, 30_000);
}

describeWithPrereqs('split-brain watchdog against real keepalived (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX);
  beforeAll(() => {
    ({ lb1, lb2 } = lab);
  });

  it('sees its peer over the secondary link and finds nothing wrong in a healthy lab', async () => {
    await healthy();
    expect(await peerUp(lb1, 'lb2')).toBe(1);
    expect(await peerUp(lb2, 'lb1')).toBe(1);
    const m = await scrape(lb1.api);
    expect(valueOf(m, 'kawatch_split_brain', { iname: 'VI_1' })).toBe(0);
    expect(valueOf(m, 'kawatch_split_brain', { iname: 'VI_2' })).toBe(0);
    expect(valueOf(m, 'kawatch_peer_vrrp_state', { peer: 'lb2', iname: 'VI_2' })).toBe(2);
    expect(valueOf(m, 'kawatch_peer_rtt_seconds', { peer: 'lb2' })).toBeGreaterThan(0);
  });

  it('raises nothing when a MASTER stops and starts again: no VIP missing on a MASTER on its way out, no settings compared before a dump', async () => {
    await healthy();
    await stopKeepalived(lb1);
    await waitFor(async () => (await state(lb2)).instances.VI_1?.state === 'MASTER', 'lb2 takes VI_1 over', 20_000);
    await startKeepalived(lb1);
    await waitFor(async () => (await state(lb1)).instances.VI_1?.state === 'MASTER', 'lb1 takes VI_1 back', 20_000);
    await healthy();
    // The status page lists what each daemon raised since it started (its history, newest first).
    const history = async (node: LabNode) => (await (await fetch(`${node.api}/`, { signal: AbortSignal.timeout(2000) })).text()).split('Recent transitions and verdicts')[1] ?? '';
    const lb1History = await history(lb1);
    expect(lb1History).toMatch(/VI_1: MASTER -(?:>|&gt;) (?:STOP|FAULT|BACKUP)/);
    for (const page of [lb1History, await history(lb2)]) {
      expect(page).not.toMatch(/raised: VIP \S+ of VI_\d is missing on its MASTER/);
      expect(page).not.toMatch(/raised: \S+ of VI_\d differs between directors/);
    }
  });

  it('reports the split brain on both directors when VRRP is blocked on the primary segment, and its end after the heal', async () => {
    await labSplit({ prefix: PREFIX, link: 'primary' });
    for (const node of [lb1, lb2]) {
      for (const iname of ['VI_1', 'VI_2']) await waitFor(async () => (await splitBrain(node, iname)) === 1, `${node.name} split brain on ${iname}`, 20_000);
      const verdicts = (await state(node)).verdicts.filter((v) => v.kind === 'split-brain');
      expect(verdicts).toEqual(expect.arrayContaining([expect.objectContaining({ iname: 'VI_1', masters: ['lb1', 'lb2'], causes: expect.arrayContaining([expect.stringContaining('IP protocol 112')]) })]));
      // Besides it, only what the VRRP observers hear: each MASTER's adverts missing at the other.
      const others = verdicts.flatMap((v) => v.causes).filter((c) => !c.includes('IP protocol 112'));
      for (const cause of others) expect(cause).toMatch(/^adverts from (lb1|lb2) \(\S+\) for VRID \d+ do not reach (lb1|lb2): its observer hears none$/);
      // Held for confirm_after, which a split the VRRP observers confirm does not wait for.
      await waitFor(async () => valueOf(await scrape(node.api), 'kawatch_vip_on_several_nodes', { iname: 'VI_1' }) === 1, `${node.name} VI_1's VIP on several nodes`, 5_000);
    }
    await healthy();
    expect(await splitBrain(lb1, 'VI_1')).toBe(0);
    expect(await splitBrain(lb2, 'VI_2')).toBe(0);
  });

  it('reports only an unreachable peer when the secondary link alone is cut', async () => {
    await labSplit({ prefix: PREFIX, link: 'secondary' });
    await waitFor(async () => (await peerUp(lb1, 'lb2')) === 0, 'lb1 loses lb2', 20_000);
    await waitFor(async () => (await peerUp(lb2, 'lb1')) === 0, 'lb2 loses lb1', 20_000);
    for (const node of [lb1, lb2]) {
      expect(await kinds(node)).toEqual(['peer-unreachable']);
      expect(await splitBrain(node, 'VI_1')).toBe(0);
    }
    await healthy();
  });

  it('concludes nothing it cannot confirm when both links are cut', async () => {
    await labSplit({ prefix: PREFIX, link: 'both' });
    // keepalived really is MASTER on both sides now, but neither daemon can hear the other.
    await waitFor(async () => (await state(lb2)).instances.VI_1?.state === 'MASTER', 'lb2 MASTER of VI_1', 20_000);
    await waitFor(async () => (await peerUp(lb1, 'lb2')) === 0, 'lb1 loses lb2', 20_000);
    for (const node of [lb1, lb2]) {
      expect(await kinds(node)).toEqual(['peer-unreachable']);
      expect(await splitBrain(node, 'VI_1')).toBe(0);
    }
    await healthy();
  });

  it('sees a clean failover when keepalived dies on a MASTER, without ever calling it a split brain', async () => {
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) for (const node of [lb1, lb2]) samples.push((await splitBrain(node, 'VI_1')) ?? -1);
    })();
    try {
      await stopKeepalived(lb1, { signal: 'SIGKILL' });
      await waitFor(async () => (await state(lb2)).instances.VI_1?.state === 'MASTER', 'lb2 takes VI_1 over', 20_000);
      await startKeepalived(lb1);
      await waitFor(async () => (await state(lb1)).instances.VI_1?.state === 'MASTER', 'lb1 takes VI_1 back', 20_000);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((v) => v !== 0)).toEqual([]);
  });
});
