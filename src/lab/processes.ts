import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { LabError } from './system.js';
import { waitFor, type Probe } from '../core/wait.js';

/** The programs the lab starts; nothing else is ever signalled, whatever its command line says. */
const LAB_PROGRAMS = new Set(['keepalived', 'node']);
const STOP_GRACE_MS = 5000;
const KILL_WAIT_MS = 2000;

/**
 * Starts a long-running process that outlives this one: its own session, output appended to a
 * log file, and not waited for by Node's event loop.
 */
export function spawnDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = argv;
  if (!file) throw new Error('spawnDetached: empty argv');
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', log, log], env });
    return new Promise((resolve, reject) => {
      child.once('error', (err) => reject(new LabError(`cannot start ${file}: ${err.message}`)));
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    });
  } finally {
    closeSync(log);
  }
}

async function procStat(pid: number): Promise<{ comm: string; state: string; ppid: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may itself contain spaces and parentheses: it ends at the last ')'.
    const close = text.lastIndexOf(')');
    const [state = '', ppid] = text.slice(close + 2).split(' ');
    return { comm: text.slice(text.indexOf('(') + 1, close), state, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

/** A zombie has exited: it only waits for its parent to collect it. */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

export async function parentOf(pid: number): Promise<number | undefined> {
  return (await procStat(pid))?.ppid;
}

/**
 * Whether a pid is still one of the lab's processes: a program the lab runs, with an argument
 * inside the lab directory. Guards every signal, since pids are reused.
 */
export async function belongsToLab(pid: number, labDir: string): Promise<boolean> {
  const stat = await procStat(pid);
  if (!stat || !LAB_PROGRAMS.has(stat.comm)) return false;
  try {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return args.some((a) => a === labDir || a.startsWith(`${labDir}/`));
  } catch {
    return false;
  }
}

/** Every lab process found by its command line, whatever the state file says (it may be missing after a crash). */
export async function findLabProcesses(labDir: string): Promise<number[]> {
  // Never this process or what started it: a shell or test runner may well mention the lab directory.
  const spared = new Set<number>();
  for (let pid: number | undefined = process.pid; pid && pid > 1 && !spared.has(pid); pid = await parentOf(pid)) spared.add(pid);
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const found: number[] = [];
  for (const pid of pids) {
    if (!spared.has(pid) && (await belongsToLab(pid, labDir))) found.push(pid);
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function allExited(pids: readonly number[]): Promise<Probe<void>> {
  const alive: number[] = [];
  for (const pid of pids) if (await isRunning(pid)) alive.push(pid);
  return alive.length === 0 ? { done: true, value: undefined } : { done: false, why: `still running: ${alive.join(', ')}` };
}

export interface TerminateOptions {
  signal?: 'SIGTERM' | 'SIGKILL';
  /** Processes that exit because the signalled ones do (keepalived's VRRP child): waited for, and killed if they linger. */
  dependents?: readonly number[];
  graceMs?: number;
}

/** Signals the processes (SIGTERM by default), waits for them and their dependents, then SIGKILLs whatever is left. */
export async function terminate(pids: readonly number[], options: TerminateOptions = {}): Promise<void> {
  const all = [...pids, ...(options.dependents ?? [])];
  if (all.length === 0) return;
  for (const pid of pids) signal(pid, options.signal ?? 'SIGTERM');
  try {
    await waitFor('processes to exit', () => allExited(all), { timeoutMs: options.graceMs ?? STOP_GRACE_MS });
  } catch {
    for (const pid of all) if (await isRunning(pid)) signal(pid, 'SIGKILL');
    await waitFor('processes to exit after SIGKILL', () => allExited(all), { timeoutMs: KILL_WAIT_MS });
  }
}
