import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { masterOf, planLab } from '../../src/lab/plan.js';
import { renderKeepalivedConf } from '../../src/lab/render.js';
import { lintFiles } from '../../src/lint/lint.js';

// The lab's own keepalived.conf files belong to the good corpus: generated, not stored.
const dir = mkdtempSync(join(tmpdir(), 'kawatch-lint-lab-'));
const plan = planLab('kwtlint', join(dir, 'lab'), 3);
const files = plan.nodes.map((node) => {
  const file = join(dir, `${node.name}.conf`);
  writeFileSync(file, renderKeepalivedConf(plan, node, { launcher: '/usr/bin/kawatch' }));
  return file;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the lab’s generated configurations', () => {
  it('cross-check clean, and the multi-master map names the lab’s own MASTER of each instance', async () => {
    const result = await lintFiles(files);
    expect(result.findings).toEqual([]);
    const expected = plan.instances.map((i) => `${i.name}→${masterOf(i)}.conf`).sort();
    expect(result.masterMap.map((r) => `${r.instance}→${r.master?.split('/').pop()}`).sort()).toEqual(expected);
  });
});

// What the real keepalived says of them: lab-configs.lab.test.ts.
