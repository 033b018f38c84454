import { describe, expect, it } from 'vitest';
import { masterOf } from '../../src/lab/plan.js';
import { labConfigs } from './lab-configs-fixture.js';
import { lintFiles } from '../../src/lint/lint.js';

const { plan, files } = labConfigs();

describe('the lab’s generated configurations', () => {
  it('cross-check clean, and the multi-master map names the lab’s own MASTER of each instance', async () => {
    const result = await lintFiles(files);
    expect(result.findings).toEqual([]);
    const expected = plan.instances.map((i) => `${i.name}→${masterOf(i)}.conf`).sort();
    expect(result.masterMap.map((r) => `${r.instance}→${r.master?.split('/').pop()}`).sort()).toEqual(expected);
  });
});

// What the real keepalived says of them: lab-configs.lab.test.ts.
