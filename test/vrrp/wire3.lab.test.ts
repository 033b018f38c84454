import { expect, it } from 'vitest';
import { labHeal } from '../../src/lab/split.js';
import { useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { expectObserversMatchBridge, expectSplitSeen, masterHeard, onIntendedMasters } from './lab-support.js';

const PREFIX = 'kwwire3';

describeWithPrereqs('the VRRP observer against real keepalived, three directors (lab)', { root: true, commands: ['keepalived', 'nft', 'ip', 'tcpdump'] }, () => {
  const lab = useLab(PREFIX, 'alert', { directors: 3 });

  async function settled(): Promise<void> {
    await labHeal({ prefix: PREFIX });
    await waitFor(() => onIntendedMasters(lab.info), 'each instance on its intended MASTER', 30_000);
    for (const node of lab.nodes) await waitFor(async () => (await masterHeard(node, 51, 'lb1', 'lb3')) === 1 && (await masterHeard(node, 51, 'lb1', 'lb2')) === 1, `${node.name}: lb1's adverts reach lb2 and lb3`, 15_000);
  }

  it('every observer hears what tcpdump captures on the bridge over the same window', async () => {
    await settled();
    await expectObserversMatchBridge(lab.info, 5000);
  });

  it("a split of lb2 shows in every daemon's wire view: lb1's and lb3's adverts no longer reach lb2, while lb3 still hears lb1", async () => {
    await settled();
    await expectSplitSeen(lab.info, 'lb2', [
      { vrid: 51, master: 'lb1', listener: 'lb2' },
      { vrid: 59, master: 'lb3', listener: 'lb2' },
    ]);
    for (const node of lab.nodes) expect(await masterHeard(node, 51, 'lb1', 'lb3'), `${node.name}: lb1's adverts still reach lb3`).toBe(1);
    await labHeal({ prefix: PREFIX });
  });
});
