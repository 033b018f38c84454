import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { detectCapabilities, formatVersion, type KeepalivedCapabilities } from '../../src/keepalived/capabilities.js';
import { parseExposition, valueOf, type Sample } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { countedTransitions, enteredStates, transitionCounts } from './transitions.js';

/**
 * The version matrix: each keepalived the field runs (scripts/keepalived-matrix.sh build), alone
 * in a network namespace with a private /tmp, and a kawatch daemon (the built CLI) beside it in
 * that namespace, configured as a director of that version would be. One node is enough: VRRP
 * without a peer becomes MASTER once its master-down timer runs out. What each version cannot do is
 * asserted as the degradation kawatch documents, never skipped.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const matrixScript = join(root, 'scripts/keepalived-matrix.sh');
const cli = join(root, 'dist/src/cli/main.js');
const launcher = join(root, 'bin/kawatch');
const PORT = 9650;
const VRID = 61;
const FLAVOURS = ['1.3.5-nojson', '2.0.19-json', '2.1.5-json', '2.1.5-nojson', '2.2.8-json', '2.3.4-json', '2.4.3-json'];

function matrixBinary(flavour: string): string {
  try {
    return execFileSync('bash', [matrixScript, 'path', flavour], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return `<keepalived ${flavour}: run scripts/keepalived-matrix.sh build>`;
  }
}

const binaries = FLAVOURS.map(matrixBinary);

interface Director {
  flavour: string;
  netns: string;
  dir: string;
  vip: string;
  caps: KeepalivedCapabilities;
  pids: number[];
}

const directors: Director[] = [];

function spawnLogged(argv: string[], log: string, env: NodeJS.ProcessEnv = {}): number {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH, ...env } });
    child.unref();
    return child.pid!;
  } finally {
    closeSync(fd);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exposition(d: Director): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', d.netns, 'curl', '-sf', '--max-time', '2', `http://127.0.0.1:${PORT}/metrics`]);
  return stdout;
}

async function scrape(d: Director): Promise<Sample[]> {
  return parseExposition(await exposition(d));
}

/**
 * Each series as `name{label="value",...}`, with what differs between directors by design made
 * alike: the director's own addresses, keepalived's version, and kawatch's.
 */
function seriesOf(d: Director, samples: Sample[]): Set<string> {
  const net = d.vip.slice(0, d.vip.lastIndexOf('.') + 1);
  return new Set(
    samples
      .filter((s) => s.name.startsWith('keepalived_') || s.name.startsWith('kawatch_source') || s.name === 'kawatch_keepalived_capability')
      .map((s) => {
        const labels = Object.entries(s.labels)
          .filter(([k]) => !(s.name === 'keepalived_version_info' && k === 'version'))
          .map(([k, v]) => `${k}="${v.replaceAll(net, 'NET.')}"`)
          .sort();
        return `${s.name}{${labels.join(',')}}`;
      }),
  );
}

/** The series of each flavour once it runs as MASTER with a complete dump, for the comparison at the end. */
const seriesByFlavour = new Map<string, Set<string>>();

async function untilMetric(d: Director, name: string, labels: Record<string, string>, want: number, timeoutMs = 15_000): Promise<Sample[]> {
  return waitFor(
    async () => {
      const samples = await scrape(d).catch(() => undefined);
      return samples && valueOf(samples, name, labels) === want ? samples : undefined;
    },
    `${d.flavour}: ${name}${JSON.stringify(labels)} = ${want}`,
    timeoutMs,
  );
}

/** The namespace's truth: is the VIP on the interface? */
async function vipInKernel(d: Director): Promise<boolean> {
  const { stdout } = await run('ip', ['netns', 'exec', d.netns, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'ver0']);
  return stdout.includes(` ${d.vip}/`);
}

const excludedOf = (d: Director) => d.vip.replace(/\.50$/, '.52');

