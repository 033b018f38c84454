/**
 * What the package tests share: the artifacts of `npm run package` (rebuilt when stale) and a fresh
 * Debian 12 root to install them into (debootstrap --variant=minbase, cached once per machine by
 * packaging/deb/debootstrap-cache.sh), with no Node.js anywhere on it.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);
export const repo = resolve(import.meta.dirname, '../..');
export const { version } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
export const artifacts = {
  deb: join(repo, 'dist-pkg', `kawatch_${version}_amd64.deb`),
  rpm: join(repo, 'dist-pkg', `kawatch-${version}-1.x86_64.rpm`),
  tarball: join(repo, 'dist-pkg', `kawatch-${version}-linux-x64.tar.gz`),
};
// What a root shell on a fresh Debian has: no node anywhere on it.
export const CHROOT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };

/** `npm run package`'s artifacts, rebuilt when the compiled tree or the packaging is newer than any of them. */
export async function buildPackageIfStale(): Promise<void> {
  const inputs = [
    'dist/src/cli/main.js',
    'bin/kawatch',
    'packaging/package.mjs',
    'packaging/runtime.json',
    'packaging/deb/postinst',
    'packaging/deb/prerm',
    'packaging/deb/postrm',
    'packaging/deb/tmpfiles.conf',
    'packaging/rpm/kawatch.spec',
    'packaging/systemd/kawatch.service',
  ];
  const built = Math.min(...Object.values(artifacts).map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  if (inputs.every((f) => statSync(join(repo, f)).mtimeMs < built)) return;
  await execFileP('node', [join(repo, 'packaging/package.mjs')], { cwd: repo, timeout: 1_500_000, maxBuffer: 16 * 1024 * 1024 });
}

/** The cached tarball of a fresh Debian 12 root (made the first time, which takes minutes). */
export async function debootstrapTarball(): Promise<string> {
  const { stdout } = await execFileP('bash', [join(repo, 'packaging/deb/debootstrap-cache.sh')], { timeout: 1_200_000 });
  return stdout.trim();
}

export interface DebianRoot {
  rootfs: string;
  inRoot(...parts: string[]): string;
  chroot(args: string[], timeout?: number): Promise<{ stdout: string; stderr: string }>;
  /** What the maintainer scripts asked systemd, one call a line. */
  systemctlCalls(): Promise<string[]>;
  clearSystemctlCalls(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * A fresh Debian 12 root in a temporary directory, /proc mounted. systemd cannot run in a chroot: a
 * recording systemctl in /usr/bin (on the PATH dpkg and rpm give their scripts; minbase has no
 * systemd) stands in for it, and /run/systemd/system says systemd is up, so the packages' systemd
 * branches run and what they ask is checked. It answers "inactive" to is-active and is-enabled.
 */
export async function freshDebianRoot(name: string): Promise<DebianRoot> {
  const tarball = await debootstrapTarball();
  const dir = await mkdtemp(join(tmpdir(), `kawatch-${name}-`));
  const rootfs = join(dir, 'root');
  const inRoot = (...parts: string[]) => join(rootfs, ...parts);
  let procMounted = false;
  const dispose = async () => {
    if (procMounted) await execFileP('umount', ['--lazy', inRoot('proc')]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await mkdir(rootfs);
    await execFileP('tar', ['-C', rootfs, '--numeric-owner', '-xf', tarball], { timeout: 300_000 });
    if (existsSync(inRoot('usr/bin/systemctl'))) throw new Error(`${tarball} has a systemctl: the stand-in would replace it`);
    await mkdir(inRoot('run/systemd/system'), { recursive: true });
    await writeFile(inRoot('usr/bin/systemctl'), '#!/bin/sh\necho "$*" >> /var/log/systemctl-calls\ncase " $* " in *" is-active "*|*" is-enabled "*) exit 3;; esac\nexit 0\n');
    await chmod(inRoot('usr/bin/systemctl'), 0o755);
    await execFileP('mount', ['-t', 'proc', 'proc', inRoot('proc')]);
    procMounted = true;
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    rootfs,
    inRoot,
    chroot: (args, timeout = 60_000) => execFileP('chroot', [rootfs, ...args], { env: CHROOT_ENV, timeout }),
    systemctlCalls: async () => (await readFile(inRoot('var/log/systemctl-calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    clearSystemctlCalls: () => writeFile(inRoot('var/log/systemctl-calls'), ''),
    dispose,
  };
}
