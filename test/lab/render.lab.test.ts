import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PRIMARY_IFNAME, planLab } from '../../src/lab/plan.js';
import { renderKeepalivedConf } from '../../src/lab/render.js';
import { keepalivedConfigTest } from '../support/keepalived-check.js';
import { describeWithPrereqs } from '../support/prereq.js';

// The rendered files themselves are checked in render.test.ts; here the real keepalived reads them.
const LAUNCHER = fileURLToPath(new URL('../../bin/kawatch', import.meta.url));
const PLAN = planLab('kwtrender', '/run/kawatch-lab/kwtrender', 3);
const TRIO = planLab('kwgtrio', '/run/kawatch-lab/kwgtrio', 2, 3);
const keepalivedTest = (file: string) => keepalivedConfigTest(file, { interface: PRIMARY_IFNAME, peer: 'peer0' });

describeWithPrereqs('rendered keepalived.conf under the real keepalived', { commands: ['keepalived', 'unshare', 'ip'] }, () => {
  let dir: string;
  const files = new Map<string, string>();
  const confOf = (name: string) => renderKeepalivedConf(PLAN, PLAN.nodes.find((n) => n.name === name)!, { launcher: LAUNCHER });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-render-'));
    for (const node of PLAN.nodes) {
      const file = join(dir, `${node.name}.conf`);
      writeFileSync(file, confOf(node.name));
      files.set(node.name, file);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const name of ['lb1', 'lb2']) {
    it(`is accepted by keepalived -t without a remark for ${name}`, async () => {
      const result = await keepalivedTest(files.get(name)!);
      expect(result.stderr.trim()).toBe('');
      expect(result.code).toBe(0);
    });
  }

  it('is accepted by keepalived -t without a remark for each director of a group of three', async () => {
    for (const node of TRIO.nodes) {
      const file = join(dir, `trio-${node.name}.conf`);
      writeFileSync(file, renderKeepalivedConf(TRIO, node, { launcher: LAUNCHER }));
      const result = await keepalivedTest(file);
      expect(result.stderr.trim(), node.name).toBe('');
      expect(result.code, node.name).toBe(0);
    }
  });

  it('would notice a broken file (the check above can fail)', async () => {
    const broken = join(dir, 'broken.conf');
    writeFileSync(broken, confOf('lb1').replace(/virtual_router_id \d+/, 'virtual_router_id 999'));
    const result = await keepalivedTest(broken);
    expect(result.stderr).toMatch(/999/);
    expect(result.code).not.toBe(0);
  });
});
