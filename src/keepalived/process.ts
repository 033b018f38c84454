import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { readCheckedSync, UnsafeFileError } from '../core/safe-file.js';
import type { StateStore } from '../state/store.js';

/** A pid and a newline; anything larger is not keepalived's pid file. */
const MAX_PID_FILE_BYTES = 64;

export interface ProcessState {
  up: boolean;
  pid?: number;
  /**
   * Epoch ms the process started (/proc/PID/stat's starttime after the boot): what was told before
   * it came from the keepalived before it. Within a few ms; which process it is, `identity` says.
   */
  startedAt?: number;
  /**
   * Which keepalived it is, exactly: the boot, the pid and the clock tick it started at. A
   * keepalived restarted unseen (while kawatch was down, or between two checks, pid reused
   * or not) has another; the same one has the same across kawatch restarts, whatever the wall
   * clock did meanwhile (the epoch of the boot moves with every clock step and NTP slew).
   */
  identity?: string;
  /** Why it is considered down; for logs and the state API. */
  reason?: string;
}

/**
 * `/proc/PID/stat` → command name and state letter. The name is parenthesised and may itself
 * contain spaces or parentheses, so the state is what follows the *last* ") ".
 */
export function parseProcStat(text: string): { comm: string; state: string; startTicks?: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(') ');
  if (open < 0 || close < open) return undefined;
  // Field 22, starttime: the 20th after the name (proc(5)), in clock ticks since boot.
  const startTicks = Number(text.slice(close + 2).split(' ')[19]);
  return { comm: text.slice(open + 1, close), state: text.slice(close + 2, close + 3), ...(Number.isSafeInteger(startTicks) ? { startTicks } : {}) };
}

/**
 * Clock ticks per second of /proc's times: USER_HZ, which the kernel fixes at 100 for what it
 * shows user space on every architecture Linux runs keepalived on (sysconf(_SC_CLK_TCK)).
 */
const USER_HZ = 100;

interface Boot {
  /** Epoch ms of the boot, once read: start times within a few ms, and the same for the daemon's life. */
  epochMs?: number;
  /** /proc/sys/kernel/random/boot_id: tells this boot's processes from the last one's. */
  id?: string;
}

/** Per procfs: the probe runs every second and before each report, and a boot does not change while the host runs. */
const boots = new Map<string, Boot>();

/**
 * /proc/uptime taken from now, to the 10 ms it counts in (on the boot-time clock, as starttime):
 * /proc/stat's btime is whole seconds, which would put a start up to a second early, before a
 * transition the keepalived before it made. btime where /proc/uptime is missing.
 */
function bootOf(procfs: string): Boot {
  const known = boots.get(procfs);
  if (known) return known;
  const boot: Boot = {};
  const uptime = Number(readOr(join(procfs, 'uptime')).split(' ')[0]);
  if (uptime > 0) boot.epochMs = Math.round(Date.now() - uptime * 1000);
  else {
    const seconds = Number(readOr(join(procfs, 'stat')).split('\n').find((l) => l.startsWith('btime '))?.slice('btime '.length));
    if (Number.isSafeInteger(seconds) && seconds > 0) boot.epochMs = seconds * 1000;
  }
  const id = readOr(join(procfs, 'sys', 'kernel', 'random', 'boot_id')).trim();
  if (id) boot.id = id;
  boots.set(procfs, boot);
  return boot;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * A pid file names a live keepalived only if /proc/PID/stat says so: pids get reused, and a
 * killed keepalived stays a zombie (with its name) until it is reaped. Synchronous, without the
 * thread pool: it is a few hundred bytes of procfs, and the hook and FIFO sources check it before
 * each state report, in the order the reports come.
 */
export function probeKeepalived(pidFile: string, procfs: string): ProcessState {
  let text: string;
  try {
    // Never waits on a FIFO or follows a link planted where keepalived writes its pid.
    text = readCheckedSync(pidFile, { maxBytes: MAX_PID_FILE_BYTES }).toString('utf8');
  } catch (err) {
    if (err instanceof UnsafeFileError) return { up: false, reason: `pid file ${err.message}` };
    return { up: false, reason: `pid file ${pidFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return { up: false, reason: `pid file ${pidFile} does not hold a pid: ${JSON.stringify(text.slice(0, 40))}` };
  let stat: ReturnType<typeof parseProcStat>;
  try {
    stat = parseProcStat(readFileSync(join(procfs, String(pid), 'stat'), 'utf8'));
  } catch {
    return { up: false, pid, reason: `pid ${pid} from ${pidFile} is not running` };
  }
  if (stat?.comm !== 'keepalived') return { up: false, pid, reason: `pid ${pid} is ${JSON.stringify(stat?.comm)}, not keepalived (stale pid file)` };
  if (stat.state === 'Z' || stat.state === 'X') return { up: false, pid, reason: `keepalived pid ${pid} has exited (not yet reaped)` };
  if (stat.startTicks === undefined) return { up: true, pid };
  const boot = bootOf(procfs);
  const identity = `${boot.id ?? 'boot'}/${pid}/${stat.startTicks}`;
  return boot.epochMs === undefined ? { up: true, pid, identity } : { up: true, pid, startedAt: boot.epochMs + (stat.startTicks * 1000) / USER_HZ, identity };
}

/** keepalived writes its dumps under its own TMPDIR, which may differ from ours; `fallback` when it has none. */
export async function keepalivedTmpdir(procfs: string, pid: number, fallback = '/tmp'): Promise<string> {
  try {
    const environ = await readFile(join(procfs, String(pid), 'environ'), 'latin1');
    const entry = environ.split('\0').find((e) => e.startsWith('TMPDIR='));
    const dir = entry?.slice('TMPDIR='.length);
    if (dir && dir.startsWith('/')) return dir;
  } catch {
    // Not readable (other user, fixture without environ): keepalived's default applies.
  }
  return fallback;
}

/** Keeps `keepalived.up` current from the pid file, independent of dumps (which can be slow or fail). */
export class ProcessSource implements DaemonPart {
  readonly name = 'process' as const;
  private timer?: NodeJS.Timeout;
  private lastReason?: string;

  constructor(
    private readonly pidFile: string,
    private readonly procfs: string,
    private readonly intervalMs: number,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.store.apply({ type: 'source-enabled', source: 'process', enabled: true });
    this.poll();
    this.timer = setInterval(() => this.poll(), this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.store.apply({ type: 'source-enabled', source: 'process', enabled: false });
  }

  /**
   * Also called by the hook and FIFO sources before each state report: a keepalived restarted since
   * the last check (within the interval) is then known before the report of its first transition,
   * which is counted from STOP, not from the state of the keepalived before it.
   */
  poll(): ProcessState {
    const state = probeKeepalived(this.pidFile, this.procfs);
    if (state.reason !== this.lastReason) {
      if (state.up) this.log.info({ pid: state.pid }, 'keepalived is running');
      else this.log.warn({ reason: state.reason }, 'keepalived is not running');
      this.lastReason = state.reason;
    }
    const at = Date.now();
    this.store.apply({ type: 'process', at, up: state.up, pid: state.pid, startedAt: state.startedAt, identity: state.identity });
    this.store.apply({ type: 'source-ok', source: 'process', at });
    return state;
  }
}