function keepalivedConf(d: Director): string {
  const { caps, dir } = d;
  // The block's keyword changed in 2.1; inside the instance it has always been track_file.
  const trackKeyword = caps.trackFile === 'track_file' ? 'track_file' : 'vrrp_track_file';
  const tracks = caps.trackFile === 'none'
    ? ''
    : [
        // weight 0: any non-zero value puts the instance in FAULT; -20: the value lowers the priority.
        `${trackKeyword} ver_fault {\n  file ${dir}/track/VI_1\n  weight 0\n}`,
        `${trackKeyword} ver_prio {\n  file ${dir}/track/prio\n  weight -20\n}`,
      ].join('\n');
  // 1.3.5 opens the notify string as one file name: a wrapper script without arguments.
  const notify = caps.notifyTakesArguments ? `"${launcher} notify --spool ${dir}/spool"` : `${dir}/notify.sh`;
  return `global_defs {
  router_id ver-${d.flavour}
  script_user root
  enable_script_security
${caps.notifyFifo ? `  vrrp_notify_fifo ${dir}/notify.fifo\n` : ''}${caps.fifoPriorityChanges ? '  vrrp_notify_priority_changes\n' : ''}}
${tracks}
vrrp_script ver_chk {
  script "/usr/bin/true"
  interval 1
}
vrrp_instance VI_1 {
  state BACKUP
  interface ver0
  virtual_router_id ${VRID}
  priority 100
  advert_int 1
  virtual_ipaddress {
    ${d.vip}/24
  }
  virtual_ipaddress_excluded {
    ${excludedOf(d)}/24
  }
  track_script {
    ver_chk
  }
${caps.trackFile === 'none' ? '' : '  track_file {\n    ver_fault\n    ver_prio\n  }\n'}  notify ${notify}
}
`;
}

function kawatchConf(d: Director, binary: string): string {
  const { dir } = d;
  return [
    `node_name: ver-${d.flavour}`,
    `state_dir: ${dir}/state`,
    `listen: 127.0.0.1:${PORT}`,
    `keepalived: { pid_file: ${dir}/keepalived.pid, binary: ${binary}, config_file: ${dir}/keepalived.conf }`,
    'sources:',
    `  hook: { spool_dir: ${dir}/spool }`,
    `  fifo: { enabled: true, paths: [${dir}/notify.fifo], check_interval: 200ms }`,
    // Dumps only after a transition: a priority seen between them came from the FIFO.
    '  dump: { interval: 1h, timeout: 3s }',
    'ipvs: { enabled: false }',
    'jobs: { digest: false, audit: false }',
    // The default policy, alert: the track directory must be made all the same.
    `watchdog: { track_dir: ${dir}/track }`,
    '',
  ].join('\n');
}

async function startDirector(flavour: string, binary: string, index: number): Promise<Director> {
  const netns = `ver-${flavour}`;
  // Not under /tmp: keepalived gets a /tmp of its own.
  const dir = mkdtempSync(`/run/ver-${flavour}-`);
  const caps = await detectCapabilities(binary);
  const d: Director = { flavour, netns, dir, vip: `198.18.${90 + index}.50`, caps, pids: [] };
  directors.push(d);
  await run('ip', ['netns', 'del', netns]).catch(() => undefined);
  await run('ip', ['netns', 'add', netns]);
  const inNs = (...args: string[]) => run('ip', ['netns', 'exec', netns, ...args]);
  await inNs('ip', 'link', 'set', 'lo', 'up');
  await inNs('ip', 'link', 'add', 'ver0', 'type', 'veth', 'peer', 'name', 'ver1');
  await inNs('ip', 'addr', 'add', `198.18.${90 + index}.1/24`, 'dev', 'ver0');
  await inNs('ip', 'link', 'set', 'ver0', 'up');
  await inNs('ip', 'link', 'set', 'ver1', 'up');
  for (const sub of ['state', 'spool', 'tmp']) mkdirSync(join(dir, sub), { mode: 0o700 });
  writeFileSync(join(dir, 'notify.sh'), `#!/bin/sh\nexec ${launcher} notify --spool ${dir}/spool "$@"\n`, { mode: 0o755 });
  writeFileSync(join(dir, 'keepalived.conf'), keepalivedConf(d));
  writeFileSync(join(dir, 'kawatch.yml'), kawatchConf(d, binary));

  // kawatch first: it makes the FIFO and the track directory before keepalived reads its configuration.
  d.pids.push(spawnLogged(['ip', 'netns', 'exec', netns, process.execPath, cli, 'run', '--config', join(dir, 'kawatch.yml')], join(dir, 'kawatch.log')));
  await waitFor(() => scrape(d).then(() => true, () => false), `${flavour}: the kawatch API`, 20_000);
  await waitFor(() => existsSync(join(dir, 'track')), `${flavour}: the track directory kawatch makes`);
  if (caps.trackFile !== 'none') for (const file of ['VI_1', 'prio']) writeFileSync(join(dir, 'track', file), '0\n');

  // A private /tmp: before 2.2.5 keepalived writes its dumps there whatever TMPDIR says.
  const start = `mount -t tmpfs -o size=16m ver-tmp /tmp && exec env TMPDIR="$1" "$2" -P -n -l -D -f "$3" -p "$4" -r "$5"`;
  d.pids.push(
    spawnLogged(
      ['ip', 'netns', 'exec', netns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', start, 'sh', join(dir, 'tmp'), binary, join(dir, 'keepalived.conf'), join(dir, 'keepalived.pid'), join(dir, 'vrrp.pid')],
      join(dir, 'keepalived.log'),
    ),
  );
  return d;
}

async function stopDirector(d: Director): Promise<void> {
  for (const pid of d.pids.reverse()) {
    if (!alive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), `${d.flavour}: pid ${pid} to stop`, 10_000).catch(() => process.kill(pid, 'SIGKILL'));
  }
  d.pids = [];
  await run('ip', ['netns', 'del', d.netns]).catch(() => undefined);
}

