import { access, mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { parseDocument, type Document } from 'yaml';
import { packageRoot } from '../version.js';
import { dirname, join, resolve } from 'node:path';
import type { Snapshot } from '../state/snapshot.js';
import type { VrrpState } from '../model/vrrp.js';
import {
  DEFAULT_LAB_ROOT,
  DEFAULT_PREFIX,
  LAB_POLICIES,
  PRIMARY_IFNAME,
  SECONDARY_IFNAME,
  apiUrl,
  checkPrefix,
  defaultLabDir,
  freeManagementSlot,
  labNames,
  labPaths,
  masterOf,
  nodePaths,
  planLab,
  topologyCommands,
  type LabPlan,
  type LabPolicy,
  type NodePlan,
} from './plan.js';
import { belongsToLab, findLabProcesses, isRunning, parentOf, spawnDetached, terminate } from './processes.js';
import { checkScriptPath, renderHealRuleset, renderKawatchConfig, renderKeepalivedConf, renderSplitRuleset } from './render.js';
import { readLabState, updateLabState, withProcess, writeLabState, type LabInfo, type LabNode, type LabProcess, type LabProcessRole, type LabState } from './state.js';
import { LabError, checkPrerequisites, hostIpv4Addresses, ip, listHostLinks, listNetns, nftInNetns } from './system.js';
import { exec, type ExecOptions, type ExecResult } from '../core/exec.js';
import { waitFor, type Probe } from '../core/wait.js';

export type { LabInfo, LabNode, LabPolicy };
export { LabError };

/** Which lab: by prefix (default `kwlab`) and directory (default `$KAWATCH_LAB_DIR` or /run/kawatch-lab/PREFIX). */
export interface LabRef {
  prefix?: string;
  dir?: string;
}

export interface LabUpOptions extends LabRef {
  /** The daemons' watchdog policy (alert, demote, stop). */
  policy?: LabPolicy;
}

const API_READY_TIMEOUT_MS = 20_000;
const MASTERS_TIMEOUT_MS = 30_000;
const KEEPALIVED_READY_TIMEOUT_MS = 10_000;
const MAIL_RECORDER_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 2000;
const LOG_TAIL_LINES = 15;
const LOG_LINE_MAX_CHARS = 300;

/** A director as the process helpers need it; both the plan's nodes and `LabNode` qualify. */
type NodeRef = Pick<LabNode, 'name' | 'netns' | 'dir'>;

function resolveLab(ref: LabRef): { prefix: string; dir: string } {
  const prefix = ref.prefix ?? DEFAULT_PREFIX;
  const problem = checkPrefix(prefix);
  if (problem) throw new LabError(problem);
  return { prefix, dir: resolve(ref.dir ?? defaultLabDir(prefix)) };
}

/** The lab in a directory: a state file there names the lab's prefix, whatever prefix was asked for. */
async function openLab(ref: LabRef): Promise<{ prefix: string; dir: string; state?: LabState }> {
  const { prefix, dir } = resolveLab(ref);
  const state = await readLabState(dir);
  return { prefix: state?.prefix ?? prefix, dir, state };
}

/** Node directories are children of the lab directory (see `planLab`). */
function labDirOf(node: NodeRef): string {
  return dirname(node.dir);
}

/** Children get a known environment, not whatever the caller (a shell, a test runner) carries. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...extra };
}

interface Programs {
  node: string;
  cli: string;
  /** bin/kawatch: keepalived's hook, as on a real director. */
  launcher: string;
  mailRecorder: string;
}

/** The compiled CLI and mail recorder, found from this file whether it runs from src/ (tests) or dist/src/. */
async function findPrograms(): Promise<Programs> {
  const root = packageRoot();
  const programs = {
    node: process.execPath,
    cli: join(root, 'dist/src/cli/main.js'),
    launcher: join(root, 'bin/kawatch'),
    mailRecorder: join(root, 'dist/src/lab/mail-recorder-main.js'),
  };
  for (const file of [programs.cli, programs.mailRecorder]) {
    await access(file).catch(() => {
      throw new LabError(`${file} is missing: run \`npm run build\` first`);
    });
  }
  return programs;
}

