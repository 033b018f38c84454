import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PRIMARY_IFNAME, planLab } from '../../src/lab/plan.js';
import { renderKeepalivedConf } from '../../src/lab/render.js';
import { keepalivedConfigTest } from '../support/keepalived-check.js';
import { describeWithPrereqs } from '../support/prereq.js';

// The lab's own keepalived.conf files belong to the good corpus: the real keepalived reads every one.
const dir = mkdtempSync(join(tmpdir(), 'kawatch-lint-lab-'));
const plan = planLab('kwtlint', join(dir, 'lab'), 3);
const files = plan.nodes.map((node) => {
  const file = join(dir, `${node.name}.conf`);
  writeFileSync(file, renderKeepalivedConf(plan, node, { launcher: '/usr/bin/kawatch' }));
  return file;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithPrereqs('the lab’s generated configurations as keepalived reads them', { root: true, commands: ['keepalived', 'unshare', 'ip'] }, () => {
  it.each(files)('keepalived -t accepts %s', async (file) => {
    const out = await keepalivedConfigTest(file, { interface: PRIMARY_IFNAME, peer: 'peer0' });
    expect({ code: out.code, output: `${out.stdout}${out.stderr}` }).toEqual({ code: 0, output: '' });
  });
});
