import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { Daemon, FIXED_AT_START } from '../../src/daemon/daemon.js';
import { parseExposition } from '../support/metrics.js';
import { silentLog } from '../support/log.js';

/**
 * A reload must leave the daemon as a start with the new configuration would: the registry, the
 * HTTP listener and the state store outlive reloads, so whatever is made from the configuration
 * once, at start, goes stale on the first reload that changes it (the prevent families once were
 * registered only when the daemon started under policy prevent). Every reloadable setting is
 * switched both ways here, each setting of the schema is listed, and a new one fails this test
 * until it is added. Real daemons on loopback, every peer and server they talk to unreachable.
 */

let dir: string;

function base(): ConfigInput {
  return {
    node_name: 'lb1',
    listen: '127.0.0.1:0',
    procfs: join(dir, 'proc'),
    log_level: 'info',
    state_dir: join(dir, 'state'),
    keepalived: { pid_file: join(dir, 'keepalived.pid'), config_file: join(dir, 'keepalived.conf') },
    sources: { hook: { spool_dir: join(dir, 'spool') }, fifo: { enabled: false }, netlink: { enabled: false }, dump: { enabled: false } },
    watchdog: { track_dir: join(dir, 'track') },
    jobs: { digest: false, audit: false },
    ipvs: { enabled: false },
    vrrp_wire: { enabled: false },
  };
}

const peers = (): ConfigInput['peers'] => ({ listen: '127.0.0.1:0', secret_file: join(dir, 'peer.secret'), members: [{ name: 'lb2', address: '127.0.0.1:9' }] });
const witness = { tcp: '127.0.0.1:9' };

/** Per top-level setting, configurations that change what it governs from the base's. */
const VARIANTS: Record<string, Record<string, () => ConfigInput>> = {
  // The base's pid file names no process of its procfs; each variant makes it name a running keepalived.
  procfs: { 'a procfs where the pid is keepalived': () => ({ ...base(), procfs: join(dir, 'proc-up') }) },
  keepalived: { "keepalived's pid file": () => ({ ...base(), keepalived: { ...base().keepalived, pid_file: join(dir, 'up.pid') } }) },
  sources: {
    'FIFO and dump on, hook off': () => ({ ...base(), sources: { hook: { enabled: false }, fifo: { enabled: true, paths: [join(dir, 'notify.fifo')] }, netlink: { enabled: false }, dump: { trigger: 'none', path: join(dir, 'keepalived.json') } } }),
  },
  peers: { peers: () => ({ ...base(), peers: peers() }) },
  watchdog: {
    'policy demote with a witness': () => ({ ...base(), peers: peers(), watchdog: { ...base().watchdog, policy: 'demote', witness } }),
    'policy prevent': () => ({ ...base(), peers: peers(), vrrp_wire: { enabled: true, interfaces: ['lo'] }, watchdog: { ...base().watchdog, policy: 'prevent', witness } }),
  },
  jobs: { 'every job scheduled': () => ({ ...base(), jobs: { digest: '0 8 * * *', audit: '*/30 * * * *', drill: '0 3 * * 1' } }) },
  ipvs: { 'IPVS on': () => ({ ...base(), ipvs: { enabled: true, path: 'procfs' } }) },
  vrrp_wire: { 'VRRP observer on': () => ({ ...base(), vrrp_wire: { enabled: true, interfaces: ['lo'] } }) },
  mail: { mail: () => ({ ...base(), mail: { smtp: { host: '127.0.0.1', port: 9 }, from: 'kawatch@lb1.test', to: ['ops@lb1.test'] } }) },
};

/** Settings not switched by VARIANTS, and why. */
const NOT_VARIED: Record<string, string> = {
  ...Object.fromEntries(FIXED_AT_START.map((key) => [key, 'refused on a reload (below)'])),
  listen: 'moves the listener before anything else: test/cli/run.test.ts',
  log_level: 'followed by the logger (below)',
  drill: 'read only while a drill runs, by the drills part each start of the parts builds afresh: nothing to see between drills',
};

const config = (input: ConfigInput) => parseConfig(stringify(input), 'reload.yml');

/**
 * What the configuration decides of a daemon: the families it shows and the series of its gauges
 * with their values (what is now; a time or an age by its series alone, its value is the clock's).
 * Counters and timestamps keep their series across a reload (what happened before stays told), so
 * of those only the series a fresh start shows must be there.
 */
interface Shape {
  families: string[];
  gauges: string[];
  history: string[];
  /** What the store keeps of configured parts that no metric shows: the witness (the fencer reads it). */
  witness: string | null;
}

