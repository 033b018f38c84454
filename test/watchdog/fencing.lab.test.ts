import { afterEach, beforeAll, expect, it } from 'vitest';
import { type LabNode } from '../../src/lab/state.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { startDaemon, stopDaemon } from '../../src/lab/directors.js';
import { journalOf, nodeState, useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const state = nodeState;
const stateOf = async (node: LabNode, iname: string) => (await state(node)).instances[iname]?.state;
const journal = journalOf;

/** One MASTER per instance, where the multi-master model wants it. */
async function untilIntendedMasters(lb1: LabNode, lb2: LabNode): Promise<void> {
  for (const [node, iname] of [[lb1, 'VI_1'], [lb2, 'VI_2']] as const) await waitFor(async () => (await stateOf(node, iname)) === 'MASTER', `${node.name} MASTER of ${iname}`, 30_000);
  for (const [node, iname] of [[lb2, 'VI_1'], [lb1, 'VI_2']] as const) await waitFor(async () => (await stateOf(node, iname)) !== 'MASTER', `${node.name} not MASTER of ${iname}`, 30_000);
}

for (const policy of ['demote', 'stop'] as const) {
  const PREFIX = `kwtf${policy}`;
  let lb1: LabNode;
  let lb2: LabNode;

  describeWithPrereqs(`fencing with policy ${policy} (lab)`, { root: true, commands: ['keepalived', 'nft', 'ip', 'pkill'] }, () => {
    const lab = useLab(PREFIX, policy);
    beforeAll(() => {
      ({ lb1, lb2 } = lab);
    });
    afterEach(async () => {
      await labHeal({ prefix: PREFIX }).catch(() => {});
    });

    if (policy === 'demote') {
      it('demotes exactly one instance per VRID on the loser: VI_1 stays on lb1, VI_2 on lb2', async () => {
        await labSplit({ prefix: PREFIX });
        await waitFor(async () => (await stateOf(lb2, 'VI_1')) === 'FAULT', 'lb2 demotes VI_1', 30_000);
        await waitFor(async () => (await stateOf(lb1, 'VI_2')) === 'FAULT', 'lb1 demotes VI_2', 30_000);
        expect(await stateOf(lb1, 'VI_1')).toBe('MASTER');
        expect(await stateOf(lb2, 'VI_2')).toBe('MASTER');
        expect(journal(lb1).map((e) => [e.action, e.iname, e.winner])).toEqual([['demote', 'VI_2', 'lb2']]);
        expect(journal(lb2).map((e) => [e.action, e.iname, e.winner])).toEqual([['demote', 'VI_1', 'lb1']]);
        expect((await state(lb1)).verdicts).toEqual([]);
      });

      it('does not act again when its daemon restarts during the split', async () => {
        await stopDaemon(lb2);
        await startDaemon(lb2);
        await waitFor(async () => (await state(lb2)).peers.lb1?.view !== undefined, 'lb2 hears lb1 again');
        // A full exchange round later nothing new is journaled, and VI_1 is still held on lb2.
        const heard = (await state(lb2)).peers.lb1!.lastExchange!;
        await waitFor(async () => ((await state(lb2)).peers.lb1?.lastExchange ?? 0) > heard + 1000, 'more exchanges after the restart');
        expect(journal(lb2).map((e) => e.action)).toEqual(['demote']);
        expect(await stateOf(lb2, 'VI_1')).toBe('FAULT');
      });

      it('restores the demoted instances once the split has healed and stayed healed', async () => {
        await labHeal({ prefix: PREFIX });
        await waitFor(async () => journal(lb2).some((e) => e.action === 'restore') && journal(lb1).some((e) => e.action === 'restore'), 'both restores journaled', 60_000);
        await untilIntendedMasters(lb1, lb2);
        expect(await stateOf(lb2, 'VI_1')).toBe('BACKUP');
        expect(await stateOf(lb1, 'VI_2')).toBe('BACKUP');
      });

      it('has a director cut off from its peer and the witness demote itself, and only that one', async () => {
        const before = journal(lb1).length;
        await labSplit({ prefix: PREFIX, link: 'isolate' });
        await waitFor(async () => (await stateOf(lb2, 'VI_2')) === 'FAULT', 'isolated lb2 demotes VI_2', 30_000);
        await waitFor(async () => (await stateOf(lb1, 'VI_2')) === 'MASTER', 'lb1 takes VI_2 over', 30_000);
        expect(await stateOf(lb1, 'VI_1')).toBe('MASTER');
        expect(journal(lb2).filter((e) => e.isolation).map((e) => [e.action, e.iname])).toEqual(expect.arrayContaining([['demote', 'VI_2']]));
        expect(journal(lb1)).toHaveLength(before);
        await labHeal({ prefix: PREFIX });
        await untilIntendedMasters(lb1, lb2);
        expect(journal(lb2).filter((e) => e.isolation && e.action === 'demote').length).toBeLessThanOrEqual(journal(lb2).filter((e) => e.action === 'restore').length);
      });
    } else {
      it('stops keepalived on the loser only', async () => {
        await labSplit({ prefix: PREFIX });
        // Both instances split; the first confirmed one makes its loser stop keepalived, which ends both splits.
        await waitFor(async () => journal(lb1).length + journal(lb2).length > 0, 'a stop journaled', 30_000);
        await waitFor(async () => !(await state(lb1)).keepalived.up || !(await state(lb2)).keepalived.up, 'one keepalived stopped', 30_000);
        const stopped = [lb1, lb2].filter((n) => journal(n).some((e) => e.action === 'stop'));
        expect(stopped).toHaveLength(1);
        const survivor = stopped[0] === lb1 ? lb2 : lb1;
        expect((await state(survivor)).keepalived.up).toBe(true);
        await waitFor(async () => (await stateOf(survivor, 'VI_1')) === 'MASTER' && (await stateOf(survivor, 'VI_2')) === 'MASTER', 'the survivor holds both VIPs', 30_000);
      });
    }
  });
}
