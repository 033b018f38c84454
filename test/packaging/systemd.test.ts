import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, valueOf } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { ENFORCED, NOT_ENFORCED, sandboxOf, serviceSettings } from './sandbox.js';

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

  it('is rated better than UNSAFE by systemd-analyze security', async () => {
    const result = await execFileP('systemd-analyze', ['security', '--offline=true', verifiable]).catch((err: { stdout?: string; stderr?: string }) => err);
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    const level = /Overall exposure level for kawatch\.service: ([\d.]+) (\w+)/.exec(output);
    expect(level, output).not.toBeNull();
    console.log(`systemd-analyze security: exposure ${level![1]} ${level![2]}`);
    expect(['OK', 'MEDIUM']).toContain(level![2]);
  });
});

/** The capability numbers of include/uapi/linux/capability.h that the unit may name. */
const CAPABILITY_BITS: Readonly<Record<string, number>> = { CAP_KILL: 5, CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_DAC_READ_SEARCH: 2, CAP_SYS_PTRACE: 19 };

describe('the unit file, read for the sandbox', () => {
  it('classifies every setting of the unit as rebuilt below or needing systemd', () => {
    const settings = serviceSettings(readFileSync(UNIT, 'utf8'));
    expect([...settings.keys()].filter((k) => !(ENFORCED as readonly string[]).includes(k) && !(NOT_ENFORCED as readonly string[]).includes(k))).toEqual([]);
    expect(() => sandboxOf(new Map([...settings, ['MountAPIVFS', ['yes']]]))).toThrow(/sets MountAPIVFS: enforce it here or list it in NOT_ENFORCED/);
  });
});

/**
 * `kawatch run` as the unit starts it, in the unit's sandbox rebuilt by ./sandbox.ts: the capability
 * bounding set, no_new_privs, a read-only file system but for ReadWritePaths, StateDirectory and
 * RuntimeDirectory (ProtectSystem=strict), read-only /proc/sys and /sys (ProtectKernelTunables),
 * empty homes (ProtectHome), the UMask and the privileged ExecStartPre. Not rebuilt (they need
 * systemd): the seccomp filters (SystemCallFilter, RestrictAddressFamilies, RestrictNamespaces,
 * RestrictRealtime, RestrictSUIDSGID, LockPersonality), PrivateDevices, ProtectKernelModules/Logs,
 * ProtectControlGroups, ProtectClock, ProtectHostname, RemoveIPC; see NOT_ENFORCED.
 */
