import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPrereqs } from '../support/prereq.js';

const execFileP = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const UNIT = join(repo, 'packaging/systemd/kawatch.service');

describeWithPrereqs('systemd unit', { commands: ['systemd-analyze'] }, () => {
  let dir: string;
  let unit: string;
  let verifiable: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kawatch-unit-'));
    unit = await readFile(UNIT, 'utf8');
    // systemd-analyze verify insists that ExecStart's binary exists: point it at this checkout's launcher.
    verifiable = join(dir, 'kawatch.service');
    await writeFile(verifiable, unit.replace(/^ExecStart=\/usr\/bin\/kawatch /m, `ExecStart=${join(repo, 'bin/kawatch')} `));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes systemd-analyze verify', async () => {
    expect(verifiable).not.toBe(UNIT);
    const { stdout, stderr } = await execFileP('systemd-analyze', ['verify', verifiable]);
    expect(`${stdout}${stderr}`.trim()).toBe('');
  });

  it('keeps only the capabilities kawatch needs and writes only where kawatch writes', () => {
    const setting = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
    expect(setting('CapabilityBoundingSet')).toEqual(['CAP_NET_ADMIN CAP_NET_RAW CAP_KILL']);
    expect(setting('ProtectSystem')).toEqual(['strict']);
    expect(setting('NoNewPrivileges')).toEqual(['yes']);
    expect(setting('StateDirectory')).toEqual(['kawatch']);
    expect(setting('RuntimeDirectory')).toEqual(['kawatch']);
    expect(setting('ReadWritePaths')).toEqual(['/var/spool/kawatch']);
    // keepalived's dump is in the host's /tmp.
    expect(setting('PrivateTmp')).toEqual(['no']);
    expect(setting('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
  });

  it('is rated better than UNSAFE by systemd-analyze security', async () => {
    const result = await execFileP('systemd-analyze', ['security', '--offline=true', verifiable]).catch((err: { stdout?: string; stderr?: string }) => err);
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    const level = /Overall exposure level for kawatch\.service: ([\d.]+) (\w+)/.exec(output);
    expect(level, output).not.toBeNull();
    console.log(`systemd-analyze security: exposure ${level![1]} ${level![2]}`);
    expect(['OK', 'MEDIUM']).toContain(level![2]);
  });
});
