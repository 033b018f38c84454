import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { parseDocument, type Document } from 'yaml';
import { packageRoot } from '../version.js';
import { dirname, join } from 'node:path';
import { nodePaths, planLab } from './plan.js';
import { belongsToLab, isRunning, spawnDetached, terminate } from './processes.js';
import { readLabState, updateLabState, withProcess, type LabNode, type LabProcess, type LabProcessRole, type LabState } from './state.js';
import { LabError, ip } from './system.js';
import { exec, type ExecOptions, type ExecResult } from '../core/exec.js';
import { waitFor } from '../core/wait.js';
import { fetchNodeState } from './observe.js';

/** The processes of one director of the lab: its kawatch daemon and its keepalived, started, stopped and reconfigured one at a time. */

const API_READY_TIMEOUT_MS = 20_000;

const KEEPALIVED_READY_TIMEOUT_MS = 10_000;

/** A director as the process helpers need it; both the plan's nodes and `LabNode` qualify. */
export type NodeRef = Pick<LabNode, 'name' | 'netns' | 'dir'>;

/** Node directories are children of the lab directory (see `planLab`). */
export function labDirOf(node: NodeRef): string {
  return dirname(node.dir);
}

/** Children get a known environment, not whatever the caller (a shell, a test runner) carries. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...extra };
}

export interface Programs {
  node: string;
  cli: string;
  /** bin/kawatch: keepalived's hook, as on a real director. */
  launcher: string;
  mailRecorder: string;
}

/** The compiled CLI and mail recorder, found from this file whether it runs from src/ (tests) or dist/src/. */
export async function findPrograms(): Promise<Programs> {
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

export async function record(dir: string, entry: LabProcess): Promise<void> {
  await updateLabState(dir, (s) => withProcess(s, entry));
}

function recordedPid(state: LabState | undefined, role: LabProcessRole, node?: string): number | undefined {
  return state?.processes.find((p) => p.role === role && p.node === node)?.pid;
}

export async function stillRunning(pid: number, what: string, logFile: string): Promise<void> {
  if (!(await isRunning(pid))) throw new LabError(`${what} (pid ${pid}) exited; see ${logFile}`);
}

export async function launchDaemon(node: NodeRef, programs: Programs): Promise<number> {
  const paths = nodePaths(node.dir);
  const argv = ['ip', 'netns', 'exec', node.netns, programs.node, programs.cli, 'run', '--config', paths.kawatchConfig];
  const pid = await spawnDetached(argv, paths.daemonLog, childEnv());
  await record(labDirOf(node), { role: 'daemon', node: node.name, pid });
  return pid;
}

export async function waitForApi(node: NodeRef & Pick<LabNode, 'api'>, pid: number): Promise<void> {
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

export async function launchKeepalived(node: NodeRef): Promise<number> {
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
export async function waitForKeepalived(node: NodeRef, pid: number): Promise<void> {
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

/** The pid of the node's kawatch daemon, if it runs. */
export function daemonPid(node: NodeRef): Promise<number | undefined> {
  return runningPid(node, 'daemon');
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

/**
 * The lab's `watchdog.start_command`: the lab's own `start-keepalived`, so a keepalived the
 * daemon starts again (a drill with `--mode stop`) runs as `startKeepalived` would start it:
 * recorded in lab.json, logging to the node's keepalived.log.
 */
export function keepalivedStartCommand(programs: Pick<Programs, 'node' | 'cli'>, node: NodeRef): string[] {
  return [programs.node, programs.cli, 'lab', 'start-keepalived', '--dir', labDirOf(node), '--node', node.name];
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