/**
 * keepalived's script security refuses a hook that a non-root user could replace: the file or
 * any directory above it writable by group or others. Said here, not as a silent missing hook.
 */
async function writableByOthers(path: string): Promise<string | undefined> {
  for (let p = path; ; p = dirname(p)) {
    const info = await stat(p);
    if ((info.mode & 0o022) !== 0 && !(info.isDirectory() && (info.mode & 0o1000) !== 0 && info.uid === 0)) {
      return `${p} is writable by group or others, so keepalived (enable_script_security) would refuse to run ${path} as its hook; chmod go-w ${p}`;
    }
    if (dirname(p) === p) return undefined;
  }
}

async function record(dir: string, entry: LabProcess): Promise<void> {
  await updateLabState(dir, (s) => withProcess(s, entry));
}

function recordedPid(state: LabState | undefined, role: LabProcessRole, node?: string): number | undefined {
  return state?.processes.find((p) => p.role === role && p.node === node)?.pid;
}

async function stillRunning(pid: number, what: string, logFile: string): Promise<void> {
  if (!(await isRunning(pid))) throw new LabError(`${what} (pid ${pid}) exited; see ${logFile}`);
}

// ---- what the daemons say -------------------------------------------------------------

export async function fetchNodeState(node: Pick<LabNode, 'api'>): Promise<Snapshot> {
  const response = await fetch(`${node.api}/api/v1/state`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`${node.api}/api/v1/state answered ${response.status}`);
  return (await response.json()) as Snapshot;
}

/** Instance name → the nodes whose daemon reports it MASTER. */
export function mastersByInstance(states: ReadonlyMap<string, Pick<Snapshot, 'instances'>>): Record<string, string[]> {
  const masters: Record<string, string[]> = {};
  for (const [node, snapshot] of states) {
    for (const [name, instance] of Object.entries(snapshot.instances)) {
      masters[name] ??= [];
      if (instance.state === 'MASTER') masters[name].push(node);
    }
  }
  return masters;
}

/** Asks every director's daemon; instance name → nodes that are MASTER (two of them during a split brain). */
export async function readMasters(lab: Pick<LabInfo, 'nodes'>): Promise<Record<string, string[]>> {
  const states = await Promise.all(lab.nodes.map(async (n) => [n.name, await fetchNodeState(n)] as const));
  return mastersByInstance(new Map(states));
}

/** Holds when every instance has exactly its intended MASTER; otherwise says who is MASTER of what. */
export function checkIntendedMasters(plan: Pick<LabPlan, 'instances'>, masters: Record<string, string[]>): Probe<void> {
  const wrong = plan.instances.filter((i) => (masters[i.name] ?? []).join() !== masterOf(i));
  if (wrong.length === 0) return { done: true, value: undefined };
  return { done: false, why: wrong.map((i) => `${i.name}: MASTER on [${(masters[i.name] ?? []).join(', ')}], want ${masterOf(i)}`).join('; ') };
}

// ---- starting the parts ----------------------------------------------------------------

async function buildTopology(plan: LabPlan): Promise<void> {
  for (const args of topologyCommands(plan)) await ip(args);
}

