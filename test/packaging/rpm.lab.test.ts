import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SPOOL_SUFFIX } from '../../src/keepalived/spool.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { artifacts, buildPackageIfStale, execFileP, freshDebianRoot, version, type DebianRoot } from './package-root.js';

/** One packaged path as both package managers list it. */
interface Entry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  owner: string;
  size: number;
}

const TYPE_BY_LETTER = { '-': 'file', d: 'dir', l: 'symlink' } as const;
const TYPE_BY_BITS = { 0o100000: 'file', 0o040000: 'dir', 0o120000: 'symlink' } as const;

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** `tar -tv --numeric-owner` of the .deb's data: `drwx------ 0/0 0 2026-12-02 01:35 ./var/lib/kawatch/`. */
function debEntries(listing: string): Entry[] {
  return listing
    .trim()
    .split('\n')
    .map((line) => {
      const [perms, owner, size, , , ...name] = line.split(/\s+/);
      const rwx = perms!.slice(1).replace(/[^-]/g, '1').replace(/-/g, '0');
      return {
        path: name.join(' ').replace(/^\./, '').replace(/\/$/, '') || '/',
        type: TYPE_BY_LETTER[perms![0] as keyof typeof TYPE_BY_LETTER],
        mode: parseInt(rwx, 2),
        owner: owner!.replace('/', ':'),
        size: perms![0] === 'd' ? 0 : Number(size),
      };
    });
}

/** `rpm -qp --dump`: path size mtime digest mode owner group isconfig isdoc rdev symlink. */
function rpmEntries(dump: string): Array<Entry & { digest: string }> {
  return dump
    .trim()
    .split('\n')
    .map((line) => {
      const [path, size, , digest, mode, owner, group] = line.split(' ');
      const bits = parseInt(mode!, 8);
      return {
        path: path!,
        type: TYPE_BY_BITS[(bits & 0o170000) as keyof typeof TYPE_BY_BITS],
        mode: bits & 0o7777,
        owner: `${owner === 'root' ? 0 : owner}:${group === 'root' ? 0 : group}`,
        size: bits & 0o040000 ? 0 : Number(size),
        digest: digest!,
      };
    });
}

/**
 * The .rpm from `npm run package`: its metadata and file list read with rpm -qip/-qlp and held
 * against the .deb's, then installed with `rpm --root` into a fresh Debian 12 root (its glibc and
 * libstdc++ are what the runtime needs; --nodeps because that root's libraries are dpkg's, not in
 * rpm's database: the test checks instead that they provide each ELF requirement), run from there
 * with no Node.js on the system, and erased.
 */
