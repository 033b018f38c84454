import { beforeAll, it } from 'vitest';
import { useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { splitWithoutDualMaster, underPrevent } from './prevent-support.js';

const PREFIX = 'kwprev3';
const SPLITS = 5;

describeWithPrereqs('watchdog.policy prevent against real keepalived, three directors (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX, 'alert', { directors: 3 });
  beforeAll(async () => {
    await underPrevent(lab.info);
  }, 60_000);

  it(`lets no split of ${SPLITS} make a second MASTER: lb2 holds what it no longer hears, lb1 and lb3 hold VI_2`, async () => {
    for (let i = 0; i < SPLITS; i++) await splitWithoutDualMaster(lab.info, 'lb2', ['lb1:VI_2', 'lb2:VI_1', 'lb2:VI_3', 'lb3:VI_2']);
  }, 170_000);
});