async function writeNodeFiles(plan: LabPlan, programs: Programs, policy: LabPolicy, smtpPort: number): Promise<void> {
  await writeFile(labPaths(plan.dir).peerSecret, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  for (const node of plan.nodes) {
    const paths = nodePaths(node.dir);
    await mkdir(paths.keepalivedTmp, { recursive: true });
    await mkdir(paths.trackDir, { recursive: true });
    await writeFile(paths.keepalivedConf, renderKeepalivedConf(plan, node, programs));
    await writeFile(paths.kawatchConfig, renderKawatchConfig(plan, node, policy, nodeSmtp(node, smtpPort)));
  }
}

/** Listens on the host's loopback for tests, and on each management link's host end for the daemons in the namespaces. */
async function startMailRecorder(plan: LabPlan, programs: Programs): Promise<number> {
  const paths = labPaths(plan.dir);
  const hosts = ['127.0.0.1', ...plan.nodes.map((n) => n.management.hostAddress)];
  const argv = [programs.node, programs.mailRecorder, '--dir', paths.mail, ...hosts.flatMap((h) => ['--listen', h]), '--ready', paths.mailRecorderReady];
  const pid = await spawnDetached(argv, paths.mailRecorderLog, childEnv());
  await record(plan.dir, { role: 'mail-recorder', pid });
  return waitFor(
    'the mail recorder to listen',
    async () => {
      await stillRunning(pid, 'the mail recorder', paths.mailRecorderLog);
      const ready = await readFile(paths.mailRecorderReady, 'utf8').then(
        (text) => JSON.parse(text) as { port: number },
        () => undefined,
      );
      return ready ? { done: true, value: ready.port } : { done: false, why: `no ${paths.mailRecorderReady} yet` };
    },
    { timeoutMs: MAIL_RECORDER_TIMEOUT_MS },
  );
}

async function launchDaemon(node: NodeRef, programs: Programs): Promise<number> {
  const paths = nodePaths(node.dir);
  const argv = ['ip', 'netns', 'exec', node.netns, programs.node, programs.cli, 'run', '--config', paths.kawatchConfig];
  const pid = await spawnDetached(argv, paths.daemonLog, childEnv());
  await record(labDirOf(node), { role: 'daemon', node: node.name, pid });
  return pid;
}

async function waitForApi(node: NodeRef & Pick<LabNode, 'api'>, pid: number): Promise<void> {
  const log = nodePaths(node.dir).daemonLog;
  await waitFor(
    `the kawatch API of ${node.name} at ${node.api}`,
    async () => {
      await stillRunning(pid, `the kawatch daemon of ${node.name}`, log);
      return fetchNodeState(node).then(
        () => ({ done: true, value: undefined }),
        (err: Error) => ({ done: false, why: err.message }),
      );
    },
    { timeoutMs: API_READY_TIMEOUT_MS },
  );
}

async function launchKeepalived(node: NodeRef): Promise<number> {
  const paths = nodePaths(node.dir);
  // -P: VRRP only (the lab host may have no IPVS); -n: stay in the foreground so the pid is keepalived's;
  // -l -D: detailed log on stdout, which goes to the node's keepalived.log; -G: keep the host's syslog clean.
  const argv = ['ip', 'netns', 'exec', node.netns, 'keepalived', '-P', '-n', '-l', '-D', '-G', '-f', paths.keepalivedConf, '-p', paths.keepalivedPid, '-r', paths.vrrpPid];
  // After a SIGKILL the VRRP child can linger as a zombie until init reaps it, and keepalived
  // refuses to start while its pid file names a process that exists. No lab keepalived of this
  // node runs at this point (callers check), so its pid files are stale.
  await Promise.all([rm(paths.keepalivedPid, { force: true }), rm(paths.vrrpPid, { force: true })]);
  const pid = await spawnDetached(argv, paths.keepalivedLog, childEnv({ TMPDIR: paths.keepalivedTmp }));
  await record(labDirOf(node), { role: 'keepalived', node: node.name, pid });
  return pid;
}

async function readPidFile(path: string): Promise<number | undefined> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** keepalived is ready once it wrote its own pid file and its VRRP child runs. */
async function waitForKeepalived(node: NodeRef, pid: number): Promise<void> {
  const paths = nodePaths(node.dir);
  await waitFor(
    `keepalived of ${node.name} to start its VRRP process`,
    async () => {
      await stillRunning(pid, `keepalived of ${node.name}`, paths.keepalivedLog);
      if ((await readPidFile(paths.keepalivedPid)) !== pid) return { done: false, why: `${paths.keepalivedPid} does not name pid ${pid} yet` };
      const vrrp = await readPidFile(paths.vrrpPid);
      if (vrrp === undefined || !(await isRunning(vrrp))) return { done: false, why: `no running VRRP process in ${paths.vrrpPid} yet` };
      return { done: true, value: undefined };
    },
    { timeoutMs: KEEPALIVED_READY_TIMEOUT_MS },
  );
}

async function waitForIntendedMasters(plan: LabPlan, lab: LabInfo, running: readonly { pid: number; what: string; log: string }[]): Promise<void> {
  await waitFor(
    `one MASTER per instance (${plan.instances.map((i) => `${i.name} on ${masterOf(i)}`).join(', ')})`,
    async () => {
      for (const p of running) await stillRunning(p.pid, p.what, p.log);
      return readMasters(lab).then(
        (masters) => checkIntendedMasters(plan, masters),
        (err: Error) => ({ done: false, why: err.message }),
      );
    },
    { timeoutMs: MASTERS_TIMEOUT_MS },
  );
}

/** The mail recorder as a node reaches it: the host end of its management link. */
function nodeSmtp(node: Pick<NodePlan, 'management'>, smtpPort: number): string {
  return `${node.management.hostAddress}:${smtpPort}`;
}

/** What `up` prints with --json, built from the plan alone. */
export function describeLab(plan: LabPlan, policy: LabPolicy, smtpPort: number): LabInfo {
  return {
    prefix: plan.prefix,
    policy,
    nodes: plan.nodes.map((n) => ({
      name: n.name,
      netns: n.netns,
      api: apiUrl(n),
      primary: n.primary.address,
      secondary: n.secondary.address,
      dir: n.dir,
      smtp: nodeSmtp(n, smtpPort),
    })),
    vips: Object.fromEntries(plan.instances.map((i) => [i.name, i.vip])),
    mail: labPaths(plan.dir).mail,
    smtp: `127.0.0.1:${smtpPort}`,
    dir: plan.dir,
  };
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return `(no ${file})`;
  const lines = text.trimEnd().split('\n').slice(-LOG_TAIL_LINES);
  return lines.map((l) => (l.length > LOG_LINE_MAX_CHARS ? `${l.slice(0, LOG_LINE_MAX_CHARS)}…` : l)).join('\n') || '(empty)';
}

async function logTails(plan: LabPlan): Promise<string> {
  const files = [labPaths(plan.dir).mailRecorderLog, ...plan.nodes.flatMap((n) => [nodePaths(n.dir).daemonLog, nodePaths(n.dir).keepalivedLog])];
  const parts = await Promise.all(files.map(async (f) => `--- ${f}\n${await tail(f)}`));
  return parts.join('\n');
}

/** An empty or missing directory becomes the lab directory; anything else is someone's data. */
async function prepareLabDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (entries.length) throw new LabError(`${dir} is not empty and holds no lab.json: refusing to use it as a lab directory`);
  await mkdir(dir, { recursive: true });
}