describeWithPrereqs('the .rpm', { root: true, commands: ['debootstrap', 'dpkg-deb', 'rpmbuild', 'rpm', 'chroot', 'mount', 'objdump'] }, () => {
  let debian: DebianRoot;
  let debTree: string;
  const rpmQuery = async (...args: string[]) => (await execFileP('rpm', ['-qp', ...args, artifacts.rpm], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  const inRpmRoot = (...args: string[]) => execFileP('rpm', ['--root', debian.rootfs, ...args], { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });

  beforeAll(async () => {
    await buildPackageIfStale();
    debian = await freshDebianRoot('rpm');
    debTree = await mkdtemp(join(tmpdir(), 'kawatch-rpm-deb-'));
    await execFileP('dpkg-deb', ['-x', artifacts.deb, debTree], { timeout: 300_000 });
  }, 2_400_000);

  afterAll(async () => {
    await debian?.dispose();
    if (debTree) await rm(debTree, { recursive: true, force: true });
  }, 120_000);

  it('says what it is: name, version, x86_64, licence, the configuration as %config(noreplace)', async () => {
    const info = await rpmQuery('-i');
    expect(info).toMatch(/^Name\s+: kawatch$/m);
    expect(info).toMatch(new RegExp(`^Version\\s+: ${version.replaceAll('.', '\\.')}$`, 'm'));
    expect(info).toMatch(/^Architecture: x86_64$/m);
    expect(info).toMatch(/^License\s+: Apache-2\.0$/m);
    const flags = await rpmQuery('--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]');
    expect(flags.split('\n').filter((l) => l.startsWith('c'))).toEqual(['cn /etc/kawatch/kawatch.yml']);
    // Nothing provided but the package itself and its configuration (which it requires: rpm adds
    // both): the runtime is no library for other packages.
    expect((await rpmQuery('--provides')).trim().split('\n').sort()).toEqual([`config(kawatch) = ${version}-1`, `kawatch = ${version}-1`, `kawatch(x86-64) = ${version}-1`]);
    expect((await rpmQuery('--requires')).split('\n')).toContain(`config(kawatch) = ${version}-1`);
  });

  it('requires only the shell and the symbol-versioned libraries the runtime links, within RHEL 8', async () => {
    const requires = (await rpmQuery('--requires')).trim().split('\n');
    const elf = requires.filter((r) => !r.startsWith('rpmlib(') && r !== '/bin/sh' && r !== `config(kawatch) = ${version}-1`);
    expect(elf.length).toBeGreaterThan(0);
    for (const r of elf) expect(r).toMatch(/^(lib[\w+.-]+\.so\.\d+|ld-linux-x86-64\.so\.2)\([\w.]*\)\(64bit\)$|^rtld\(GNU_HASH\)$/);
    const highest = (prefix: string) =>
      requires
        .flatMap((r) => [...r.matchAll(new RegExp(`\\(${prefix}_([\\d.]+)\\)`, 'g'))].map((m) => m[1]!.split('.').map(Number)))
        .reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
    // RHEL 8: glibc 2.28, libstdc++ of GCC 8 (GLIBCXX_3.4.25).
    expect(compareVersions(highest('GLIBC'), [2, 28])).toBeLessThanOrEqual(0);
    expect(compareVersions(highest('GLIBCXX'), [3, 4, 25])).toBeLessThanOrEqual(0);
  });

  it('holds the same files as the .deb, with the same modes, owners and contents (the runtime not stripped)', async () => {
    const rpm = rpmEntries(await rpmQuery('--dump'));
    const deb = debEntries((await execFileP('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -tv --numeric-owner', 'sh', artifacts.deb], { maxBuffer: 16 * 1024 * 1024 })).stdout);
    // The .deb also lists the directories it shares with the system (/usr, /usr/share/doc, ...); the
    // .rpm owns only its own. The unit is under /usr/lib on the distributions rpm is for.
    const own = (e: Entry) => e.type !== 'dir' || e.path.includes('kawatch');
    const onRpm = (path: string) => path.replace(/^\/lib\/systemd\//, '/usr/lib/systemd/');
    const byPath = (a: Entry, b: Entry) => a.path.localeCompare(b.path);
    const strip = ({ path, type, mode, owner, size }: Entry): Entry => ({ path, type, mode, owner, size });
    expect(rpm.map(strip).sort(byPath)).toEqual(deb.filter(own).map((e) => ({ ...e, path: onRpm(e.path) })).sort(byPath));
    for (const entry of rpm.filter((e) => e.type === 'file')) {
      const debPath = join(debTree, entry.path.replace(/^\/usr\/lib\/systemd\//, '/lib/systemd/'));
      expect(createHash('sha256').update(await readFile(debPath)).digest('hex'), entry.path).toBe(entry.digest);
    }
  });

  it('installs with rpm --root, and the root it lands in provides every library it requires', async () => {
    await expect(debian.chroot(['sh', '-c', 'command -v node'])).rejects.toThrow();
    await inRpmRoot('--nodeps', '-i', artifacts.rpm);
    expect((await inRpmRoot('-q', 'kawatch')).stdout.trim()).toBe(`kawatch-${version}-1.x86_64`);
    // rpm -V: every file as packaged (size, digest, mode, owner); no output is no difference.
    expect((await inRpmRoot('-V', '--nodeps', 'kawatch')).stdout).toBe('');
    // What rpm would read from the libraries' ELF headers on RHEL, read from this root's libraries.
    const { stdout: provided } = await execFileP('sh', ['-c', 'find "$1/usr/lib/x86_64-linux-gnu" "$1/usr/lib64" -name "l*.so*" | /usr/lib/rpm/elfdeps -P', 'sh', debian.rootfs], { maxBuffer: 16 * 1024 * 1024 });
    const provides = new Set(provided.trim().split('\n'));
    // rtld(GNU_HASH) is glibc's own provide, /bin/sh bash's; config(kawatch) the package's.
    const ownProvides = (await rpmQuery('--provides')).trim().split('\n');
    const unmet = [...new Set((await rpmQuery('--requires')).trim().split('\n').filter((r) => !r.startsWith('rpmlib(') && r !== 'rtld(GNU_HASH)' && !provides.has(r) && !ownProvides.includes(r)))];
    expect(unmet).toEqual(['/bin/sh']);
    expect(existsSync(debian.inRoot('bin/sh'))).toBe(true);
  });

  it('neither enables nor starts anything on install, never touches keepalived, and lays out the directories', async () => {
    const calls = await debian.systemctlCalls();
    expect(calls).toContain('--system daemon-reload');
    expect(calls.filter((c) => /\b(start|restart|try-restart|enable|preset)\b/.test(c))).toEqual([]);
    expect(calls.filter((c) => c.includes('keepalived'))).toEqual([]);
    const modes = await debian.chroot(['stat', '-c', '%n %a %U:%G', '/var/lib/kawatch', '/var/spool/kawatch', '/run/kawatch', '/usr/bin/kawatch', '/usr/lib/kawatch/node']);
    expect(modes.stdout.trim().split('\n')).toEqual([
      '/var/lib/kawatch 700 root:root',
      '/var/spool/kawatch 700 root:root',
      '/run/kawatch 755 root:root',
      '/usr/bin/kawatch 755 root:root',
      '/usr/lib/kawatch/node 755 root:root',
    ]);
  });

  it('runs kawatch version, kawatch run --check and the hook from the installed root, with no node on it', async () => {
    expect((await debian.chroot(['kawatch', 'version'])).stdout.trim()).toBe(`kawatch ${version}`);
    expect((await debian.chroot(['kawatch', 'run', '--check', '--config', '/etc/kawatch/kawatch.yml'])).stdout).toContain('/etc/kawatch/kawatch.yml: ok');
    await debian.chroot(['kawatch', 'notify', 'master', 'VI_1']);
    expect((await readdir(debian.inRoot('var/spool/kawatch'))).filter((f) => f.endsWith(SPOOL_SUFFIX))).toHaveLength(1);
  });

  it('erases the program with rpm -e, stopping and disabling only kawatch, keeping an edited configuration and unread hook events', async () => {
    await writeFile(debian.inRoot('etc/kawatch/kawatch.yml'), `${await readFile(debian.inRoot('etc/kawatch/kawatch.yml'), 'utf8')}# edited on this director\n`);
    await debian.clearSystemctlCalls();
    await inRpmRoot('-e', 'kawatch');
    await expect(inRpmRoot('-q', 'kawatch')).rejects.toThrow();
    const calls = await debian.systemctlCalls();
    expect(calls).toContain('--no-reload disable --now kawatch.service');
    expect(calls.filter((c) => c.includes('keepalived'))).toEqual([]);
    for (const path of ['usr/bin/kawatch', 'usr/lib/kawatch', 'usr/lib/systemd/system/kawatch.service', 'usr/lib/tmpfiles.d/kawatch.conf', 'usr/share/man/man1/kawatch.1.gz', 'usr/share/doc/kawatch', 'etc/kawatch/kawatch.yml', 'var/lib/kawatch']) {
      expect(existsSync(debian.inRoot(path)), path).toBe(false);
    }
    const { stdout } = await debian.chroot(['sh', '-c', 'find /etc /usr /var /run -path "*kawatch*" | sort']);
    const left = stdout.trim().split('\n');
    expect(left.filter((p) => !p.startsWith('/var/spool/kawatch/'))).toEqual(['/etc/kawatch', '/etc/kawatch/kawatch.yml.rpmsave', '/run/kawatch', '/var/spool/kawatch']);
    expect(left.filter((p) => p.startsWith('/var/spool/kawatch/') && p.endsWith(SPOOL_SUFFIX))).toHaveLength(1);
  });
});
