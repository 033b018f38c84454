import { expect, it } from 'vitest';
import { PRIMARY_IFNAME } from '../../src/lab/plan.js';
import { labConfigs } from './lab-configs-fixture.js';
import { keepalivedConfigTest } from '../support/keepalived-check.js';
import { describeWithPrereqs } from '../support/prereq.js';

const { files } = labConfigs();

describeWithPrereqs('the lab’s generated configurations as keepalived reads them', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  it.each(files)('keepalived -t accepts %s', async (file) => {
    const out = await keepalivedConfigTest(file, { interface: PRIMARY_IFNAME, peer: 'peer0' });
    expect({ code: out.code, output: `${out.stdout}${out.stderr}` }).toEqual({ code: 0, output: '' });
  });
});