/**
 * Builds the two-director lab and returns once both daemons answer and each instance has its
 * intended MASTER. A lab already up with this prefix is removed first; on failure everything
 * made so far is removed and the error carries the tails of the logs.
 */
export async function labUp(options: LabUpOptions = {}): Promise<LabInfo> {
  const { prefix, dir } = resolveLab(options);
  const policy = options.policy ?? 'alert';
  if (!LAB_POLICIES.includes(policy)) throw new LabError(`invalid policy ${JSON.stringify(policy)}: expected ${LAB_POLICIES.join(', ')}`);
  await checkPrerequisites();
  const programs = await findPrograms();
  const unusable = [programs.launcher, dir].map(checkScriptPath).find((p) => p !== undefined) ?? (await writableByOthers(programs.launcher));
  if (unusable) throw new LabError(unusable);

  await labDown({ prefix, dir });
  await prepareLabDir(dir);
  const slot = freeManagementSlot(await hostIpv4Addresses());
  if (slot === undefined) throw new LabError('every management subnet of 198.18.2.0/24 is in use: take some labs down first');
  const plan = planLab(prefix, dir, slot);
  const names = labNames(prefix);
  // Recorded before they exist: a crash halfway leaves a state file that names all of it.
  await writeLabState({ version: 1, prefix, dir, policy, createdAt: new Date().toISOString(), ...names, processes: [], split: [], cut: [], isolated: [] });

  try {
    await buildTopology(plan);
    // The recorder first: its port goes into the daemons' configuration.
    const smtpPort = await startMailRecorder(plan, programs);
    await writeNodeFiles(plan, programs, policy, smtpPort);
    const info = describeLab(plan, policy, smtpPort);
    // Daemons first, so they create the FIFOs (keepalived would otherwise own them) and see every transition.
    const daemons = await Promise.all(plan.nodes.map((n) => launchDaemon(n, programs)));
    await Promise.all(plan.nodes.map((n, i) => waitForApi({ ...n, api: apiUrl(n) }, daemons[i]!)));
    const keepaliveds = await Promise.all(plan.nodes.map((n) => launchKeepalived(n)));
    await Promise.all(plan.nodes.map((n, i) => waitForKeepalived(n, keepaliveds[i]!)));
    const running = plan.nodes.flatMap((n, i) => [
      { pid: daemons[i]!, what: `the kawatch daemon of ${n.name}`, log: nodePaths(n.dir).daemonLog },
      { pid: keepaliveds[i]!, what: `keepalived of ${n.name}`, log: nodePaths(n.dir).keepalivedLog },
    ]);
    await waitForIntendedMasters(plan, info, running);
    await updateLabState(dir, (s) => ({ ...s, info }));
    return info;
  } catch (err) {
    const tails = await logTails(plan);
    const removal = await labDown({ prefix, dir }).then(
      () => 'the lab has been removed',
      (downErr: Error) => `removing the lab failed too (${downErr.message}); run \`kawatch lab down --prefix ${prefix}\``,
    );
    throw new LabError(`${(err as Error).message}\n\nlog tails (${removal}):\n${tails}`);
  }
}

