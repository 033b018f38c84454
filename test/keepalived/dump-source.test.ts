import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { appendFileSync, chmodSync, chownSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/log.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CapabilitiesProbe, detectCapabilities } from '../../src/keepalived/capabilities.js';
import { createApp, HttpServer } from '../../src/http/server.js';
import { buildView } from '../../src/peer/view.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { DumpSource, dumpDirectoryOf, planDump, type DumpPlan, type DumpSourceOptions } from '../../src/keepalived/dump-source.js';
import { capturedFlavours, replay } from '../support/keepalived-versions.js';
import { StateStore } from '../../src/state/store.js';
import { silentLog } from '../support/log.js';

let dir: string;
let store: StateStore;
let options: DumpSourceOptions;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-dump-'));
  store = new StateStore('lb1', silentLog);
  options = {
    trigger: 'none',
    path: join(dir, 'keepalived.json'),
    signal: 'auto',
    intervalMs: 3_600_000,
    timeoutMs: 500,
    onTransition: false,
    pidFile: join(dir, 'keepalived.pid'),
    procfs: join(dir, 'proc'),
    binary: 'keepalived',
  };
});
afterEach(() => {
  // Releases a reader stuck on a planted FIFO, the flaw the tests below guard against.
  try {
    if (existsSync(options.path!)) closeSync(openSync(options.path!, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // not a FIFO, or nobody reading it
  }
  rmSync(dir, { recursive: true, force: true });
});

const fixture = new URL('../fixtures/keepalived/dump-lb1.json', import.meta.url);

describe('DumpSource', () => {
  it('keeps the last good snapshot when a dump is malformed, and says what is wrong', async () => {
    copyFileSync(new URL('../fixtures/keepalived/dump-lb1.json', import.meta.url), options.path!);
    const source = new DumpSource(options, store, silentLog);
    await source.start();
    expect(Object.keys(store.snapshot.instances)).toEqual(['VI_1', 'VI_2']);

    writeFileSync(options.path!, '[{"data":{"iname":"VI_1","vrid":51,"state":2}},{"data":{"iname":"VI_2","vrid":"55"');
    await source.request();
    expect(Object.keys(store.snapshot.instances)).toEqual(['VI_1', 'VI_2']);
    expect(store.snapshot.instances.VI_1!.stats?.advert_sent).toBeGreaterThan(0);
    expect(store.snapshot.sources.dump).toMatchObject({ up: false, errors: 1 });
    expect(store.snapshot.sources.dump.lastError).toMatch(/keepalived\.json: not valid JSON/);

    copyFileSync(new URL('../fixtures/keepalived/dump-lb2.json', import.meta.url), options.path!);
    await source.request();
    expect(store.snapshot.sources.dump.up).toBe(true);
    expect(store.snapshot.instances.VI_2!.basePriority).toBe(100);
    await source.stop();
  });

  it('treats a stopped keepalived as no data, not as a failed source', async () => {
    const source = new DumpSource({ ...options, trigger: 'signal', signal: 36 }, store, silentLog);
    await source.start();
    expect(store.snapshot.sources.dump).toMatchObject({ enabled: true, errors: 0 });
    await source.stop();
  });

  describe('against a dump planted in a shared directory', () => {
    async function refused(expected: string): Promise<void> {
      const source = new DumpSource(options, store, silentLog);
      await source.start();
      await source.stop();
      expect(store.snapshot.instances).toEqual({});
      expect(store.snapshot.sources.dump).toMatchObject({ up: false, errors: 1 });
      expect(store.snapshot.sources.dump.lastError).toContain(expected);
    }

    it('refuses a link, even to a good dump', async () => {
      copyFileSync(fixture, join(dir, 'elsewhere.json'));
      symlinkSync(join(dir, 'elsewhere.json'), options.path!);
      await refused(`${options.path}: is a symbolic link`);
    });

    it('refuses a FIFO without waiting for a writer', async () => {
      execFileSync('mkfifo', [options.path!]);
      await refused('is a FIFO, expected a regular file');
    });

    it('refuses a dump someone else owns (put in /tmp before keepalived wrote its own)', async () => {
      copyFileSync(fixture, options.path!);
      chownSync(options.path!, 65534, 65534);
      await refused('is owned by uid 65534');
    });

    it('refuses a dump larger than any keepalived writes, unread', async () => {
      copyFileSync(fixture, options.path!);
      appendFileSync(options.path!, Buffer.alloc(17 * 1024 * 1024, ' '));
      await refused('larger than the 16777216 allowed');
    });

    it('says once in the log what keeps failing, and counts every failure', async () => {
      symlinkSync('/dev/zero', options.path!);
      const lines: string[] = [];
      const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
      const source = new DumpSource(options, store, log);
      await source.start();
      await source.request();
      await source.request();
      await source.stop();
      expect(store.snapshot.sources.dump.errors).toBe(3);
      expect(lines.filter((l) => l.includes('keepalived dump failed'))).toHaveLength(1);
    });
  });
});


describe('planDump: the dump each keepalived of the field can give (captured -v and --signum answers)', () => {
  // Built with JSON: the JSON dump on --signum=JSON; without (1.3.5, RHEL 8's 2.1.5): the text dumps.
  const plans: Record<string, DumpPlan> = {
    '1.3.5-nojson': { kind: 'text', dataSignal: 'SIGUSR1', statsSignal: 'SIGUSR2' },
    '2.0.19-json': { kind: 'json', signal: 36, dataSignal: 10 },
    '2.1.5-json': { kind: 'json', signal: 36, dataSignal: 10 },
    '2.1.5-nojson': { kind: 'text', dataSignal: 10, statsSignal: 12 },
    '2.2.8-json': { kind: 'json', signal: 36, dataSignal: 10 },
    '2.3.4-json': { kind: 'json', signal: 36, dataSignal: 10 },
    '2.4.3-json': { kind: 'json', signal: 36, dataSignal: 10 },
  };

  it('covers every captured flavour', () => {
    expect(Object.keys(plans).sort()).toEqual(capturedFlavours);
  });

  it.each(capturedFlavours)('%s', async (flavour) => {
    const caps = await detectCapabilities(`/matrix/${flavour}/sbin/keepalived`, { run: replay(flavour) });
    expect(planDump(caps, 'auto')).toEqual(plans[flavour]);
    // A configured signal is the operator's word: JSON on it, whatever the build says.
    expect(planDump(caps, 40)).toEqual({ kind: 'json', signal: 40, dataSignal: caps.signals.data });
  });

  it('cannot choose without capabilities unless a signal is configured', () => {
    expect(() => planDump(undefined, 'auto')).toThrow(/capabilities are unknown and sources.dump.signal is auto/);
    expect(planDump(undefined, 36)).toEqual({ kind: 'json', signal: 36 });
  });
});

describe('dumpDirectoryOf', () => {
  it('is /tmp before 2.2.5 whatever TMPDIR says, TMPDIR from 2.2.5', async () => {
    const old = await detectCapabilities('/matrix/2.1.5/sbin/keepalived', { run: replay('2.1.5-nojson') });
    const current = await detectCapabilities('/matrix/2.2.8/sbin/keepalived', { run: replay('2.2.8-json') });
    expect(dumpDirectoryOf(old.dumpDirectory, '/run/ka')).toBe('/tmp');
    expect(dumpDirectoryOf(current.dumpDirectory, '/run/ka')).toBe('/run/ka');
    // keepalived's set_tmp_dir(): a relative TMPDIR is ignored.
    expect(dumpDirectoryOf(current.dumpDirectory, 'ka')).toBe('/tmp');
    expect(dumpDirectoryOf(current.dumpDirectory, undefined)).toBe('/tmp');
    expect(dumpDirectoryOf(undefined, '/run/ka')).toBe('/run/ka');
  });
});

describe('authentication where keepalived masks its passwords (2.4+): from keepalived.conf, and nowhere beyond the digest', () => {
  const dumps = new URL('../fixtures/keepalived/dumps/', import.meta.url);
  const PASSWORDS = ['FAKEpw1', 'FAKEpw2'];
  let secretFile: string;
  let confFile: string;
  const probeOf = async (flavour: string) => {
    const probe = new CapabilitiesProbe(`/matrix/${flavour}/sbin/keepalived`, (binary) => detectCapabilities(binary, { run: replay(flavour) }));
    await probe.get();
    return probe;
  };
  /** The digests a source gives for the dump (and keepalived.conf) of one flavour. */
  async function digests(flavour: string, extra: Partial<DumpSourceOptions> = {}, log = silentLog): Promise<{ store: StateStore; source: DumpSource; digests: () => Record<string, string | undefined> }> {
    copyFileSync(new URL(`${flavour}/keepalived.json`, dumps), options.path!);
    const own = new StateStore('lb1', silentLog);
    const source = new DumpSource({ ...options, authKeyFile: secretFile, configFile: confFile, capabilities: await probeOf(flavour), ...extra }, own, log);
    await source.start();
    const read = () => Object.fromEntries(Object.values(own.snapshot.instances).map((i) => [i.name, i.authDigest]));
    return { store: own, source, digests: read };
  }

  beforeEach(() => {
    secretFile = join(dir, 'peer.secret');
    writeFileSync(secretFile, 'a-peer-secret-of-more-than-32-bytes-0123456789\n', { mode: 0o600 });
    confFile = join(dir, 'keepalived.conf');
    copyFileSync(new URL('2.4.3-json/keepalived.conf', dumps), confFile);
  });

  it('gives 2.4.3 the digest 2.2.8 gives from its dump for the same passwords', async () => {
    const masked = await digests('2.4.3-json');
    const clear = await digests('2.2.8-json');
    expect(readFileSync(options.path!, 'utf8')).toContain('"auth_data":"FAKEpw1"');
    expect(masked.digests()).toEqual(clear.digests());
    expect(new Set(Object.values(masked.digests())).size).toBe(2);
    await Promise.all([masked.source.stop(), clear.source.stop()]);
  });

  it('gives no digest rather than the digest of the mask when keepalived.conf is not configured or cannot be read', async () => {
    const unconfigured = await digests('2.4.3-json', { configFile: undefined });
    expect(unconfigured.digests()).toEqual({ VI_1: undefined, VI_2: undefined });
    const lines: string[] = [];
    const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    const unreadable = await digests('2.4.3-json', { configFile: join(dir, 'absent.conf') }, log);
    await unreadable.source.request();
    expect(unreadable.digests()).toEqual({ VI_1: undefined, VI_2: undefined });
    expect(lines.filter((l) => l.includes('its configuration cannot be read'))).toHaveLength(1);
    // A keepalived that prints its passwords never needs keepalived.conf: nothing to warn about.
    const clear = await digests('2.2.8-json', { configFile: join(dir, 'absent.conf') }, log);
    expect(Object.values(clear.digests()).every((d) => d !== undefined)).toBe(true);
    expect(lines.filter((l) => l.includes('its configuration cannot be read'))).toHaveLength(1);
    await Promise.all([unconfigured.source.stop(), unreadable.source.stop(), clear.source.stop()]);
  });

  it('follows a password changed in keepalived.conf (a keepalived reload) at the next dump', async () => {
    const masked = await digests('2.4.3-json');
    const before = masked.digests();
    writeFileSync(confFile, readFileSync(confFile, 'utf8').replace('auth_pass FAKEpw1', 'auth_pass FAKEpw9'));
    await masked.source.request();
    expect(masked.digests().VI_1).not.toBe(before.VI_1);
    expect(masked.digests().VI_2).toBe(before.VI_2);
    await masked.source.stop();
  });

  it.each(['2.2.8-json', '2.4.3-json'])('%s: no password in the state, the peer payload, /api/v1/state, the status page or /metrics', async (flavour) => {
    const { store: own, source } = await digests(flavour);
    const server = new HttpServer('127.0.0.1:0', createApp({ store: own, registry: createMetrics(own, { version: '0', processMetrics: false, verdicts: () => [], actions: () => [] }).registry, version: '0', verdicts: () => [], actions: () => [], recent: () => [] }), silentLog);
    await server.start();
    try {
      const outputs = [JSON.stringify(own.snapshot), JSON.stringify(buildView(own.snapshot))];
      for (const path of ['/api/v1/state', '/', '/metrics', '/healthz']) outputs.push(await (await fetch(`http://${server.address}${path}`)).text());
      // Each output holds the instances, so a password would have had its chance to show.
      for (const out of outputs.slice(0, 5)) expect(out).toContain('VI_1');
      for (const out of outputs) for (const password of PASSWORDS) expect(out).not.toContain(password);
    } finally {
      await server.stop();
      await source.stop();
    }
  });
});

describe('vrrp_script verdicts beside a JSON dump', () => {
  const dumps = new URL('../fixtures/keepalived/dumps/2.2.8-json/', import.meta.url);
  let child: ReturnType<typeof spawn> | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  /**
   * A stand-in for keepalived's signal handling (the unit tests run without root and namespaces; the
   * version lab test runs every real build): a shell named keepalived that writes the captured 2.2.8
   * dumps into its TMPDIR on JSON's signal and, when `writesData`, on DATA's.
   */
  async function standIn(writesData: boolean, { flavour = '2.2.8-json', dataDir }: { flavour?: string; dataDir?: string } = {}): Promise<DumpSourceOptions> {
    const bin = join(dir, 'keepalived');
    copyFileSync('/bin/sh', bin);
    chmodSync(bin, 0o755);
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const copy = (file: string, to = tmp) => `cp ${fileURLToPath(new URL(file, dumps))} ${to}/${file}.new && mv ${to}/${file}.new ${to}/${file}`;
    const script = `trap '${copy('keepalived.json')}' 36; ${writesData ? `trap '${copy('keepalived.data', dataDir)}' USR1;` : "trap '' USR1;"} echo ready; while :; do sleep 0.02; done`;
    const proc = spawn(bin, ['-c', script], { env: { PATH: process.env.PATH, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
    child = proc;
    await new Promise((resolve) => proc.stdout!.once('data', resolve));
    writeFileSync(join(dir, 'keepalived.pid'), `${proc.pid}\n`);
    const probe = new CapabilitiesProbe(`/matrix/${flavour}/sbin/keepalived`, (binary) => detectCapabilities(binary, { run: replay(flavour) }));
    return { ...options, path: undefined, trigger: 'signal', procfs: '/proc', timeoutMs: 1500, capabilities: probe };
  }

  it('takes keepalived.data for the scripts the JSON dump lists', async () => {
    const source = new DumpSource(await standIn(true), store, silentLog);
    await source.start();
    expect(store.snapshot.sources.dump).toMatchObject({ up: true, errors: 0 });
    await source.stop();
    expect(store.snapshot.instances.VI_1!.scripts).toBeUndefined();
    expect(store.snapshot.instances.VI_2!.scripts).toEqual([{ name: 'check_service', good: true, state: 'idle' }]);
  });

  it("takes keepalived.data where keepalived.conf's state_dump_file puts it (2.3.3+), the JSON dump from TMPDIR still", async () => {
    const moved = join(dir, 'dump-files');
    mkdirSync(moved);
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, `global_defs {\n  state_dump_file ${moved}/\n  stats_dump_file ${moved}/\n  json_dump_file ${moved}/\n}\n`);
    const source = new DumpSource({ ...(await standIn(true, { flavour: '2.4.3-json', dataDir: moved })), configFile: conf }, store, silentLog);
    await source.start();
    expect(store.snapshot.sources.dump).toMatchObject({ up: true, errors: 0 });
    await source.stop();
    expect(store.snapshot.instances.VI_2!.scripts).toEqual([{ name: 'check_service', good: true, state: 'idle' }]);
    expect(existsSync(join(dir, 'tmp', 'keepalived.data'))).toBe(false);
  });

  it('looks in the dump directory where the keepalived (before 2.3.3) has no state_dump_file, whatever keepalived.conf says', async () => {
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, `global_defs {\n  state_dump_file ${dir}/elsewhere/\n}\n`);
    const source = new DumpSource({ ...(await standIn(true)), configFile: conf }, store, silentLog);
    await source.start();
    await source.stop();
    expect(store.snapshot.instances.VI_2!.scripts).toEqual([{ name: 'check_service', good: true, state: 'idle' }]);
  });

  it('stamps a dump it asked keepalived for with when it asked, one it only read with nothing', async () => {
    const applied = vi.spyOn(store, 'apply');
    const dumps = () => applied.mock.calls.flatMap(([u]) => (u.type === 'dump' ? [u] : []));
    const before = Date.now();
    const asked = new DumpSource(await standIn(true), store, silentLog);
    await asked.start();
    await asked.stop();
    const [dump] = dumps();
    expect(dump!.takenAfter).toBeGreaterThanOrEqual(before);
    expect(dump!.takenAfter).toBeLessThanOrEqual(dump!.at);
    copyFileSync(fixture, options.path!);
    const read = new DumpSource(options, store, silentLog);
    await read.start();
    await read.stop();
    expect(dumps()).toHaveLength(2);
    expect(dumps()[1]!.takenAfter).toBeUndefined();
  });

  it('keeps the JSON dump when keepalived.data does not come (state_dump_file moved it): verdicts unknown, said once', async () => {
    const lines: string[] = [];
    const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    const source = new DumpSource({ ...(await standIn(false)), timeoutMs: 500 }, store, log);
    await source.start();
    await source.request();
    expect(store.snapshot.sources.dump).toMatchObject({ up: true, errors: 0 });
    await source.stop();
    expect(store.snapshot.instances.VI_2!.state).toBe('BACKUP');
    expect(store.snapshot.instances.VI_2!.scripts).toEqual([]);
    expect(lines.filter((l) => l.includes('vrrp_script verdicts unknown'))).toHaveLength(1);
  });
});

describe('DumpSource.onStateChange: which changes a fresh dump follows', () => {
  it("an instance's transition, not a sync group's (keepalived tells a group before its members)", async () => {
    vi.useFakeTimers();
    try {
      const source = new DumpSource({ ...options, onTransition: true }, store, silentLog);
      const request = vi.spyOn(source, 'request').mockResolvedValue();
      const transition = { type: 'transition', from: 'BACKUP', to: 'MASTER', at: 1, source: 'hook' } as const;
      source.onStateChange({ ...transition, scope: 'group', name: 'G_WEB' });
      await vi.advanceTimersByTimeAsync(100);
      expect(request).not.toHaveBeenCalled();
      source.onStateChange({ ...transition, scope: 'instance', name: 'VI_1', vrid: 51 });
      await vi.advanceTimersByTimeAsync(100);
      expect(request).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
