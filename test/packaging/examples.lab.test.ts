import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseKeepalivedConf } from '../../src/keepalived/conf/parse.js';
import { exec, run } from '../../src/core/exec.js';
import { describeWithPrereqs } from '../support/prereq.js';

const dir = resolve(import.meta.dirname, '../../examples/keepalived');
const NS = 'kwtdoc-examples';

/** keepalived -t checks that each instance's interface exists: the examples get theirs in a namespace. */
describeWithPrereqs('examples/keepalived', { root: true, commands: ['keepalived', 'ip'] }, () => {
  let files: string[];

  beforeAll(async () => {
    files = (await readdir(dir)).filter((f) => f.endsWith('.conf')).map((f) => join(dir, f));
    await exec('ip', ['netns', 'del', NS]);
    await run('ip', ['netns', 'add', NS]);
    const interfaces = new Set<string>();
    for (const file of files) for (const m of (await readFile(file, 'utf8')).matchAll(/^\s*interface\s+(\S+)/gm)) interfaces.add(m[1]!);
    for (const ifname of interfaces) await run('ip', ['-n', NS, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', `${ifname}-peer`]);
  });
  afterAll(async () => {
    await exec('ip', ['netns', 'del', NS]);
  });

  it('has the multi-master and the LVS-DR examples', () => {
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['lvs-dr-director.conf', 'multi-master-lb1.conf']);
  });

  it('every example passes keepalived -t', async () => {
    for (const file of files) {
      const result = await exec('ip', ['netns', 'exec', NS, 'keepalived', '-t', '-f', file], { timeoutMs: 30_000 });
      expect({ file, exitCode: result.exitCode, output: result.stderr + result.stdout }).toEqual({ file, exitCode: 0, output: '' });
    }
  });

  it('every example reads without a problem with kawatch\'s keepalived.conf parser', async () => {
    for (const file of files) expect((await parseKeepalivedConf(file)).problems, file).toEqual([]);
  });
});
