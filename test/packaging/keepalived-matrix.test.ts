import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The build script's checks, run for real against a sources directory of its own (no compiler runs:
// every case stops before the build).
const script = fileURLToPath(new URL('../../scripts/keepalived-matrix.sh', import.meta.url));

describe('scripts/keepalived-matrix.sh', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  const tarball = Buffer.from('not really a tarball');
  const sha = createHash('sha256').update(tarball).digest('hex');
  const run = (...args: string[]) => spawnSync('bash', [script, ...args], { env, encoding: 'utf8' });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'matrix-script-'));
    mkdirSync(join(root, 'shared/keepalived'), { recursive: true });
    writeFileSync(join(root, 'shared/keepalived/keepalived-2.2.8.tar.gz'), tarball);
    env = { ...process.env, KAWATCH_SHARED: join(root, 'shared'), KAWATCH_KEEPALIVED_CACHE: join(root, 'cache') };
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keys a build by flavour and the tarball checksum SHA256SUMS vouches for', () => {
    writeFileSync(join(root, 'shared/keepalived/SHA256SUMS'), `${sha}  keepalived-2.2.8.tar.gz\n`);
    const out = run('path', '2.2.8-json');
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toBe(join(root, 'cache', `2.2.8-json-${sha.slice(0, 12)}`, 'sbin/keepalived'));
    expect(run('list').stdout).toBe('');
  });

  it('refuses a tarball that does not match SHA256SUMS, and sweeps what a killed build left', () => {
    writeFileSync(join(root, 'shared/keepalived/SHA256SUMS'), `${'0'.repeat(64)}  keepalived-2.2.8.tar.gz\n`);
    // pid 2^22 + 1 is above Linux's pid_max: no process can own this staging directory.
    const stale = join(root, 'cache', '.build-4194305-2.2.8-json');
    mkdirSync(stale, { recursive: true });
    const out = run('build', '2.2.8-json');
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`keepalived-2.2.8.tar.gz: SHA-256 ${sha}, but SHA256SUMS says ${'0'.repeat(64)}`);
    expect(existsSync(stale)).toBe(false);
  });

  it('names the known flavours when given an unknown one', () => {
    writeFileSync(join(root, 'shared/keepalived/SHA256SUMS'), `${sha}  keepalived-2.2.8.tar.gz\n`);
    const out = run('build', '2.2.9');
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/unknown flavour '2\.2\.9' \(known: 1\.3\.5-nojson .* 2\.4\.3-json/);
  });
});
