import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { detectCapabilities, formatVersion, type KeepalivedCapabilities } from '../../src/keepalived/capabilities.js';
import { parseExposition, valueOf, type Sample } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { countedTransitions, enteredStates, transitionCounts } from './transitions.js';
import { renderMatrix, type Measured } from './versions-matrix.js';

/**
 * The version matrix: each keepalived the field runs (scripts/keepalived-matrix.sh build) as a pair
 * of directors, a and b, each in a network namespace of its own with a private /tmp, one veth
 * between them, and a kawatch daemon (the built CLI) beside each, peers of each other over that
 * veth, configured as a director of that version would be. One lab per version runs the whole core
 * scenario: start, failover, failback, stop, kawatch down and its replay, split and heal; after each
 * step the metrics of both daemons are checked against the namespaces' truth (the VIPs on the
 * interfaces) and the per-(from,to) transition counts against keepalived's own log. What a version
 * cannot do is asserted as the degradation kawatch documents, never skipped. The test prints the
 * version × source table it measured (and writes it to bench-results/keepalived-versions.md).
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const matrixScript = join(root, 'scripts/keepalived-matrix.sh');
const cli = join(root, 'dist/src/cli/main.js');
const launcher = join(root, 'bin/kawatch');
const PORT = 9650;
const PEER_PORT = 9651;
const PASSWORD = 'verpw123';
const FLAVOURS = ['1.3.5-nojson', '2.0.19-json', '2.1.5-json', '2.1.5-nojson', '2.2.8-json', '2.3.4-json', '2.4.3-json'];
/** VI_1 alone (tracked: a file where the version has them, a script), VI_2 and VI_3 in the sync group G_VER. */
const INSTANCES = ['VI_1', 'VI_2', 'VI_3'] as const;
type Instance = (typeof INSTANCES)[number];
const VRID: Record<Instance, number> = { VI_1: 61, VI_2: 62, VI_3: 63 };
const GROUP = 'G_VER';
const STATE_VALUE: Record<string, number> = { INIT: 0, BACKUP: 1, MASTER: 2, FAULT: 3, STOP: 4 };

function matrixBinary(flavour: string): string {
  try {
    return execFileSync('bash', [matrixScript, 'path', flavour], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return `<keepalived ${flavour}: run scripts/keepalived-matrix.sh build>`;
  }
}

const binaries = FLAVOURS.map(matrixBinary);

type Side = 'a' | 'b';

interface Director {
  flavour: string;
  side: Side;
  name: string;
  netns: string;
  dir: string;
  /** 198.18.N.: the pair's network. */
  net: string;
  address: string;
  peerAddress: string;
  priority: number;
  caps: KeepalivedCapabilities;
  binary: string;
  kawatch?: number;
  keepalived?: number;
  /** Where the transitions kawatch has counted since its start begin in keepalived's log, and the offsets at which keepalived was stopped. */
  counting: { offset: number; start: string; stops: number[] };
}

const labs: Director[][] = [];

/**
 * Labs of different versions share nothing (namespaces, directories and networks are the version's
 * own), so two run at once: the matrix takes about half as long, and a 2-core host still has a core
 * for each pair of daemons. VERSION_LABS_AT_ONCE=1 runs them one after the other (to compare).
 */
const LABS_AT_ONCE = Math.max(1, Number(process.env.VERSION_LABS_AT_ONCE ?? 2) || 2);
let freeSlots = LABS_AT_ONCE;
const waitingForSlot: (() => void)[] = [];
async function inSlot<T>(body: () => Promise<T>): Promise<T> {
  if (freeSlots > 0) freeSlots--;
  else await new Promise<void>((resolve) => waitingForSlot.push(resolve));
  try {
    return await body();
  } finally {
    const next = waitingForSlot.shift();
    if (next) next();
    else freeSlots++;
  }
}

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

async function fetchIn(d: Director, path: string): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', d.netns, 'curl', '-sf', '--max-time', '2', `http://127.0.0.1:${PORT}${path}`]);
  return stdout;
}

async function scrape(d: Director): Promise<Sample[]> {
  return parseExposition(await fetchIn(d, '/metrics'));
}

interface ApiState {
  instances: Record<string, { authDigest?: string; log?: { from: string; to: string; seenBy: string[] }[] }>;
  groups: Record<string, { state: string; log?: { from: string; to: string; seenBy: string[] }[] }>;
}

async function apiState(d: Director): Promise<{ text: string; state: ApiState }> {
  const text = await fetchIn(d, '/api/v1/state');
  return { text, state: JSON.parse(text) as ApiState };
}

/**
 * Each series as `name{label="value",...}`, with what differs between directors by design made
 * alike: the director's own addresses, keepalived's version, and kawatch's.
 */
