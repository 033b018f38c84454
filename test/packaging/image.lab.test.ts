import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPrereqs } from '../support/prereq.js';

const execFileP = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const BASE = 'localhost/kawatch-base-node:20';
const IMAGE = 'localhost/kawatch:test';

/**
 * Builds the Dockerfile with podman as a user would, except for the base image: no image registry is
 * reachable here, so a base with node:20-bookworm-slim's layout is assembled from this machine's Node.js
 * (packaging/container/local-base-rootfs.sh). podman keeps everything in a temporary store (vfs), so
 * nothing of the machine's own containers is touched. No OCI runtime can start containers here, so
 * the built image is checked from its mounted root filesystem.
 */
describeWithPrereqs('container image', { root: true, commands: ['podman', 'busybox'] }, () => {
  let store: string;
  const podman = (args: string[], timeout = 600_000) =>
    execFileP('podman', ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs', ...args], {
      cwd: repo,
      timeout,
      maxBuffer: 64 * 1024 * 1024,
    });

  beforeAll(async () => {
    store = await mkdtemp(join(tmpdir(), 'kawatch-image-'));
    const rootfs = join(store, 'base');
    await execFileP('bash', [join(repo, 'packaging/container/local-base-rootfs.sh'), rootfs]);
    const tar = join(store, 'base.tar');
    await execFileP('tar', ['-C', rootfs, '-cf', tar, '.']);
    await podman(['import', '--change', 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', tar, BASE]);
    // docker format: an OCI image config has no place for the HEALTHCHECK.
    await podman(['build', '--isolation=chroot', '--format', 'docker', '--build-arg', `BASE=${BASE}`, '-t', IMAGE, '.'], 900_000);
  }, 1_200_000);

  afterAll(async () => {
    if (!store) return;
    await podman(['image', 'unmount', '--all']).catch(() => {});
    await podman(['rmi', '--all', '--force']).catch(() => {});
    // vfs layers are plain directories; the store goes with the temporary directory.
    await rm(store, { recursive: true, force: true });
  }, 300_000);

  it('runs kawatch --version from the image root filesystem', async () => {
    const { version } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
    const mount = (await podman(['image', 'mount', IMAGE])).stdout.trim();
    try {
      const { stdout } = await execFileP('chroot', [mount, '/usr/local/bin/kawatch', '--version']);
      expect(stdout.trim()).toBe(version);
      // Only production dependencies made it into the runtime stage.
      await expect(execFileP('chroot', [mount, '/bin/sh', '-c', 'test -d /opt/kawatch/node_modules/prom-client'])).resolves.toBeDefined();
      await expect(execFileP('chroot', [mount, '/bin/sh', '-c', 'test -e /opt/kawatch/node_modules/typescript'])).rejects.toThrow();
    } finally {
      await podman(['image', 'unmount', IMAGE]);
    }
  });

  it('runs as a non-root user, with a health check and kawatch as its entry point', async () => {
    const [image] = JSON.parse((await podman(['image', 'inspect', IMAGE])).stdout) as Array<{
      Config: { User?: string; Entrypoint?: string[]; Cmd?: string[] };
      Healthcheck?: { Test?: string[] };
    }>;
    const user = image!.Config.User ?? '';
    expect(user).not.toBe('');
    expect(user.split(':')[0]).not.toMatch(/^(0|root)$/);
    expect(image!.Config.Entrypoint).toEqual(['/usr/local/bin/kawatch']);
    expect(image!.Config.Cmd?.[0]).toBe('run');
    expect(image!.Healthcheck?.Test?.join(' ')).toContain('/healthz');
  });
});