async function shape(daemon: Daemon): Promise<Shape> {
  const text = await (await fetch(`http://${daemon.listenAddress}/metrics`)).text();
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const gauges: string[] = [];
  const history: string[] = [];
  for (const s of parseExposition(text)) {
    const series = `${s.name}${JSON.stringify(s.labels)}`;
    if (types.get(s.name) !== 'gauge' || s.name.endsWith('_timestamp_seconds')) history.push(series);
    else gauges.push(s.name.endsWith('_seconds') ? series : `${series} ${s.value}`);
  }
  return { families: [...types.keys()].sort(), gauges: gauges.sort(), history: history.sort(), witness: daemon.store.snapshot.witness?.target ?? null };
}

function expectReloadedLike(reloaded: Shape, fresh: Shape): void {
  expect(reloaded.families).toEqual(fresh.families);
  expect(reloaded.gauges).toEqual(fresh.gauges);
  expect(reloaded.history).toEqual(expect.arrayContaining(fresh.history));
  expect(reloaded.witness).toEqual(fresh.witness);
}

async function started(input: ConfigInput, log = silentLog): Promise<Daemon> {
  const daemon = new Daemon(config(input), { log, processMetrics: false });
  await daemon.start();
  return daemon;
}

async function shapeOf(input: ConfigInput, reloadedFrom?: ConfigInput): Promise<Shape> {
  const daemon = await started(reloadedFrom ?? input);
  try {
    if (reloadedFrom) await daemon.reload(config(input));
    return await shape(daemon);
  } finally {
    await daemon.stop();
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-reload-'));
  const keepalived = (procfs: string, pid: number) => {
    mkdirSync(join(dir, procfs, String(pid)), { recursive: true });
    writeFileSync(join(dir, procfs, String(pid), 'stat'), `${pid} (keepalived) S 1 ${pid} ${pid} 0 -1 4194560 164 0 0 0 0 0 0 0 20 0 1 0 1234 12345678 1234 18446744073709551615\n`);
  };
  keepalived('proc', 4242);
  keepalived('proc-up', 4343);
  writeFileSync(join(dir, 'keepalived.pid'), '4343\n');
  writeFileSync(join(dir, 'up.pid'), '4242\n');
  writeFileSync(join(dir, 'peer.secret'), 'a shared secret that is long enough\n', { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a reload leaves the daemon as a start with the new configuration', () => {
  it('names every setting of the schema: varied below, or why not', () => {
    const listed = [...Object.keys(VARIANTS), ...Object.keys(NOT_VARIED)].sort();
    expect(listed).toEqual(Object.keys(configSchema().shape).sort());
  });

  for (const [setting, variants] of Object.entries(VARIANTS)) {
    for (const [name, variant] of Object.entries(variants)) {
      it(`${setting}: ${name}, reloaded to and back`, async () => {
        const [fresh, onto, baseFresh, back] = [await shapeOf(variant()), await shapeOf(variant(), base()), await shapeOf(base()), await shapeOf(base(), variant())];
        // The variant must change something, or it tests nothing.
        expect(fresh).not.toEqual(baseFresh);
        expectReloadedLike(onto, fresh);
        expectReloadedLike(back, baseFresh);
      });
    }
  }

  it('shows the prevent families once a reload switches the policy to prevent, and hides them when it switches back', async () => {
    const prevent = VARIANTS.watchdog!['policy prevent']!;
    const families = (s: Shape) => s.families.filter((f) => f.startsWith('kawatch_prevent_'));
    expect(families(await shapeOf(prevent(), base()))).toEqual(['kawatch_prevent_active', 'kawatch_prevent_holds_total', 'kawatch_prevent_statement_age_seconds']);
    expect(families(await shapeOf(base(), prevent()))).toEqual([]);
  });

  it.each(FIXED_AT_START)('refuses to change %s, and keeps running as it was', async (key) => {
    const daemon = await started(base());
    try {
      const before = await shape(daemon);
      const changed = { ...base(), [key]: key === 'state_dir' ? join(dir, 'state2') : 'lb9' };
      await expect(daemon.reload(config(changed))).rejects.toThrow(`${key} cannot change on a reload`);
      expect(daemon.store.snapshot.node).toBe('lb1');
      expect(await shape(daemon)).toEqual(before);
    } finally {
      await daemon.stop();
    }
  });

  it('applies log_level', async () => {
    const log = pino({ level: 'info' }, { write: () => {} });
    const daemon = await started(base(), log);
    try {
      await daemon.reload(config({ ...base(), log_level: 'debug' }));
      expect(log.isLevelEnabled('debug')).toBe(true);
      await daemon.reload(config({ ...base(), log_level: 'warn' }));
      expect(log.isLevelEnabled('info')).toBe(false);
    } finally {
      await daemon.stop();
    }
  });
});