function seriesOf(d: Director, samples: Sample[]): Set<string> {
  return new Set(
    samples
      .filter((s) => s.name.startsWith('keepalived_') || s.name.startsWith('kawatch_source') || s.name === 'kawatch_keepalived_capability')
      .map((s) => {
        const labels = Object.entries(s.labels)
          .filter(([k]) => !(s.name === 'keepalived_version_info' && k === 'version'))
          .map(([k, v]) => `${k}="${v.replaceAll(d.net, 'NET.')}"`)
          .sort();
        return `${s.name}{${labels.join(',')}}`;
      }),
  );
}

/** The series of each flavour's director a once it runs as MASTER with a complete dump, for the comparison at the end. */
const seriesByFlavour = new Map<string, Set<string>>();
/** What each flavour was measured to do, for the table. */
const measured = new Map<string, Measured>();

const vipOf = (d: Pick<Director, 'net'>, i: Instance) => `${d.net}${50 + INSTANCES.indexOf(i)}`;
const excludedOf = (d: Pick<Director, 'net'>) => `${d.net}59`;
const labelsOf = (i: Instance) => ({ iname: i, intf: 'ver0', vrid: String(VRID[i]) });

/** The namespace's truth: the VIPs on the interface. */
async function vipsInKernel(d: Director): Promise<Set<string>> {
  const { stdout } = await run('ip', ['netns', 'exec', d.netns, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'ver0']);
  return new Set([...stdout.matchAll(/inet (\S+)\//g)].map((m) => m[1]!));
}

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
  const instance = (i: Instance, extra: string) => `vrrp_instance ${i} {
  state BACKUP
  interface ver0
  virtual_router_id ${VRID[i]}
  priority ${d.priority}
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass ${PASSWORD}
  }
  virtual_ipaddress {
    ${vipOf(d, i)}/24
  }
${extra}  notify ${notify}
}
`;
  // From 2.3.3 keepalived.data goes where state_dump_file says, as a director may set it: kawatch follows keepalived.conf.
  return `global_defs {
  router_id ${d.name}
  script_user root
  enable_script_security
${caps.notifyFifo ? `  vrrp_notify_fifo ${dir}/notify.fifo\n` : ''}${caps.fifoPriorityChanges ? '  vrrp_notify_priority_changes\n' : ''}${caps.dataFileKeyword ? `  ${caps.dataFileKeyword} ${dir}/dump-files/\n` : ''}}
${tracks}
# Tracked without weight, a failing script puts the instance in FAULT: the way to fault one on 1.3.5, which has no track_file.
# From 2.0 keepalived also holds the instance in FAULT until the script first answers, silently (no log
# line, no notification): a dump in that moment shows a FAULT kawatch must not count.
vrrp_script ver_chk {
  script "${dir}/chk.sh"
  interval 1
  timeout 3
}
vrrp_sync_group ${GROUP} {
  group {
    VI_2
    VI_3
  }
  notify ${notify}
}
${instance('VI_1', `  virtual_ipaddress_excluded {\n    ${excludedOf(d)}/24\n  }\n  track_script {\n    ver_chk\n  }\n${caps.trackFile === 'none' ? '' : '  track_file {\n    ver_fault\n    ver_prio\n  }\n'}`)}${instance('VI_2', '')}${instance('VI_3', '')}`;
}

function kawatchConf(d: Director): string {
  const { dir } = d;
  return [
    `node_name: ${d.name}`,
    `state_dir: ${dir}/state`,
    `listen: 127.0.0.1:${PORT}`,
    `keepalived: { pid_file: ${dir}/keepalived.pid, binary: ${d.binary}, config_file: ${dir}/keepalived.conf }`,
    'sources:',
    `  hook: { spool_dir: ${dir}/spool }`,
    `  fifo: { enabled: true, paths: [${dir}/notify.fifo], check_interval: 200ms }`,
    // Dumps only after a transition: a priority seen between them came from the FIFO.
    '  dump: { interval: 1h, timeout: 3s }',
    // Over the pair's one link: the split below drops VRRP only.
    `peers: { listen: '${d.address}:${PEER_PORT}', secret_file: ${dir}/peer.secret, members: [{ name: ${d.name.slice(0, -1)}${d.side === 'a' ? 'b' : 'a'}, address: '${d.peerAddress}:${PEER_PORT}' }] }`,
    'ipvs: { enabled: false }',
    'jobs: { digest: false, audit: false }',
    // The default policy, alert: the track directory must be made all the same.
    `watchdog: { track_dir: ${dir}/track }`,
    '',
  ].join('\n');
}

function logOf(d: Director, file = 'keepalived.log'): string {
  const path = join(d.dir, file);
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

function startKawatch(d: Director): void {
  d.kawatch = spawnLogged(['ip', 'netns', 'exec', d.netns, process.execPath, cli, 'run', '--config', join(d.dir, 'kawatch.yml')], join(d.dir, 'kawatch.log'));
  // What this daemon counts begins here in keepalived's log, from the state keepalived is in now.
  d.counting = { offset: logOf(d).length, start: d.counting.start, stops: [] };
}

function startKeepalived(d: Director): void {
  // A private /tmp: before 2.2.5 keepalived writes its dumps there whatever TMPDIR says.
  const start = `mount -t tmpfs -o size=16m ver-tmp /tmp && exec env TMPDIR="$1" "$2" -P -n -l -D -f "$3" -p "$4" -r "$5"`;
  for (const pid of ['keepalived.pid', 'vrrp.pid']) rmSync(join(d.dir, pid), { force: true });
  d.keepalived = spawnLogged(
    ['ip', 'netns', 'exec', d.netns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', start, 'sh', join(d.dir, 'tmp'), d.binary, join(d.dir, 'keepalived.conf'), join(d.dir, 'keepalived.pid'), join(d.dir, 'vrrp.pid')],
    join(d.dir, 'keepalived.log'),
  );
}

async function stopPid(d: Director, pid: number | undefined, what: string): Promise<void> {
  if (pid === undefined || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await waitFor(() => !alive(pid), `${d.name}: ${what} (pid ${pid}) to stop`, 10_000).catch(() => process.kill(pid, 'SIGKILL'));
}

async function stopKeepalived(d: Director): Promise<void> {
  d.counting.stops.push(logOf(d).length);
  await stopPid(d, d.keepalived, 'keepalived');
  d.keepalived = undefined;
  // Its VRRP child goes with it; the pid file names it until then.
  await waitFor(() => !existsSync(join(d.dir, 'vrrp.pid')) || !alive(Number(readFileSync(join(d.dir, 'vrrp.pid'), 'utf8').trim()) || 0), `${d.name}: the VRRP process to stop`);
}

async function stopKawatch(d: Director): Promise<void> {
  await stopPid(d, d.kawatch, 'kawatch');
  d.kawatch = undefined;
}

async function startLab(flavour: string, binary: string, index: number): Promise<Director[]> {
  const caps = await detectCapabilities(binary);
  const net = `198.18.${90 + index}.`;
  const pair = (['a', 'b'] as const).map((side, i): Director => ({
    flavour,
    side,
    name: `ver-${flavour}-${side}`,
    netns: `ver-${flavour}-${side}`,
    // Not under /tmp: keepalived gets a /tmp of its own.
    dir: mkdtempSync(`/run/ver-${flavour}-${side}-`),
    net,
    address: `${net}${i + 1}`,
    peerAddress: `${net}${2 - i}`,
    priority: side === 'a' ? 150 : 100,
    caps,
    binary,
    counting: { offset: 0, start: 'INIT', stops: [] },
  }));
  labs.push(pair);
  const [a, b] = pair as [Director, Director];
  for (const d of pair) {
    await run('ip', ['netns', 'del', d.netns]).catch(() => undefined);
    await run('ip', ['netns', 'add', d.netns]);
  }
  await run('ip', ['netns', 'exec', a.netns, 'ip', 'link', 'add', 'ver0', 'type', 'veth', 'peer', 'name', 'ver0', 'netns', b.netns]);
  const secret = 'a-shared-secret-of-the-version-lab-0123456789\n';
  for (const d of pair) {
    const inNs = (...args: string[]) => run('ip', ['netns', 'exec', d.netns, ...args]);
    await inNs('ip', 'link', 'set', 'lo', 'up');
    await inNs('ip', 'addr', 'add', `${d.address}/24`, 'dev', 'ver0');
    await inNs('ip', 'link', 'set', 'ver0', 'up');
    for (const sub of ['state', 'spool', 'tmp', 'dump-files']) mkdirSync(join(d.dir, sub), { mode: 0o700 });
    writeFileSync(join(d.dir, 'peer.secret'), secret, { mode: 0o600 });
    writeFileSync(join(d.dir, 'notify.sh'), `#!/bin/sh\nexec ${launcher} notify --spool ${d.dir}/spool "$@"\n`, { mode: 0o755 });
    // The first run answers a second late: from 2.0 keepalived holds VI_1 in FAULT, silently, for that
    // second, when the dump kawatch asks for at keepalived's start comes (within the script's timeout of 3 s).
    writeFileSync(join(d.dir, 'chk.sh'), `#!/bin/sh\n[ -e ${d.dir}/chk-ran ] || { sleep 1; touch ${d.dir}/chk-ran; }\n[ ! -e ${d.dir}/chk-down ]\n`, { mode: 0o755 });
    writeFileSync(join(d.dir, 'keepalived.conf'), keepalivedConf(d));
    writeFileSync(join(d.dir, 'kawatch.yml'), kawatchConf(d));
    // kawatch first: it makes the FIFO and the track directory before keepalived reads its configuration.
    startKawatch(d);
  }
  for (const d of pair) {
    await waitFor(() => scrape(d).then(() => true, () => false), `${d.name}: the kawatch API`, 20_000);
    await waitFor(() => existsSync(join(d.dir, 'track')), `${d.name}: the track directory kawatch makes`);
    if (caps.trackFile !== 'none') for (const file of ['VI_1', 'prio']) writeFileSync(join(d.dir, 'track', file), '0\n');
  }
  // keepalived starting on an interface without carrier yet puts its instances in FAULT first.
  for (const d of pair) {
    await waitFor(async () => {
      const { stdout } = await run('ip', ['netns', 'exec', d.netns, 'ip', '-o', 'link', 'show', 'dev', 'ver0']);
      return stdout.includes('LOWER_UP') && !stdout.includes('NO-CARRIER');
    }, `${d.name}: carrier on ver0`);
  }
  for (const d of pair) startKeepalived(d);
  return pair;
}

async function stopLab(pair: Director[]): Promise<void> {
  for (const d of pair) {
    await stopKawatch(d).catch(() => undefined);
    await stopKeepalived(d).catch(() => undefined);
    await run('ip', ['netns', 'del', d.netns]).catch(() => undefined);
  }
}

type Want = Record<Instance, 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP'>;
const ALL = (state: Want[Instance]): Want => ({ VI_1: state, VI_2: state, VI_3: state });

/**
 * Waits until the namespace holds the VIPs of exactly the instances wanted MASTER, and the daemon's
 * metrics say the wanted states; then checks what the metrics say of each VIP against the kernel.
 */
async function converge(d: Director, step: string, want: Want, timeoutMs = 20_000): Promise<Sample[]> {
  const masters = INSTANCES.filter((i) => want[i] === 'MASTER').map((i) => vipOf(d, i));
  const kernel = await waitFor(async () => {
    const vips = await vipsInKernel(d);
    return INSTANCES.every((i) => vips.has(vipOf(d, i)) === masters.includes(vipOf(d, i))) ? vips : undefined;
  }, `${d.name} ${step}: the VIPs of ${masters.join(', ') || 'no instance'} and no other on ver0`, timeoutMs);
  const running = INSTANCES.every((i) => want[i] !== 'STOP');
  const samples = await waitFor(async () => {
    const s = await scrape(d).catch(() => undefined);
    return s && valueOf(s, 'keepalived_up') === (running ? 1 : 0) && INSTANCES.every((i) => valueOf(s, 'keepalived_vrrp_instance_state', labelsOf(i)) === STATE_VALUE[want[i]] && valueOf(s, 'keepalived_vip_present', { ...labelsOf(i), ip_address: vipOf(d, i) }) === (kernel.has(vipOf(d, i)) ? 1 : 0)) ? s : undefined;
  }, `${d.name} ${step}: keepalived_up ${running ? 1 : 0}, keepalived_vrrp_instance_state ${JSON.stringify(want)} and keepalived_vip_present as the kernel says`, timeoutMs);
  for (const i of INSTANCES) {
    // The per-VIP series of mehdy's dashboards, for a keepalived that runs the instance.
    expect([step, i, valueOf(samples, 'keepalived_vrrp_state', { ...labelsOf(i), ip_address: vipOf(d, i) })]).toEqual([step, i, running ? STATE_VALUE[want[i]] : undefined]);
    expect([step, i, valueOf(samples, 'keepalived_vip_mismatch', { ...labelsOf(i), ip_address: vipOf(d, i) })]).toEqual([step, i, 0]);
  }
  if (running) {
    // The sync group's state: both members alike, as keepalived keeps them.
    expect(want.VI_2).toBe(want.VI_3);
    const group = await waitFor(async () => {
      const s = await scrape(d).catch(() => undefined);
      return s && valueOf(s, 'keepalived_vrrp_sync_group_state', { group: GROUP }) === STATE_VALUE[want.VI_2] ? s : undefined;
    }, `${d.name} ${step}: keepalived_vrrp_sync_group_state{group="${GROUP}"} ${want.VI_2}`, timeoutMs);
    return group;
  }
  return samples;
}

/** The from->to counts keepalived's log gives since this daemon started, a STOP wherever keepalived was stopped. */
function expectedCounts(d: Director, i: Instance): Record<string, number> {
  const log = logOf(d);
  const cuts = [d.counting.offset, ...d.counting.stops, log.length];
  const states: string[] = [];
  for (let k = 0; k + 1 < cuts.length; k++) {
    if (k > 0) states.push('STOP');
    states.push(...enteredStates(log.slice(cuts[k], cuts[k + 1]), i));
  }
  return transitionCounts(states, d.counting.start);
}

/** Every transition counted once, with keepalived's from, as keepalived's log tells them; keepalived's counters agree. */
async function transitionsAgree(d: Director, step: string): Promise<void> {
  const samples = await waitFor(async () => {
    const s = await scrape(d).catch(() => undefined);
    return s && INSTANCES.every((i) => JSON.stringify(countedTransitions(s, i)) === JSON.stringify(expectedCounts(d, i))) ? s : undefined;
  }, `${d.name} ${step}: the transitions counted as keepalived's log has them`).catch(async () => scrape(d));
  const differ = INSTANCES.filter((i) => JSON.stringify(countedTransitions(samples, i)) !== JSON.stringify(expectedCounts(d, i)));
  if (differ.length > 0) throw new Error(differ.map((i) => `${d.name} ${step} ${i}: counted ${JSON.stringify(countedTransitions(samples, i))}, keepalived's log ${JSON.stringify(expectedCounts(d, i))}`).join('\n'));
  const unreconciled = ['missed', 'duplicate'].map((result) => `${result} ${valueOf(samples, 'kawatch_transitions_reconciled_total', { result })}`).join(', ');
  expect(`${d.name} ${step}: ${unreconciled}`).toBe(`${d.name} ${step}: missed 0, duplicate 0`);
}

/** Puts VI_1 of this director in FAULT (fault) or lets it out (heal): by its track file, or on 1.3.5, which has none, by its script. */
function faultVi1(d: Director, fault: boolean): void {
  if (d.caps.trackFile === 'none') {
    if (fault) writeFileSync(join(d.dir, 'chk-down'), '');
    else rmSync(join(d.dir, 'chk-down'), { force: true });
  } else writeFileSync(join(d.dir, 'track', 'VI_1'), fault ? '1\n' : '0\n');
}

/** Which sources reported the transitions of a subject, from the daemon's own log of them. */
function sourcesOf(log: { seenBy: string[] }[] | undefined): Set<string> {
  return new Set((log ?? []).flatMap((r) => r.seenBy));
}

const splitRuleset = 'table inet ver_split {\n  chain in { type filter hook input priority 0; policy accept; ip protocol vrrp drop; }\n  chain out { type filter hook output priority 0; policy accept; ip protocol vrrp drop; }\n}\n';

describeWithPrereqs('kawatch against every keepalived of the field (lab)', { root: true, commands: ['ip', 'unshare', 'curl', 'promtool', 'nft'], files: [cli, ...binaries] }, () => {
  afterAll(async () => {
    for (const pair of labs) {
      await stopLab(pair).catch(() => undefined);
      if (process.env.KEEP_LAB_LOGS === undefined) for (const d of pair) rmSync(d.dir, { recursive: true, force: true });
    }
    if (measured.size > 0) {
      const table = renderMatrix(FLAVOURS.flatMap((f) => (measured.has(f) ? [measured.get(f)!] : [])));
      mkdirSync(join(root, 'bench-results'), { recursive: true });
      writeFileSync(join(root, 'bench-results/keepalived-versions.md'), table);
      process.stdout.write(`\nkeepalived version matrix, measured:\n${table}\n`);
    }
  });

  FLAVOURS.forEach((flavour, index) => {
    // The timeout covers the wait for a slot: at most ceil(7 / LABS_AT_ONCE) labs' time.
    it.concurrent(`${flavour}: start, failover, failback, stop, kawatch down and replay, split and heal`, { timeout: 480_000 }, () => inSlot(async () => {
      const pair = await startLab(flavour, binaries[index]!, index);
      const [a, b] = pair as [Director, Director];
      const { caps } = a;
      const row: Measured = { flavour, hook: '', fifo: '', json: '', text: '', trackFile: '', scripts: '', syncGroups: '' };
      try {
        // Start: a (150) MASTER of all three, b (100) BACKUP.
        let ma = await converge(a, 'start', ALL('MASTER'));
        let mb = await converge(b, 'start', ALL('BACKUP'));
        ma = await waitFor(async () => {
          const s = await scrape(a);
          // keepalived's counters are checked against kawatch's count after each dump (transitionsAgree): 1.3.5
          // can write a dump between setting the state and counting the transition.
          return valueOf(s, 'kawatch_source_up', { source: 'dump' }) === 1 && valueOf(s, 'keepalived_vrrp_excluded_state', { ...labelsOf('VI_1'), ip_address: excludedOf(a) }) === 2 ? s : undefined;
        }, `${a.name}: a complete dump, the excluded VIP MASTER`);
        expect(valueOf(ma, 'keepalived_vrrp_base_priority', labelsOf('VI_1'))).toBe(150);
        expect(valueOf(ma, 'keepalived_version_info', { version: formatVersion(caps.version) })).toBe(1);
        expect(valueOf(ma, 'kawatch_keepalived_capability', { capability: 'json_dump' })).toBe(flavour.endsWith('-json') ? 1 : 0);
        expect(valueOf(ma, 'kawatch_keepalived_capability', { capability: 'notify_fifo' })).toBe(caps.notifyFifo ? 1 : 0);
        expect(valueOf(ma, 'kawatch_source_errors_total', { source: 'dump' })).toBe(0);
        // mehdy/keepalived-exporter's script series: from keepalived.data, beside the JSON dump where there is one.
        // 1.3.5 prints no run state for a script.
        const scriptStatus = valueOf(ma, 'keepalived_script_status', { name: 'ver_chk' });
        const scriptState = valueOf(ma, 'keepalived_script_state', { name: 'ver_chk' });
        expect(scriptStatus).toBe(1);
        expect(scriptState).toBe(flavour.startsWith('1.') ? undefined : 0);
        // The verdicts came from keepalived.data where state_dump_file put it, not from the dump directory.
        if (caps.dataFileKeyword) expect([existsSync(join(a.dir, 'dump-files', 'keepalived.data')), existsSync(join(a.dir, 'tmp', 'keepalived.data'))]).toEqual([true, false]);
        const text = await fetchIn(a, '/metrics');
        expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })).toBe('');
        seriesByFlavour.set(flavour, seriesOf(a, parseExposition(text)));
        // Without a FIFO (1.3.5) the FIFO source is off, not failing.
        expect(valueOf(ma, 'kawatch_source_enabled', { source: 'fifo' })).toBe(caps.notifyFifo ? 1 : 0);
        expect(valueOf(ma, 'kawatch_source_errors_total', { source: 'fifo' })).toBe(0);
        // The hook: arguments from 2.0, a wrapper script for 1.3.5; both report the transitions.
        expect(valueOf(ma, 'kawatch_source_events_total', { source: 'hook' })).toBeGreaterThan(0);
        expect(valueOf(ma, 'kawatch_source_rejected_total', { source: 'hook' })).toBe(0);
        // Authentication compared over the peer link; 2.4 masks the password in its dumps, so kawatch digests keepalived.conf's.
        const [sa, sb] = [await apiState(a), await apiState(b)];
        expect(sa.state.instances.VI_1!.authDigest).toMatch(/^[0-9a-f]{16}$/);
        expect(sa.state.instances.VI_1!.authDigest).toBe(sb.state.instances.VI_1!.authDigest);
        expect(sa.text + sb.text + text).not.toContain(PASSWORD);
        mb = await waitFor(async () => {
          const s = await scrape(b);
          return valueOf(s, 'kawatch_peer_vrrp_state', { peer: a.name, iname: 'VI_1', vrid: String(VRID.VI_1) }) === 2 ? s : undefined;
        }, `${b.name}: a's view over the peer link`);
        expect(valueOf(mb, 'kawatch_config_mismatch', { iname: 'VI_1', vrid: String(VRID.VI_1), field: 'authentication' })).toBe(0);
        await transitionsAgree(a, 'start');
        await transitionsAgree(b, 'start');

        // Priority: the tracked file's -20, told by the FIFO where the build reports priority changes.
        if (caps.trackFile !== 'none') {
          writeFileSync(join(a.dir, 'track', 'prio'), '1\n');
          if (caps.fifoPriorityChanges) {
            const p = await waitFor(async () => {
              const s = await scrape(a);
              // 150, -20 for the file.
              return valueOf(s, 'keepalived_vrrp_effective_priority', labelsOf('VI_1')) === 130 ? s : undefined;
            }, `${a.name}: effective priority 130 from the FIFO`);
            expect(valueOf(p, 'kawatch_source_rejected_total', { source: 'fifo' })).toBe(0);
          }
        }

        // Failover: VI_1 of a in FAULT (its track file; on 1.3.5 its script), b takes it over.
        faultVi1(a, true);
        await converge(a, 'failover', { ...ALL('MASTER'), VI_1: 'FAULT' });
        await converge(b, 'failover', { ...ALL('BACKUP'), VI_1: 'MASTER' });
        // The verdict comes with the dump the FAULT brings: BAD on 1.3.5, whose script faulted VI_1.
        const scriptBad =
          caps.trackFile === 'none' &&
          (await waitFor(async () => valueOf(await scrape(a), 'keepalived_script_status', { name: 'ver_chk' }) === 0, `${a.name}: keepalived_script_status{name="ver_chk"} 0`));
        // Failback: a preempts again.
        faultVi1(a, false);
        await converge(a, 'failback', ALL('MASTER'));
        await converge(b, 'failback', ALL('BACKUP'));
        await transitionsAgree(a, 'failback');
        await transitionsAgree(b, 'failback');
        row.trackFile = caps.trackFile === 'none' ? 'none: FAULT by `vrrp_script`' : `\`${caps.trackFile}\`: FAULT and back${caps.fifoPriorityChanges ? ', weight in real time (FIFO)' : ''}`;

        // Stop: a's keepalived goes; b takes everything; a's daemon says STOP (the hook or FIFO, or on 1.3.5 the process source).
        await stopKeepalived(a);
        await converge(a, 'stop', ALL('STOP'));
        const stopSeenBy = sourcesOf((await apiState(a)).state.instances.VI_1?.log?.filter((r) => r.to === 'STOP').slice(-1));
        await converge(b, 'stop', ALL('MASTER'));
        startKeepalived(a);
        await converge(a, 'restart', ALL('MASTER'));
        await converge(b, 'restart', ALL('BACKUP'));
        await transitionsAgree(a, 'stop and restart');
        await transitionsAgree(b, 'stop and restart');

        // kawatch down: VI_1 fails over and back while a's daemon is stopped; at its start it replays what
        // the hook spooled and the FIFO kept, each transition once, from the state it knew.
        await stopKawatch(a);
        const downAt = logOf(a).length;
        faultVi1(a, true);
        await waitFor(async () => !(await vipsInKernel(a)).has(vipOf(a, 'VI_1')), `${a.name}: VI_1's VIP gone while kawatch is down`);
        await converge(b, 'kawatch down', { ...ALL('BACKUP'), VI_1: 'MASTER' });
        faultVi1(a, false);
        await waitFor(async () => (await vipsInKernel(a)).has(vipOf(a, 'VI_1')), `${a.name}: VI_1's VIP back while kawatch is down`, 15_000);
        await converge(b, 'kawatch down', ALL('BACKUP'));
        const spooled = readdirSync(join(a.dir, 'spool')).filter((f) => f !== 'rejected').length;
        startKawatch(a);
        // The new daemon's count starts with the transitions of the downtime: keepalived's log from the stop.
        a.counting = { offset: downAt, start: 'MASTER', stops: [] };
        await waitFor(() => scrape(a).then(() => true, () => false), `${a.name}: the kawatch API again`, 20_000);
        await converge(a, 'replay', ALL('MASTER'));
        await transitionsAgree(a, 'replay');
        await transitionsAgree(b, 'replay');
        expect(spooled).toBeGreaterThan(0);

        // Split: a drops VRRP both ways; b hears no MASTER and takes all three; both daemons see two MASTERs over the peer link.
        execFileSync('ip', ['netns', 'exec', a.netns, 'nft', '-f', '-'], { input: splitRuleset });
        await converge(a, 'split', ALL('MASTER'));
        mb = await converge(b, 'split', ALL('MASTER'));
        for (const d of pair) {
          await waitFor(async () => {
            const s = await scrape(d);
            return INSTANCES.every((i) => valueOf(s, 'kawatch_split_brain', { iname: i, vrid: String(VRID[i]) }) === 1) ? s : undefined;
          }, `${d.name}: kawatch_split_brain 1 for each instance`);
        }
        // Heal: a's adverts reach b again, b goes back to BACKUP.
        execFileSync('ip', ['netns', 'exec', a.netns, 'nft', 'delete', 'table', 'inet', 'ver_split']);
        await converge(a, 'heal', ALL('MASTER'));
        await converge(b, 'heal', ALL('BACKUP'));
        for (const d of pair) {
          await waitFor(async () => {
            const s = await scrape(d);
            return INSTANCES.every((i) => valueOf(s, 'kawatch_split_brain', { iname: i, vrid: String(VRID[i]) }) === 0) ? s : undefined;
          }, `${d.name}: kawatch_split_brain 0 once healed`);
          await transitionsAgree(d, 'split and heal');
        }

        // Every MASTER that left MASTER in this run (stop, failover, heal) removed its VIPs before its director learnt
        // of it, by the hook alone on the versions without a FIFO: a transition in passing, never a MASTER without its VIPs.
        for (const d of pair) {
          const raised = logOf(d, 'kawatch.log').split('\n').filter((l) => l.includes('"vip-absent-on-master"') && l.includes('verdict raised'));
          expect(raised, `${d.name}: vip-absent-on-master raised`).toEqual([]);
        }

        // What each source gave, measured: events and errors of each, and who reported the transitions.
        const [fa, fb] = [await scrape(a), await scrape(b)];
        const [final, finalB] = [(await apiState(a)).state, (await apiState(b)).state];
        const instanceSources = new Set([...INSTANCES.flatMap((i) => [...sourcesOf(final.instances[i]?.log), ...sourcesOf(finalB.instances[i]?.log)])]);
        const groupSources = new Set([...sourcesOf(final.groups[GROUP]?.log), ...sourcesOf(finalB.groups[GROUP]?.log)]);
        const events = (source: string) => (valueOf(fa, 'kawatch_source_events_total', { source }) ?? 0) + (valueOf(fb, 'kawatch_source_events_total', { source }) ?? 0);
        const errors = (source: string) => (valueOf(fa, 'kawatch_source_errors_total', { source }) ?? 0) + (valueOf(fb, 'kawatch_source_errors_total', { source }) ?? 0);
        expect({ hookErrors: errors('hook'), fifoErrors: errors('fifo'), dumpErrors: errors('dump') }).toEqual({ hookErrors: 0, fifoErrors: 0, dumpErrors: 0 });
        const said = (ok: boolean, what: string) => (ok ? what : `**not ${what}**`);
        const matched = (valueOf(fa, 'kawatch_transitions_reconciled_total', { result: 'match' }) ?? 0) > 0;
        row.hook = `${caps.notifyTakesArguments ? '`notify "kawatch notify"`' : 'wrapper script, no arguments'}: ${said(instanceSources.has('hook'), 'transitions')}, ${stopSeenBy.has('hook') ? 'STOP' : 'no STOP'}`;
        row.fifo = caps.notifyFifo ? `${said(instanceSources.has('fifo') && events('fifo') > 0, 'transitions')}, ${stopSeenBy.has('fifo') ? 'STOP' : 'no STOP'}${caps.fifoPriorityChanges ? ', priorities' : ''}` : 'none (source off, not failing)';
        row.json = caps.jsonDump ? `${said(instanceSources.has('dump') || matched, 'state and counters')}, from ${caps.dumpDirectory.kind === 'fixed' ? '`/tmp`' : '`$TMPDIR`'}` : 'none (not built in)';
        row.text = caps.jsonDump ? `\`keepalived.data\` beside it: ${said(scriptStatus === 1, 'script verdicts')}` : `\`keepalived.data\` + \`.stats\`: ${said(matched, 'state, VIPs, counters')}`;
        row.scripts = `${said(scriptStatus === 1, 'GOOD')}${caps.trackFile === 'none' ? `, ${said(scriptBad, 'BAD')}` : ''}, ${scriptState === undefined ? 'no run state' : 'run state'}`;
        row.syncGroups = groupSources.size > 0 ? [...groupSources].sort().join(', ') : '**none**';
        expect(groupSources.has('hook')).toBe(true);
        expect(groupSources.has('fifo')).toBe(caps.notifyFifo);
        // keepalived.data lists the sync groups: read where it is the dump (no JSON), not beside a JSON one.
        expect(groupSources.has('dump')).toBe(!caps.jsonDump);
        measured.set(flavour, row);
      } catch (err) {
        const tail = (d: Director, file: string) => logOf(d, file).split('\n').slice(-25).join('\n');
        const at = (err as Error).stack?.split('\n').find((l) => l.includes('versions.lab.test.ts'))?.trim() ?? '';
        throw new Error(`${(err as Error).message}\n${at}\n${pair.map((d) => `--- ${d.name} kawatch.log\n${tail(d, 'kawatch.log')}\n--- ${d.name} keepalived.log\n${tail(d, 'keepalived.log')}`).join('\n')}`);
      } finally {
        await stopLab(pair);
      }
    }));
  });

  // What a version's dumps cannot give (the README's table says why); everything else is the same series.
  const CANNOT: Record<string, { missing: string[]; extra: string[] }> = {
    // keepalived.data of 1.3.5 prints no effective priority and no script run state; 1.3.5 has no
    // FIFO, so that source, off, has no last success.
    '1.3.5-nojson': { missing: ['kawatch_source_last_success_timestamp_seconds', 'keepalived_script_state', 'keepalived_vrrp_effective_priority'], extra: [] },
    '2.1.5-nojson': { missing: [], extra: [] },
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
