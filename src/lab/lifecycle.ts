import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type { VrrpState } from '../model/vrrp.js';
import { DEFAULT_DIRECTORS, DEFAULT_LAB_ROOT, DEFAULT_PREFIX, LAB_POLICIES, apiUrl, checkDirectors, checkPrefix, defaultLabDir, freeManagementSlot, labNames, labPaths, masterOf, nodePaths, planLab, planNames, topologyCommands, type LabDirectorCount, type LabPlan, type LabPolicy, type NodePlan } from './plan.js';
import { belongsToLab, findLabProcesses, isRunning, parentOf, spawnDetached, terminate } from './processes.js';
import { checkScriptPath, renderKawatchConfig, renderKeepalivedConf } from './render.js';
import { readLabState, updateLabState, writeLabState, type LabInfo, type LabProcess, type LabState } from './state.js';
import { LabError, checkPrerequisites, hostIpv4Addresses, ip, listHostLinks, listNetns } from './system.js';
import { waitFor } from '../core/wait.js';
import { findPrograms, childEnv, record, stillRunning, launchDaemon, waitForApi, launchKeepalived, waitForKeepalived, keepalivedStartCommand, type Programs } from './directors.js';
import { checkIntendedMasters, readMasters, fetchNodeState } from './observe.js';

/** The whole lab: up (topology, mail recorder, daemons, keepalived), status and down. */

/** Which lab: by prefix (default `kwlab`) and directory (default `$KAWATCH_LAB_DIR` or /run/kawatch-lab/PREFIX). */
export interface LabRef {
  prefix?: string;
  dir?: string;
}

export interface LabUpOptions extends LabRef {
  /** The daemons' watchdog policy (alert, demote, stop). */
  policy?: LabPolicy;
  /** How many directors: 2 (default) or 3. */
  directors?: LabDirectorCount;
}

const MASTERS_TIMEOUT_MS = 30_000;

const MAIL_RECORDER_TIMEOUT_MS = 10_000;

const LOG_TAIL_LINES = 15;

const LOG_LINE_MAX_CHARS = 300;

export function resolveLab(ref: LabRef): { prefix: string; dir: string } {
  const prefix = ref.prefix ?? DEFAULT_PREFIX;
  const problem = checkPrefix(prefix);
  if (problem) throw new LabError(problem);
  return { prefix, dir: resolve(ref.dir ?? defaultLabDir(prefix)) };
}

/** The lab in a directory: a state file there names the lab's prefix, whatever prefix was asked for. */
export async function openLab(ref: LabRef): Promise<{ prefix: string; dir: string; state?: LabState }> {
  const { prefix, dir } = resolveLab(ref);
  const state = await readLabState(dir);
  return { prefix: state?.prefix ?? prefix, dir, state };
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
    await writeFile(paths.kawatchConfig, renderKawatchConfig(plan, node, policy, nodeSmtp(node, smtpPort), keepalivedStartCommand(programs, node)));
  }
}

/**
 * Starts the lab's mail recorder on `hosts` (the host's loopback for tests, each management link's
 * host end for the daemons in the namespaces), on `port` or a free one, and resolves with the port.
 */
export async function spawnMailRecorder(dir: string, hosts: readonly string[], programs: Programs, port?: number): Promise<number> {
  const paths = labPaths(dir);
  await rm(paths.mailRecorderReady, { force: true });
  const argv = [programs.node, programs.mailRecorder, '--dir', paths.mail, ...hosts.flatMap((h) => ['--listen', h]), ...(port === undefined ? [] : ['--port', String(port)]), '--ready', paths.mailRecorderReady];
  const pid = await spawnDetached(argv, paths.mailRecorderLog, childEnv());
  await record(dir, { role: 'mail-recorder', pid });
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
function describeLab(plan: LabPlan, policy: LabPolicy, smtpPort: number): LabInfo {
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
 * Builds the lab of two or three directors and returns once every daemon answers and each instance has its
 * intended MASTER. A lab already up with this prefix is removed first; on failure everything
 * made so far is removed and the error carries the tails of the logs.
 */
export async function labUp(options: LabUpOptions = {}): Promise<LabInfo> {
  const { prefix, dir } = resolveLab(options);
  const policy = options.policy ?? 'alert';
  if (!LAB_POLICIES.includes(policy)) throw new LabError(`invalid policy ${JSON.stringify(policy)}: expected ${LAB_POLICIES.join(', ')}`);
  const directors = options.directors ?? DEFAULT_DIRECTORS;
  const badCount = checkDirectors(directors);
  if (badCount) throw new LabError(badCount);
  await checkPrerequisites();
  const programs = await findPrograms();
  const unusable = [programs.launcher, dir].map(checkScriptPath).find((p) => p !== undefined) ?? (await writableByOthers(programs.launcher));
  if (unusable) throw new LabError(unusable);

  await labDown({ prefix, dir });
  await prepareLabDir(dir);
  const slot = freeManagementSlot(await hostIpv4Addresses(), directors);
  if (slot === undefined) throw new LabError(`no room left in 198.18.2.0/24 for the management subnets of ${directors} directors: take some labs down first`);
  const plan = planLab(prefix, dir, slot, directors);
  const names = planNames(plan);
  // Recorded before they exist: a crash halfway leaves a state file that names all of it.
  await writeLabState({ version: 1, prefix, dir, policy, createdAt: new Date().toISOString(), ...names, processes: [], split: [], cut: [], isolated: [], splitPairs: [], cutPairs: [] });

  try {
    await buildTopology(plan);
    // The recorder first: its port goes into the daemons' configuration.
    const smtpPort = await spawnMailRecorder(plan.dir, ['127.0.0.1', ...plan.nodes.map((n) => n.management.hostAddress)], programs);
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

export interface LabStatus {
  prefix: string;
  dir: string;
  /** `up` finished, every namespace exists and every recorded process runs. */
  up: boolean;
  policy?: LabPolicy;
  split: string[];
  cut: string[];
  splitPairs: [string, string][];
  cutPairs: [string, string][];
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
  return { prefix, dir, up, policy: state?.policy, split: state?.split ?? [], cut: state?.cut ?? [], splitPairs: state?.splitPairs ?? [], cutPairs: state?.cutPairs ?? [], namespaces, processes, strays, nodes, info: state?.info };
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