const instance = { iname: 'VI_1', intf: 'ver0', vrid: String(VRID) };

describeWithPrereqs('kawatch against every keepalived of the field (lab)', { root: true, commands: ['ip', 'unshare', 'curl', 'promtool'], files: [cli, ...binaries] }, () => {
  afterAll(async () => {
    for (const d of directors) {
      await stopDirector(d).catch(() => undefined);
      if (process.env.KEEP_LAB_LOGS === undefined) rmSync(d.dir, { recursive: true, force: true });
    }
  });

  FLAVOURS.forEach((flavour, index) => {
    it(`${flavour}: start, priority, failover, as this version can`, { timeout: 60_000 }, async () => {
      const d = await startDirector(flavour, binaries[index]!, index);
      const { caps } = d;
      try {
        // Start: no peer, so MASTER after the master-down timer; VIP from the dump, presence from the kernel.
        const started = await untilMetric(d, 'keepalived_vrrp_state', { ...instance, ip_address: d.vip }, 2);
        expect(valueOf(started, 'keepalived_vrrp_instance_state', instance)).toBe(2);
        await untilMetric(d, 'keepalived_vip_present', { ...instance, ip_address: d.vip }, 1);
        expect(await vipInKernel(d)).toBe(true);
        const m = await untilMetric(d, 'kawatch_source_up', { source: 'dump' }, 1);
        expect(valueOf(m, 'keepalived_vrrp_base_priority', instance)).toBe(100);
        expect(valueOf(m, 'keepalived_version_info', { version: formatVersion(caps.version) })).toBe(1);
        expect(valueOf(m, 'kawatch_keepalived_capability', { capability: 'json_dump' })).toBe(flavour.endsWith('-json') ? 1 : 0);
        expect(valueOf(m, 'kawatch_keepalived_capability', { capability: 'notify_fifo' })).toBe(caps.notifyFifo ? 1 : 0);
        // The dump's counters, whichever dump this version gives (JSON, or keepalived.data + .stats).
        expect(valueOf(m, 'keepalived_become_master_total', instance)).toBe(1);
        expect(valueOf(m, 'kawatch_source_errors_total', { source: 'dump' })).toBe(0);
        // mehdy/keepalived-exporter's script and excluded-VIP series: the script's verdict is in
        // keepalived.data only, which kawatch reads where there is no JSON.
        await untilMetric(d, 'keepalived_vrrp_excluded_state', { ...instance, ip_address: excludedOf(d) }, 2);
        const text = await exposition(d);
        const tracked = parseExposition(text);
        expect(valueOf(tracked, 'keepalived_script_status', { name: 'ver_chk' })).toBe(flavour.endsWith('-json') ? undefined : 1);
        expect(valueOf(tracked, 'keepalived_script_state', { name: 'ver_chk' })).toBe(flavour.endsWith('-nojson') && !flavour.startsWith('1.') ? 0 : undefined);
        expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })).toBe('');
        seriesByFlavour.set(flavour, seriesOf(d, tracked));
        // Without a FIFO (1.3.5) the FIFO source is off, not failing.
        expect(valueOf(m, 'kawatch_source_enabled', { source: 'fifo' })).toBe(caps.notifyFifo ? 1 : 0);
        expect(valueOf(m, 'kawatch_source_errors_total', { source: 'fifo' })).toBe(0);
        // The hook: arguments from 2.0, a wrapper script for 1.3.5; both report the transitions.
        expect(valueOf(m, 'kawatch_source_events_total', { source: 'hook' })).toBeGreaterThan(0);
        expect(valueOf(m, 'kawatch_source_rejected_total', { source: 'hook' })).toBe(0);

        if (caps.trackFile === 'none') {
          // 1.3.5: no track_file to fault an instance by; the failover is keepalived stopping, and
          // without a STOP notification it is the process source that sees it.
          const keepalived = d.pids[1]!;
          process.kill(keepalived, 'SIGTERM');
          await waitFor(() => !alive(keepalived), `${flavour}: keepalived to stop`);
          const stopped = await untilMetric(d, 'keepalived_vrrp_instance_state', instance, 4);
          expect(valueOf(stopped, 'keepalived_up')).toBe(0);
          expect(await vipInKernel(d)).toBe(false);
          await untilMetric(d, 'keepalived_vip_present', { ...instance, ip_address: d.vip }, 0);
          return;
        }

        // Priority: the tracked file's -20, told by the FIFO where the build reports priority changes.
        writeFileSync(join(d.dir, 'track', 'prio'), '1\n');
        if (caps.fifoPriorityChanges) {
          const p = await untilMetric(d, 'keepalived_vrrp_effective_priority', instance, 80);
          expect(valueOf(p, 'kawatch_source_rejected_total', { source: 'fifo' })).toBe(0);
        }

        // Failover: the fault track file puts the instance in FAULT; the VIP leaves the interface.
        writeFileSync(join(d.dir, 'track', 'VI_1'), '1\n');
        const faulted = await untilMetric(d, 'keepalived_vrrp_instance_state', instance, 3);
        expect(valueOf(faulted, 'keepalived_vrrp_state', { ...instance, ip_address: d.vip })).toBe(3);
        await untilMetric(d, 'keepalived_vip_present', { ...instance, ip_address: d.vip }, 0);
        expect(await vipInKernel(d)).toBe(false);
        // And back.
        writeFileSync(join(d.dir, 'track', 'VI_1'), '0\n');
        await untilMetric(d, 'keepalived_vrrp_instance_state', instance, 2);
        await waitFor(() => vipInKernel(d), `${flavour}: the VIP back on ver0`);
        // Each transition counted once, as keepalived's log tells them; its counters agree (release on FAULT, become on return).
        const reconciled = await waitFor(async () => {
          const samples = await scrape(d);
          return (valueOf(samples, 'kawatch_transitions_reconciled_total', { result: 'match' }) ?? 0) >= 2 ? samples : undefined;
        }, `${flavour}: a dump reconciling the failover and the return`);
        expect(valueOf(reconciled, 'kawatch_transitions_reconciled_total', { result: 'missed' })).toBe(0);
        expect(valueOf(reconciled, 'kawatch_transitions_reconciled_total', { result: 'duplicate' })).toBe(0);
        expect(countedTransitions(reconciled, 'VI_1')).toEqual(transitionCounts(enteredStates(readFileSync(join(d.dir, 'keepalived.log'), 'utf8'), 'VI_1'), 'INIT'));
      } catch (err) {
        const tail = (file: string) => (existsSync(join(d.dir, file)) ? readFileSync(join(d.dir, file), 'utf8').split('\n').slice(-25).join('\n') : '');
        throw new Error(`${(err as Error).message}\n--- kawatch.log\n${tail('kawatch.log')}\n--- keepalived.log\n${tail('keepalived.log')}`);
      } finally {
        await stopDirector(d);
      }
    });
  });

  // What a version's dumps cannot give (the README's table says why); everything else is the same series.
  const CANNOT: Record<string, { missing: string[]; extra: string[] }> = {
    // keepalived.data of 1.3.5 prints no effective priority and no script run state; 1.3.5 has no
    // FIFO, so that source, off, has no last success.
    '1.3.5-nojson': { missing: ['kawatch_source_last_success_timestamp_seconds', 'keepalived_vrrp_effective_priority'], extra: ['keepalived_script_status'] },
    // The script verdicts are in keepalived.data only: a JSON build's kawatch does not read it.
    '2.1.5-nojson': { missing: [], extra: ['keepalived_script_state', 'keepalived_script_status'] },
  };
  it.each(Object.keys(CANNOT))('%s: /metrics has the series of 2.2.8 with JSON, but for what its dumps cannot give', (flavour) => {
    const reference = seriesByFlavour.get('2.2.8-json');
    const ours = seriesByFlavour.get(flavour);
    expect({ reference: reference !== undefined, ours: ours !== undefined }).toEqual({ reference: true, ours: true });
    const names = (list: Set<string>) => [...new Set([...list].map((s) => s.slice(0, s.indexOf('{'))))].sort();
    const missing = [...reference!].filter((s) => !ours!.has(s));
    const extra = [...ours!].filter((s) => !reference!.has(s));
    expect({ missing: names(new Set(missing)), extra: names(new Set(extra)) }).toEqual(CANNOT[flavour]);
  });
});
