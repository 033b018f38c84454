import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { labPaths, type LabPolicy } from './plan.js';
import { isRunning } from './processes.js';
import { LabError } from './system.js';

/** One director as `kawatch lab up --json` prints it. */
export interface LabNode {
  name: string;
  netns: string;
  /** Base URL of the node's kawatch API, reachable from the host namespace. */
  api: string;
  primary: string;
  secondary: string;
  /** The node's files: configs, logs, pid files, spool, FIFO. */
  dir: string;
  /** Where this node reaches the lab's mail recorder (the host end of its management link). */
  smtp: string;
}

export interface LabInfo {
  prefix: string;
  policy: LabPolicy;
  nodes: LabNode[];
  /** Instance name → VIP. */
  vips: Record<string, string>;
  /** Directory where the mail recorder writes each message. */
  mail: string;
  /** The mail recorder on the host's loopback. */
  smtp: string;
  dir: string;
}

export type NodePair = [string, string];

export type LabProcessRole = 'mail-recorder' | 'daemon' | 'keepalived';

export interface LabProcess {
  role: LabProcessRole;
  node?: string;
  pid: number;
}

/** `lab.json`: everything the lab created, written before each thing is created so a crash leaves a usable record. */
export interface LabState {
  version: 1;
  prefix: string;
  dir: string;
  policy: LabPolicy;
  createdAt: string;
  namespaces: string[];
  hostLinks: string[];
  processes: LabProcess[];
  /** Nodes whose primary segment currently drops VRRP. */
  split: string[];
  /** Nodes whose secondary link is cut. */
  cut: string[];
  /** Nodes whose primary link drops everything, witness included (with the secondary cut too: cut off from all). */
  isolated: string[];
  /** Pairs of nodes that drop each other's VRRP on the primary segment (names in order). */
  splitPairs: NodePair[];
  /** Pairs of nodes whose secondary link drops each other's traffic. */
  cutPairs: NodePair[];
  /** Set once `up` has finished. */
  info?: LabInfo;
}

/** Undefined when there is no usable state file: never created, already removed, or not ours. */
export async function readLabState(dir: string): Promise<LabState | undefined> {
  let doc: Partial<LabState>;
  try {
    doc = JSON.parse(await readFile(labPaths(dir).state, 'utf8')) as Partial<LabState>;
  } catch {
    return undefined;
  }
  if (doc.version !== 1 || !Array.isArray(doc.namespaces) || !Array.isArray(doc.hostLinks) || !Array.isArray(doc.processes)) return undefined;
  return { split: [], cut: [], isolated: [], splitPairs: [], cutPairs: [], ...doc } as LabState;
}

/** Atomic (temp file + rename): a reader never sees half a state file, and two writers never share a temp file. */
export async function writeLabState(state: LabState): Promise<void> {
  const path = labPaths(state.dir).state;
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, path);
}

/** Longest a lab process waits for another's update of lab.json: each takes milliseconds. */
const LOCK_TIMEOUT_MS = 10_000;
const LOCK_RETRY_MS = 10;

/**
 * One update of lab.json at a time across processes: the test runner or `kawatch lab` and a
 * daemon's start_command (`kawatch lab start-keepalived`) may record a process at the same
 * moment. The lock file holds its owner's pid; one whose owner is gone is taken over.
 */
async function withStateLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const lock = `${labPaths(dir).state}.lock`;
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Empty while its owner has created it and not yet written its pid: that owner is alive.
      const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (owner > 0 && !(await isRunning(owner))) await rm(lock, { force: true });
      else if (Date.now() >= deadline) throw new LabError(`${lock} is held by pid ${owner || '(unknown)'} for more than ${LOCK_TIMEOUT_MS} ms`);
      else await sleep(LOCK_RETRY_MS);
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

/** Updates of this process, one after the other: parts started in parallel record themselves concurrently. */
let updates: Promise<unknown> = Promise.resolve();

export function updateLabState(dir: string, change: (state: LabState) => LabState): Promise<LabState> {
  const update = updates.then(() =>
    withStateLock(dir, async () => {
      const state = await readLabState(dir);
      if (!state) throw new LabError(`no lab state in ${dir}: is the lab up?`);
      const next = change(state);
      await writeLabState(next);
      return next;
    }),
  );
  updates = update.catch(() => {});
  return update;
}

/** Records a started process, replacing the entry of the process it restarts. */
export function withProcess(state: LabState, entry: LabProcess): LabState {
  const others = state.processes.filter((p) => p.role !== entry.role || p.node !== entry.node);
  return { ...state, processes: [...others, entry] };
}
