import { beforeAll, expect, it } from 'vitest';
import { startKeepalived, stopKeepalived } from '../../src/lab/directors.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { failoverAfter, holdsMade, settledUnderPrevent, splitWithoutDualMaster, underPrevent } from './prevent-support.js';

const PREFIX = 'kwprev';
const SPLITS = 5;
/** keepalived's own bound for lb2 (priority 80, advert_int 1): 3 intervals plus a skew of (256 - 80) / 256, from the last advert, at most one interval before the kill. */
const KEEPALIVED_BOUND_MS = 1000 + 3000 + 688;
const HEARTBEAT_BOUND_MS = 300;

describeWithPrereqs('watchdog.policy prevent against real keepalived, two directors (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX);
  beforeAll(async () => {
    await underPrevent(lab.info);
  }, 60_000);

  it(`lets no split of ${SPLITS} make a second MASTER: each BACKUP holds, the instances stay on their owners`, async () => {
    for (let i = 0; i < SPLITS; i++) await splitWithoutDualMaster(lab.info, 'lb2', ['lb1:VI_2', 'lb2:VI_1']);
  }, 150_000);

  it('holds nothing when only the secondary link is cut', async () => {
    const before = await Promise.all(lab.nodes.map(holdsMade));
    await splitWithoutDualMaster(lab.info, 'lb2', [], 'secondary');
    expect(await Promise.all(lab.nodes.map(holdsMade))).toEqual(before);
  }, 60_000);

  it("fails a killed MASTER over within keepalived's own bound plus the heartbeat bound", async () => {
    await settledUnderPrevent(lab.info);
    try {
      const ms = await failoverAfter(lab.info, () => stopKeepalived(lab.lb1, { signal: 'SIGKILL' }), 'VI_1', 'lb2');
      expect(ms).toBeLessThan(KEEPALIVED_BOUND_MS + HEARTBEAT_BOUND_MS);
    } finally {
      await startKeepalived(lab.lb1);
    }
    await settledUnderPrevent(lab.info);
  }, 60_000);

  it("fails a MASTER cut off from its primary segment over within keepalived's own bound plus the heartbeat bound: its statements stop saying its witness answers", async () => {
    await settledUnderPrevent(lab.info);
    try {
      // lb1's keepalived stays MASTER and its daemon keeps stating it over the secondary link, but its witness on the primary segment no longer answers.
      const ms = await failoverAfter(lab.info, async () => void (await labSplit({ prefix: lab.info.prefix, node: 'lb1', link: 'segment' })), 'VI_1', 'lb2');
      expect(ms).toBeLessThan(KEEPALIVED_BOUND_MS + HEARTBEAT_BOUND_MS);
    } finally {
      await labHeal({ prefix: lab.info.prefix });
    }
    await settledUnderPrevent(lab.info);
  }, 60_000);
});
