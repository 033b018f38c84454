import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, readFile, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseSpoolRecord, SPOOL_SUFFIX } from '../../src/keepalived/spool.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';
import { artifacts, buildPackageIfStale, CHROOT_ENV, freshDebianRoot, version, type DebianRoot } from './package-root.js';

/**
 * Installs the .deb into a fresh Debian 12 root with dpkg in a chroot (./package-root.ts: a recording
 * systemctl stands in for systemd), runs the packaged kawatch there with no Node.js on the system,
 * then removes and purges it and checks what is left.
 */
describeWithPrereqs('the .deb on a fresh Debian 12', { root: true, commands: ['debootstrap', 'dpkg-deb', 'rpmbuild', 'chroot', 'mount', 'objdump'] }, () => {
  let debian: DebianRoot;
  let rootfs: string;
  let daemon: ChildProcess | undefined;
  const inRoot = (...parts: string[]) => debian.inRoot(...parts);
  const chroot = (args: string[], timeout?: number) => debian.chroot(args, timeout);
  const systemctlCalls = () => debian.systemctlCalls();

  beforeAll(async () => {
    await buildPackageIfStale();
    debian = await freshDebianRoot('deb');
    rootfs = debian.rootfs;
    await copyFile(artifacts.deb, inRoot('tmp/kawatch.deb'));
    await copyFile(artifacts.tarball, inRoot('tmp/kawatch.tar.gz'));
  }, 2_400_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    await debian?.dispose();
  }, 120_000);

  it('installs with dpkg, with no node on the system', async () => {
    await expect(chroot(['sh', '-c', 'command -v node'])).rejects.toThrow();
    await chroot(['dpkg', '-i', '/tmp/kawatch.deb'], 120_000);
    const { stdout } = await chroot(['dpkg-query', '-W', '-f', '${Status} ${Conffiles}', 'kawatch']);
    expect(stdout).toMatch(/^install ok installed/);
    expect(stdout).toContain('/etc/kawatch/kawatch.yml');
  });

  it('lays out the launcher, runtime, unit, man page and directories as the unit expects', async () => {
    expect((await stat(inRoot('usr/bin/kawatch'))).mode & 0o777).toBe(0o755);
    expect((await readFile(inRoot('usr/bin/kawatch'), 'utf8')).startsWith('#!/bin/sh\n')).toBe(true);
    expect(existsSync(inRoot('usr/lib/kawatch/node'))).toBe(true);
    expect(existsSync(inRoot('usr/lib/kawatch/app/netlink.node'))).toBe(true);
    expect(existsSync(inRoot('usr/lib/kawatch/app/vrrp-socket.node'))).toBe(true);
    const unit = await readFile(inRoot('lib/systemd/system/kawatch.service'), 'utf8');
    expect(unit).toContain('ExecStart=/usr/bin/kawatch run --config /etc/kawatch/kawatch.yml');
    expect(existsSync(inRoot('usr/share/man/man1/kawatch.1.gz'))).toBe(true);
    const modes = await chroot(['stat', '-c', '%n %a %U:%G', '/var/lib/kawatch', '/var/spool/kawatch', '/run/kawatch']);
    expect(modes.stdout.trim().split('\n')).toEqual(['/var/lib/kawatch 700 root:root', '/var/spool/kawatch 700 root:root', '/run/kawatch 755 root:root']);
  });

  it('neither enables nor starts anything on install, and never touches keepalived', async () => {
    const calls = await systemctlCalls();
    expect(calls.length).toBeGreaterThan(0); // the systemd branch ran: daemon-reload at least
    expect(calls.filter((c) => /\b(start|restart|try-restart|reload-or-restart|enable|preset)\b/.test(c))).toEqual([]);
    expect(calls.filter((c) => c.includes('keepalived'))).toEqual([]);
    expect(existsSync(inRoot('etc/systemd/system/multi-user.target.wants/kawatch.service'))).toBe(false);
  });

  it('runs kawatch version and kawatch run --check with the bundled runtime', async () => {
    expect((await chroot(['kawatch', 'version'])).stdout.trim()).toBe(`kawatch ${version}`);
    const check = await chroot(['kawatch', 'run', '--check', '--config', '/etc/kawatch/kawatch.yml']);
    expect(check.stdout).toContain('/etc/kawatch/kawatch.yml: ok');
  });

  it('writes a spool record on kawatch notify without starting the runtime', async () => {
    // The hook path is sh only: it works with the runtime not even executable.
    await chmod(inRoot('usr/lib/kawatch/node'), 0o644);
    try {
      await chroot(['kawatch', 'notify', 'master', 'VI_1']);
    } finally {
      await chmod(inRoot('usr/lib/kawatch/node'), 0o755);
    }
    const records = (await readdir(inRoot('var/spool/kawatch'))).filter((f) => f.endsWith(SPOOL_SUFFIX));
    expect(records).toHaveLength(1);
    expect(parseSpoolRecord(await readFile(inRoot('var/spool/kawatch', records[0]!))).args).toEqual(['master', 'VI_1']);
  });

  it('runs the daemon from the installed configuration, answering /healthz, reading netlink and taking in the spooled event', async () => {
    const port = await freePort();
    let log = '';
    daemon = spawn('chroot', [rootfs, 'kawatch', 'run', '--config', '/etc/kawatch/kawatch.yml', '--listen', `127.0.0.1:${port}`], { env: CHROOT_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((ok) => daemon!.once('exit', (code) => ok(code)));
    try {
      const health = await waitFor(async () => {
        if (daemon!.exitCode !== null) throw new Error(`kawatch run exited ${daemon!.exitCode}: ${log}`);
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.status === 200 ? res : undefined;
      }, 'the packaged daemon to answer /healthz', 30_000).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${log}`);
      });
      expect(health.status).toBe(200);
      // The netlink addon loads from beside the bundle: the address source reads the kernel through it.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^kawatch_source_up\{source="netlink"\} 1$/m);
      await waitFor(async () => (await readdir(inRoot('var/spool/kawatch'))).every((f) => !f.endsWith(SPOOL_SUFFIX)), 'the daemon to take in the spooled event', 15_000);
    } finally {
      daemon.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('removes the program but keeps the configuration on dpkg -r, stopping only kawatch', async () => {
    await debian.clearSystemctlCalls();
    await chroot(['dpkg', '-r', 'kawatch'], 120_000);
    expect((await chroot(['dpkg-query', '-W', '-f', '${Status}', 'kawatch'])).stdout).toBe('deinstall ok config-files');
    expect(existsSync(inRoot('usr/bin/kawatch'))).toBe(false);
    expect(existsSync(inRoot('usr/lib/kawatch'))).toBe(false);
    expect(existsSync(inRoot('etc/kawatch/kawatch.yml'))).toBe(true);
    const calls = await systemctlCalls();
    expect(calls.filter((c) => c.includes('keepalived'))).toEqual([]);
    expect(calls.filter((c) => /\b(start|restart)\b/.test(c))).toEqual([]);
  });

  it('leaves nothing of kawatch behind after dpkg -P', async () => {
    await chroot(['dpkg', '-P', 'kawatch'], 120_000);
    await expect(chroot(['dpkg-query', '-W', '-f', '${Status}', 'kawatch'])).rejects.toThrow();
    for (const path of ['etc/kawatch', 'usr/lib/kawatch', 'var/lib/kawatch', 'var/spool/kawatch', 'run/kawatch', 'lib/systemd/system/kawatch.service', 'usr/share/man/man1/kawatch.1.gz']) {
      expect(existsSync(inRoot(path)), path).toBe(false);
    }
    expect((await systemctlCalls()).filter((c) => c.includes('keepalived'))).toEqual([]);
  });

  it('installs from the .tar.gz with tar -C / too, leaving the merged /usr as it is', async () => {
    await chroot(['tar', '-C', '/', '-xzf', '/tmp/kawatch.tar.gz'], 120_000);
    expect((await chroot(['kawatch', 'version'])).stdout.trim()).toBe(`kawatch ${version}`);
    expect(existsSync(inRoot('usr/lib/systemd/system/kawatch.service'))).toBe(true);
    // /lib is a symlink to usr/lib on Debian 12: the tarball must not have turned it into a directory.
    expect((await chroot(['readlink', '/lib'])).stdout.trim()).toBe('usr/lib');
    const modes = await chroot(['stat', '-c', '%n %a', '/var/lib/kawatch', '/var/spool/kawatch', '/']);
    expect(modes.stdout.trim().split('\n')).toEqual(['/var/lib/kawatch 700', '/var/spool/kawatch 700', '/ 755']);
  });
});