// ---- split brain -----------------------------------------------------------------------

export interface SplitState {
  prefix: string;
  /** Nodes whose primary segment drops VRRP. */
  split: string[];
  /** Nodes whose secondary link drops everything. */
  cut: string[];
  /** Nodes cut off from both links (everything dropped). */
  isolated: string[];
}

export type SplitLink = 'primary' | 'secondary' | 'both' | 'isolate';

async function requireLab(ref: LabRef): Promise<{ prefix: string; dir: string; state: LabState & { info: LabInfo } }> {
  const { prefix, dir, state } = await openLab(ref);
  if (!state?.info) throw new LabError(`lab "${prefix}" is not up (no finished lab in ${dir})`);
  return { prefix, dir, state: state as LabState & { info: LabInfo } };
}

/**
 * On one node: `primary` drops VRRP on its primary interface, both ways (each side stops hearing
 * the other and both become MASTER); `secondary` cuts its secondary link; `both` does both;
 * `isolate` drops everything on both links, witness included.
 */
export async function labSplit(options: LabRef & { node?: string; link?: SplitLink } = {}): Promise<SplitState> {
  const { prefix, dir, state } = await requireLab(options);
  const nodeName = options.node ?? 'lb2';
  const link = options.link ?? 'primary';
  const node = state.info.nodes.find((n) => n.name === nodeName);
  if (!node) throw new LabError(`no node ${JSON.stringify(nodeName)} in lab "${prefix}" (nodes: ${state.info.nodes.map((n) => n.name).join(', ')})`);
  const add = (list: string[], yes: boolean) => (yes ? [...new Set([...list, nodeName])] : list);
  const split = add(state.split, link !== 'secondary');
  const cut = add(state.cut, link !== 'primary');
  const isolated = add(state.isolated, link === 'isolate');
  // Rules first, record after: lab.json never claims a split that nft failed to make.
  await nftInNetns(
    node.netns,
    renderSplitRuleset({
      dropVrrpOn: split.includes(nodeName) ? PRIMARY_IFNAME : undefined,
      dropAllOn: [...(cut.includes(nodeName) ? [SECONDARY_IFNAME] : []), ...(isolated.includes(nodeName) ? [PRIMARY_IFNAME] : [])],
    }),
  );
  const next = await updateLabState(dir, (s) => ({ ...s, split, cut, isolated }));
  return { prefix, split: next.split, cut: next.cut, isolated: next.isolated };
}

