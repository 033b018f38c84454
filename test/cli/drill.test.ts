import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBase } from '../../src/cli/drill.js';
import { cli, startDaemon, type Daemon } from '../peer/daemon.js';
import { describeWithPrereqs } from '../support/prereq.js';

const run = promisify(execFile);

/** `kawatch drill` as an operator runs it: its exit code and what it printed. */
async function drill(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'drill', ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('apiBase', () => {
  it('reaches a wildcard listener on loopback, and any other where it listens', () => {
    expect(apiBase('0.0.0.0:9650')).toBe('http://127.0.0.1:9650');
    expect(apiBase(':9650')).toBe('http://127.0.0.1:9650');
    expect(apiBase('[::]:9650')).toBe('http://[::1]:9650');
    expect(apiBase('198.18.2.2:9650')).toBe('http://198.18.2.2:9650');
  });
});

// A real daemon process without keepalived: every drill is refused, and the command says why.
describeWithPrereqs('kawatch drill against a running daemon', { files: [cli] }, () => {
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = await startDaemon({ name: 'lb1' });
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('prints the refusal with its reasons and exits 1', async () => {
    const { code, stdout } = await drill(['VI_1', '-c', join(daemon.dir, 'k.yml')]);
    expect(stdout).toContain('kawatch drill: refused:');
    expect(stdout).toContain('VI_1: keepalived is not running on lb1');
    expect(code).toBe(1);
  });

  it('gives the refusal as JSON with --format json', async () => {
    const { code, stdout } = await drill(['VI_1', '--dry-run', '--format', 'json', '-c', join(daemon.dir, 'k.yml')]);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'refused' });
    expect(code).toBe(1);
  });

  it('says what is wrong with a bad probe, exit 2', async () => {
    const { code, stderr } = await drill(['VI_1', '--probe', 'tcp://vip:80', '-c', join(daemon.dir, 'k.yml')]);
    expect(stderr).toMatch(/invalid drill request: probe: "tcp:\/\/vip:80": the host must be an IP address/);
    expect(code).toBe(2);
  });
});
