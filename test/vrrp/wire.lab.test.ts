import { beforeAll, expect, it } from 'vitest';
import { labHeal, labSplit } from '../../src/lab/split.js';
import type { LabNode } from '../../src/lab/state.js';
import { nodeState, useLab } from '../support/lab.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { expectObserversMatchBridge, expectSplitSeen, foreignSpeaker, masterHeard, onIntendedMasters } from './lab-support.js';

const PREFIX = 'kwwire';
const FOREIGN = 'kwforeign';
const FOREIGN_ADDRESS = '198.18.0.77';

describeWithPrereqs('the VRRP observer against real keepalived, two directors (lab)', { root: true, commands: ['keepalived', 'nft', 'ip', 'tcpdump', 'python3'] }, () => {
  const lab = useLab(PREFIX);
  let lb1: LabNode;
  let lb2: LabNode;
  beforeAll(() => {
    ({ lb1, lb2 } = lab);
  });

  async function settled(): Promise<void> {
    await labHeal({ prefix: PREFIX });
    await waitFor(() => onIntendedMasters(lab.info), 'each instance on its intended MASTER', 30_000);
    for (const [node, vrid, master, listener] of [[lb1, 51, 'lb1', 'lb2'], [lb2, 51, 'lb1', 'lb2'], [lb1, 55, 'lb2', 'lb1'], [lb2, 55, 'lb2', 'lb1']] as const) {
      await waitFor(async () => (await masterHeard(node, vrid, master, listener)) === 1, `${node.name}: ${master}'s adverts for VRID ${vrid} reach ${listener}`, 15_000);
    }
  }

  it("hears what tcpdump captures on the bridge over the same window: speakers, VRIDs, priorities, intervals, each advert once", async () => {
    await settled();
    await expectObserversMatchBridge(lab.info, 5000);
  });

  it("shows a split in every daemon's wire view within one advert interval of the first advert lost", async () => {
    await settled();
    await expectSplitSeen(lab.info, 'lb2', [{ vrid: 51, master: 'lb1', listener: 'lb2' }]);
    // Once lb2 is MASTER of VI_1 too, its adverts do not reach lb1 either, and the verdict's causes say so from the wire.
    await waitFor(async () => (await masterHeard(lb1, 51, 'lb2', 'lb1')) === 0, "lb1: lb2's adverts for VRID 51 do not reach it", 15_000);
    const verdict = await waitFor(async () => (await nodeState(lb1)).verdicts.find((v) => v.kind === 'split-brain' && v.iname === 'VI_1'), 'the split-brain verdict on lb1', 15_000);
    expect(verdict.kind === 'split-brain' && verdict.causes).toEqual(expect.arrayContaining([expect.stringMatching(/^adverts from lb1 \(198\.18\.0\.1\) for VRID 51 do not reach lb2/), expect.stringMatching(/^adverts from lb2 \(198\.18\.0\.2\) for VRID 51 do not reach lb1/)]));
  });

  it('reports a foreign speaker reusing a VRID with its address, in the metric and as a probable cause of the split brain', async () => {
    await settled();
    const foreign = await foreignSpeaker(lab.info, FOREIGN, FOREIGN_ADDRESS, { vrid: 51, priority: 50, addresses: ['198.18.0.50'] }, 'another1', 90);
    try {
      for (const node of [lb1, lb2]) {
        await waitFor(async () => valueOf(await scrape(node.api), 'kawatch_vrrp_wire_foreign_speaker', { intf: 'pri0', vrid: '51', speaker: FOREIGN_ADDRESS }) === 1, `${node.name} reports ${FOREIGN_ADDRESS} as a foreign speaker of VRID 51`, 10_000);
        // The directors themselves are not foreign.
        const foreignSeries = (await scrape(node.api)).filter((s) => s.name === 'kawatch_vrrp_wire_foreign_speaker');
        expect(foreignSeries.map((s) => s.labels.speaker)).toEqual([FOREIGN_ADDRESS]);
      }
      await labSplit({ prefix: PREFIX, node: 'lb2', link: 'primary' });
      for (const node of [lb1, lb2]) {
        const verdict = await waitFor(async () => {
          const v = (await nodeState(node)).verdicts.find((x) => x.kind === 'split-brain' && x.iname === 'VI_1');
          return v?.kind === 'split-brain' && v.causes.some((c) => c.includes(FOREIGN_ADDRESS)) && v;
        }, `${node.name}: the split brain of VI_1 names ${FOREIGN_ADDRESS} among its causes`, 20_000);
        // lb2 heard it too until the split made it deaf on the primary segment.
        expect(verdict.causes[0]).toBe(`${FOREIGN_ADDRESS} (priority 50), not a director of this group, sends adverts for VRID 51 (heard by lb1 on pri0, lb2 on pri0): another cluster or router reuses the VRID`);
      }
    } finally {
      await foreign.remove();
      await labHeal({ prefix: PREFIX });
    }
  });
});