/** Removes the split rules from every node; harmless when there are none. */
export async function labHeal(ref: LabRef = {}): Promise<SplitState> {
  const { prefix, dir, state } = await requireLab(ref);
  const present = new Set(await listNetns());
  for (const node of state.info.nodes) {
    if (present.has(node.netns)) await nftInNetns(node.netns, renderHealRuleset());
  }
  await updateLabState(dir, (s) => ({ ...s, split: [], cut: [], isolated: [] }));
  return { prefix, split: [], cut: [], isolated: [] };
}

// ---- single parts, for failover and restart tests ---------------------------------------

export interface StopOptions {
  /** SIGTERM (default) is a clean stop: keepalived sends priority 0 and the peer takes over at once. SIGKILL is a crash. */
  signal?: 'SIGTERM' | 'SIGKILL';
}

/** The node's recorded process of that role, if it is still running. */
async function runningPid(node: NodeRef, role: LabProcessRole): Promise<number | undefined> {
  const labDir = labDirOf(node);
  const pid = recordedPid(await readLabState(labDir), role, node.name);
  return pid !== undefined && (await isRunning(pid)) && (await belongsToLab(pid, labDir)) ? pid : undefined;
}

/** A second keepalived or daemon would fail on the pid file or the port, and its record would hide the first. */
async function refuseSecond(node: NodeRef, role: LabProcessRole): Promise<void> {
  const pid = await runningPid(node, role);
  if (pid !== undefined) throw new LabError(`${role} of ${node.name} is already running (pid ${pid})`);
}

async function stopRecorded(node: NodeRef, role: LabProcessRole, dependents: number[], options: StopOptions): Promise<void> {
  const labDir = labDirOf(node);
  const pid = await runningPid(node, role);
  if (pid === undefined) return;
  const owned: number[] = [];
  for (const d of dependents) if (d !== pid && (await belongsToLab(d, labDir))) owned.push(d);
  await terminate(options.signal === 'SIGKILL' ? [pid, ...owned] : [pid], { signal: options.signal, dependents: owned });
}

/** Stops the node's keepalived (and waits for its VRRP process to go too); does nothing if it is not running. */
export async function stopKeepalived(node: LabNode, options: StopOptions = {}): Promise<void> {
  const vrrp = await readPidFile(nodePaths(node.dir).vrrpPid);
  await stopRecorded(node, 'keepalived', vrrp === undefined ? [] : [vrrp], options);
}

/** Starts the node's keepalived again with the lab's configuration; returns once its VRRP process runs. */
export async function startKeepalived(node: LabNode): Promise<number> {
  await refuseSecond(node, 'keepalived');
  const pid = await launchKeepalived(node);
  await waitForKeepalived(node, pid);
  return pid;
}

export async function stopDaemon(node: LabNode, options: StopOptions = {}): Promise<void> {
  await stopRecorded(node, 'daemon', [], options);
}

/** Starts the node's kawatch daemon again; returns once its API answers. */
export async function startDaemon(node: LabNode): Promise<number> {
  await refuseSecond(node, 'daemon');
  const pid = await launchDaemon(node, await findPrograms());
  await waitForApi(node, pid);
  return pid;
}

/**
 * Edits the node's kawatch.yml (as a YAML document, comments kept) and restarts its daemon with
 * it: how benchmarks and tests give one director settings other than the lab's.
 */
export async function reconfigureDaemon(node: LabNode, change: (config: Document) => void): Promise<number> {
  const file = nodePaths(node.dir).kawatchConfig;
  const config = parseDocument(await readFile(file, 'utf8'));
  change(config);
  await writeFile(file, config.toString());
  await stopDaemon(node);
  return startDaemon(node);
}

/** Runs a command inside the node's network namespace (no shell); a non-zero exit is reported, not thrown. */
export function nodeExec(node: Pick<LabNode, 'netns'>, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return exec('ip', ['netns', 'exec', node.netns, ...argv], options);
}

// ---- status and teardown ----------------------------------------------------------------