describeWithPrereqs('kawatch run under the unit\'s sandbox', { root: true, commands: ['unshare', 'setpriv', 'mount', 'awk'], files: [join(repo, 'dist/src/cli/main.js')] }, () => {
  const settings = serviceSettings(readFileSync(UNIT, 'utf8'));
  const sandbox = sandboxOf(settings);
  const binds = new Map<string, string>();
  const createdOnHost: string[] = [];
  let dir: string;
  let daemon: ChildProcess | undefined;
  let output = '';
  let api: string;

  const inSandbox = (command: string[]) => execFileP('unshare', sandbox.argv(command, binds), { timeout: 20_000 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kawatch-sandbox-'));
    sandbox.writable.forEach((path, i) => {
      const target = join(dir, `rw${i}`);
      mkdirSync(target);
      binds.set(path, target);
      // The mount point of the bind; the test's directory is what gets written.
      if (!existsSync(path)) {
        mkdirSync(path, { recursive: true });
        createdOnHost.push(path);
      }
    });
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const config = join(dir, 'kawatch.yml');
    // Every path left at its default: the defaults must fit the unit.
    await writeFile(config, ['node_name: lb1', `listen: 127.0.0.1:${port}`, 'sources: { fifo: { enabled: true, paths: [/run/kawatch/notify.fifo] } }', ''].join('\n'));
    const [binary, ...args] = single(settings, 'ExecStart').split(/\s+/);
    expect(binary).toBe('/usr/bin/kawatch');
    const command = [join(repo, 'bin/kawatch'), ...args.map((a, i) => (args[i - 1] === '--config' ? config : a))];
    daemon = spawn('unshare', sandbox.argv(command, binds), { stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    daemon.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor(async () => (daemon!.exitCode === null ? (await fetch(`${api}/healthz`)).ok : Promise.reject(new Error(`kawatch exited: ${output}`))), 'kawatch answering /healthz in the sandbox', 15_000);
  });

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((resolve) => daemon!.once('exit', resolve));
      daemon.kill('SIGTERM');
      await exited;
    }
    for (const path of createdOnHost.reverse()) rmdirSync(path);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is the process the sandbox made: only the unit\'s capabilities, no new privileges', () => {
    const status = readFileSync(`/proc/${daemon!.pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)$`, 'm').exec(status)?.[1];
    // The runtime itself, not a shell left in between (by its executable: Node 24 names its main thread MainThread).
    expect(basename(readlinkSync(`/proc/${daemon!.pid}/exe`))).toBe('node');
    const wanted = single(settings, 'CapabilityBoundingSet').split(/\s+/).reduce((mask, cap) => {
      if (CAPABILITY_BITS[cap] === undefined) throw new Error(`capability ${cap} has no number here`);
      return mask | (1n << BigInt(CAPABILITY_BITS[cap]));
    }, 0n);
    expect({ bounding: BigInt(`0x${field('CapBnd')}`), effective: BigInt(`0x${field('CapEff')}`), noNewPrivs: field('NoNewPrivs') }).toEqual({ bounding: wanted, effective: wanted, noNewPrivs: '1' });
  });

  it("runs with the unit's open-files limit, above the listeners' connection caps", () => {
    const limits = readFileSync(`/proc/${daemon!.pid}/limits`, 'utf8');
    const [, soft, hard] = /^Max open files\s+(\d+)\s+(\d+)/m.exec(limits) ?? [];
    expect({ soft, hard }).toEqual({ soft: single(settings, 'LimitNOFILE'), hard: single(settings, 'LimitNOFILE') });
  });

  it('answers /healthz, and /metrics has data', async () => {
    expect(await (await fetch(`${api}/healthz`)).json()).toMatchObject({ status: 'ok', sources: { hook: 'up', fifo: 'up' } });
    const samples = parseExposition(await (await fetch(`${api}/metrics`)).text());
    expect(valueOf(samples, 'kawatch_source_up', { source: 'hook' })).toBe(1);
    expect(samples.filter((s) => s.name === 'kawatch_build_info')).toHaveLength(1);
  });

  it('writes where the unit lets it: consumes spooled hook events, makes its FIFO in the runtime directory', async () => {
    const spool = binds.get(single(settings, 'ReadWritePaths'))!;
    // keepalived's hook runs outside the unit, as keepalived's script_user.
    await execFileP(join(repo, 'bin/kawatch'), ['notify', 'INSTANCE', 'VI_1', 'MASTER', '100'], { env: { ...process.env, KAWATCH_SPOOL_DIR: spool } });
    await waitFor(async () => valueOf(parseExposition(await (await fetch(`${api}/metrics`)).text()), 'kawatch_source_events_total', { source: 'hook' }) === 1, 'the hook event counted');
    // Consumed means removed: the daemon could write to the spool directory.
    await waitFor(() => readdirSync(spool).filter((f) => f.endsWith('.event')).length === 0, 'the spool file removed');
    expect(lstatSync(join(binds.get('/run/kawatch')!, 'notify.fifo')).isFIFO()).toBe(true);
  });

  it('keeps the rest of the file system read-only (the sandbox can refuse)', async () => {
    const refused = await inSandbox(['touch', '/etc/kawatch-sandbox-probe']).then(
      () => 'written',
      (err: { stderr: string }) => err.stderr,
    );
    expect(refused).toMatch(/Read-only file system/);
    await inSandbox(['touch', '/var/lib/kawatch/probe']);
    expect(existsSync(join(binds.get('/var/lib/kawatch')!, 'probe'))).toBe(true);
  });
});

function single(settings: Map<string, string[]>, key: string): string {
  const values = settings.get(key) ?? [];
  if (values.length !== 1) throw new Error(`expected one ${key}= in the unit, found ${values.length}`);
  return values[0]!;
}
