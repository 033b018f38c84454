import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPrereqs } from '../support/prereq.js';
import { buildPackageIfStale, debootstrapTarball, execFileP, repo, version } from './package-root.js';

const BASE = 'localhost/kawatch-base-debian:bookworm';
const IMAGE = 'localhost/kawatch:test';

interface ImageInspect {
  Size: number;
  Config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; ExposedPorts?: Record<string, object> };
  Healthcheck?: { Test?: string[] };
}

/**
 * Builds the Dockerfile with podman as a user would, from `npm run package`'s tarball, except for the
 * base image: no image registry is reachable here, so the fresh Debian 12 root the package tests
 * install into (debootstrap --variant=minbase, what debian:bookworm-slim is made from) is imported as
 * the base. podman keeps everything in a temporary store (vfs), so nothing of the machine's own
 * containers is touched. No OCI runtime can start containers here, so the built image is checked
 * from its mounted root filesystem.
 */
describeWithPrereqs('container image', { root: true, commands: ['podman', 'debootstrap', 'rpmbuild', 'dpkg-deb', 'objdump'] }, () => {
  let store: string;
  let image: ImageInspect;
  let base: ImageInspect;
  const podman = (args: string[], timeout = 600_000) =>
    execFileP('podman', ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs', ...args], {
      cwd: repo,
      timeout,
      maxBuffer: 64 * 1024 * 1024,
    });
  const inspect = async (name: string) => (JSON.parse((await podman(['image', 'inspect', name])).stdout) as ImageInspect[])[0]!;
  /** A command in the image's root filesystem, with the image's own environment. */
  const inImage = async (args: string[]) => {
    const mount = (await podman(['image', 'mount', IMAGE])).stdout.trim();
    const env = Object.fromEntries((image.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    return execFileP('chroot', ['--userspec', image.Config.User!, mount, ...args], { env, timeout: 60_000 });
  };

  beforeAll(async () => {
    await buildPackageIfStale();
    store = await mkdtemp(join(tmpdir(), 'kawatch-image-'));
    await podman(['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--change', 'CMD ["bash"]', await debootstrapTarball(), BASE]);
    // docker format: an OCI image config has no place for the HEALTHCHECK.
    await podman(['build', '--isolation=chroot', '--format', 'docker', '--build-arg', `BASE=${BASE}`, '-t', IMAGE, '.'], 900_000);
    [image, base] = [await inspect(IMAGE), await inspect(BASE)];
  }, 2_400_000);

  afterAll(async () => {
    if (!store) return;
    await podman(['image', 'unmount', '--all']).catch(() => {});
    await podman(['rmi', '--all', '--force']).catch(() => {});
    // vfs layers are plain directories; the store goes with the temporary directory.
    await rm(store, { recursive: true, force: true });
  }, 300_000);

  it('runs kawatch version from the image root filesystem, as its user, with no node on its PATH', async () => {
    try {
      expect((await inImage(['kawatch', 'version'])).stdout.trim()).toBe(`kawatch ${version}`);
      expect((await inImage(['kawatch', 'run', '--check', '--config', '/etc/kawatch/kawatch.yml'])).stdout).toContain('/etc/kawatch/kawatch.yml: ok');
      await expect(inImage(['sh', '-c', 'command -v node || command -v npm'])).rejects.toThrow();
      // The bundle and its runtime only: no checkout, no node_modules.
      await expect(inImage(['sh', '-c', 'test -e /opt/kawatch || test -e /usr/lib/kawatch/node_modules'])).rejects.toThrow();
      // The directories it writes are its user's.
      const { stdout } = await inImage(['stat', '-c', '%n %u', '/var/lib/kawatch', '/var/spool/kawatch', '/run/kawatch/track']);
      expect(stdout.trim().split('\n')).toEqual(['/var/lib/kawatch 10001', '/var/spool/kawatch 10001', '/run/kawatch/track 10001']);
    } finally {
      await podman(['image', 'unmount', IMAGE]);
    }
  });

  it('runs as a non-root user, exposes the API and peer ports, checks /healthz with the bundled runtime, enters at kawatch', () => {
    expect(image.Config.User).toBe('10001:10001');
    expect(image.Config.Entrypoint).toEqual(['/usr/bin/kawatch']);
    expect(image.Config.Cmd).toEqual(['run', '--config', '/etc/kawatch/kawatch.yml']);
    expect(Object.keys(image.Config.ExposedPorts ?? {}).sort()).toEqual(['9650/tcp', '9651/tcp']);
    const check = image.Healthcheck?.Test ?? [];
    expect(check.slice(0, 2)).toEqual(['CMD', '/usr/lib/kawatch/node']);
    expect(check.join(' ')).toContain('/healthz');
  });

  it('adds no more than the installed package to its base', async () => {
    const { stdout } = await execFileP('sh', ['-c', 'tar -tzvf "$1" | awk "{ s += \\$3 } END { print s }"', 'sh', join(repo, 'dist-pkg', `kawatch-${version}-linux-x64.tar.gz`)]);
    const installed = Number(stdout.trim());
    const added = image.Size - base.Size;
    console.log(`image ${IMAGE}: ${(image.Size / 1048576).toFixed(1)} MiB (base ${(base.Size / 1048576).toFixed(1)} MiB, kawatch ${(added / 1048576).toFixed(1)} MiB; installed tree ${(installed / 1048576).toFixed(1)} MiB)`);
    expect(added).toBeGreaterThan(installed * 0.95);
    expect(added).toBeLessThan(installed * 1.02 + 1048576);
  });
});