export interface LabStatus {
  prefix: string;
  dir: string;
  /** `up` finished, every namespace exists and every recorded process runs. */
  up: boolean;
  policy?: LabPolicy;
  split: string[];
  cut: string[];
  namespaces: { name: string; present: boolean }[];
  processes: (LabProcess & { running: boolean })[];
  /** Lab processes (by command line) that lab.json does not list: left over from a crash. */
  strays: number[];
  /** What each daemon reports, or why it could not be asked. */
  nodes: { name: string; api: string; keepalived?: boolean; instances?: Record<string, VrrpState>; error?: string }[];
  info?: LabInfo;
}

export async function labStatus(ref: LabRef = {}): Promise<LabStatus> {
  const { prefix, dir, state } = await openLab(ref);
  const present = new Set(await listNetns());
  const namespaces = (state?.namespaces ?? labNames(prefix).namespaces).map((name) => ({ name, present: present.has(name) }));
  const processes = await Promise.all(
    (state?.processes ?? []).map(async (p) => ({ ...p, running: (await isRunning(p.pid)) && (await belongsToLab(p.pid, dir)) })),
  );
  // Children of lab processes (keepalived's VRRP process, notify hooks) belong to their parent's entry.
  const found = await findLabProcesses(dir);
  const known = new Set([...found, ...processes.map((p) => p.pid)]);
  const strays: number[] = [];
  for (const pid of found) if (!processes.some((p) => p.pid === pid) && !known.has((await parentOf(pid)) ?? 0)) strays.push(pid);
  const nodes = await Promise.all(
    (state?.info?.nodes ?? []).map(async (n) => {
      try {
        const s = await fetchNodeState(n);
        return { name: n.name, api: n.api, keepalived: s.keepalived.up, instances: Object.fromEntries(Object.values(s.instances).map((i) => [i.name, i.state])) };
      } catch (err) {
        return { name: n.name, api: n.api, error: (err as Error).message };
      }
    }),
  );
  const up = state?.info !== undefined && namespaces.every((n) => n.present) && processes.every((p) => p.running);
  return { prefix, dir, up, policy: state?.policy, split: state?.split ?? [], cut: state?.cut ?? [], namespaces, processes, strays, nodes, info: state?.info };
}

export interface LabDownResult {
  prefix: string;
  dir: string;
  /** Processes that were signalled. */
  processes: number[];
  namespaces: string[];
  hostLinks: string[];
  removedDir: boolean;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Removes everything the lab made, whether `up` finished, failed or crashed: its processes, its
 * namespaces and host links (by recorded and by derived name) and its directory. Idempotent.
 */
export async function labDown(ref: LabRef = {}): Promise<LabDownResult> {
  const { prefix, dir, state } = await openLab(ref);
  const names = labNames(prefix);

  // Found by command line, which covers the recorded processes (each is checked that way before any
  // signal, as pids get reused) and those a crash left unrecorded: keepalived's children, notify hooks.
  // Processes first: a namespace with a process left in it would outlive its deletion, links and all.
  const pids = await findLabProcesses(dir);
  await terminate(pids);

  // Host links before namespaces: deleting one end removes the pair at once, while a deleted
  // namespace's links go away asynchronously.
  const links = new Set(await listHostLinks());
  const hostLinks = [...new Set([...(state?.hostLinks ?? []), ...names.hostLinks])].filter((l) => links.has(l));
  for (const link of hostLinks) await ip(['link', 'delete', link]);
  const present = new Set(await listNetns());
  const namespaces = [...new Set([...(state?.namespaces ?? []), ...names.namespaces])].filter((n) => present.has(n));
  for (const netns of namespaces) await ip(['netns', 'delete', netns]);

  // Only a directory the lab owns: one holding a lab.json, or the default one (a crash may have left it without).
  const isDefaultDir = dir === join(DEFAULT_LAB_ROOT, prefix);
  const removedDir = (await exists(labPaths(dir).state)) || (isDefaultDir && (await exists(dir)));
  if (removedDir) await rm(dir, { recursive: true, force: true });
  if (isDefaultDir) await rmdir(DEFAULT_LAB_ROOT).catch(() => {}); // the last lab leaves no trace
  return { prefix, dir, processes: pids, namespaces, hostLinks, removedDir };
}

