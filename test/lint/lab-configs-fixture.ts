import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { planLab } from '../../src/lab/plan.js';
import { renderKeepalivedConf } from '../../src/lab/render.js';

/** The lab's own keepalived.conf files, generated into a directory removed after the file's tests: part of the good corpus. */
export function labConfigs(): { plan: ReturnType<typeof planLab>; files: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'kawatch-lint-lab-'));
  const plan = planLab('kwtlint', join(dir, 'lab'), 3);
  const files = plan.nodes.map((node) => {
    const file = join(dir, `${node.name}.conf`);
    writeFileSync(file, renderKeepalivedConf(plan, node, { launcher: '/usr/bin/kawatch' }));
    return file;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { plan, files };
}
