import { createHmac } from 'node:crypto';
import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../core/log.js';
import type { DaemonPart } from '../core/daemon-part.js';
import { CoalescingTask } from '../core/coalescing-task.js';
import { readSecret } from '../core/secret.js';
import type { Change } from '../state/snapshot.js';
import { readChecked } from '../core/safe-file.js';
import type { StateStore } from '../state/store.js';
import { DumpError, parseDump, sameStates, withTextDetails } from './dump.js';
import type { DumpGroup, DumpInstance } from '../model/vrrp.js';
import { keepalivedTmpdir, probeKeepalived } from './process.js';
import { CapabilitiesProbe, formatVersion, type DumpDirectory, type KeepalivedCapabilities } from './capabilities.js';
import { halfMadeMasters, parseTextDump, parseTextGroups } from './text-dump.js';
import { authMaterialByInstance } from './conf/auth.js';
import { parseKeepalivedConf } from './conf/parse.js';
import { dataDumpPath, dataDumpSetting } from './conf/dump-files.js';
import type { ParsedConf } from './conf/ast.js';

/** File timestamps use the kernel's coarse clock: two dumps closer than a few jiffies could share an mtime. */
const MIN_GAP_MS = 25;
const POLL_MS = 5;
const TRANSITION_DEBOUNCE_MS = 10;
/**
 * Far above any real dump (a few hundred bytes per instance), far below what would hurt: the dump
 * lives in keepalived's TMPDIR, /tmp by default, where anyone may put a file of any size first.
 */
const MAX_DUMP_BYTES = 16 * 1024 * 1024;

/** The dump as keepalived (root) wrote it: a regular file of a trusted owner, never through a link. */
async function readDump(path: string): Promise<string> {
  return (await readChecked(path, { maxBytes: MAX_DUMP_BYTES })).toString('utf8');
}

export interface DumpSourceOptions {
  trigger: 'signal' | 'none';
  /** The JSON dump's path; default: keepalived.json where this keepalived writes its dumps. */
  path?: string;
  /** `auto`: what the detected capabilities say (JSON where the build has it, else the text dumps); a number: JSON on that signal. */
  signal: 'auto' | number;
  intervalMs: number;
  timeoutMs: number;
  onTransition: boolean;
  pidFile: string;
  procfs: string;
  binary: string;
  /** Keys the digest of each instance's authentication settings (the peer secret file); none, no digest. */
  authKeyFile?: string;
  /** keepalived.conf: where a keepalived that masks passwords in its dumps (2.4+) still says them. */
  configFile?: string;
  /** Shared with the other parts that ask; by default this source asks `binary` itself. */
  capabilities?: CapabilitiesProbe;
  /** Runs before each dump is applied, as before each hook and FIFO report: see ProcessSource.poll. */
  checkProcess?: () => void;
}

type Signal = number | NodeJS.Signals;

/** Which dump to ask this keepalived for, and with which signals. */
export type DumpPlan =
  /** `dataSignal`: keepalived.data, for the verdicts of the vrrp_scripts the JSON dump lists without them. */
  | { kind: 'json'; signal: Signal; dataSignal?: Signal }
  /** keepalived.data on the DATA signal, then keepalived.stats on the STATS signal. */
  | { kind: 'text'; dataSignal: Signal; statsSignal: Signal };

/**
 * The JSON dump where keepalived can write one, else the text dumps (CentOS 7's 1.3.5, RHEL 8's
 * 2.1.5 built without JSON). A signal set in the configuration means JSON on that signal, whatever
 * keepalived says: the operator knows a build that answers --signum wrongly.
 */
export function planDump(caps: KeepalivedCapabilities | undefined, signal: 'auto' | number): DumpPlan {
  if (signal !== 'auto') return caps ? { kind: 'json', signal, dataSignal: caps.signals.data } : { kind: 'json', signal };
  if (!caps) throw new Error("no signal to dump with: keepalived's capabilities are unknown and sources.dump.signal is auto");
  if (caps.signals.json !== undefined) return { kind: 'json', signal: caps.signals.json, dataSignal: caps.signals.data };
  return { kind: 'text', dataSignal: caps.signals.data, statsSignal: caps.signals.stats };
}

/**
 * The directory keepalived writes its dumps to, as seen from its own root: before 2.2.5 /tmp
 * whatever TMPDIR says, from 2.2.5 its TMPDIR when absolute. Unknown capabilities: TMPDIR, as the
 * JSON dump has always been read.
 */
export function dumpDirectoryOf(where: DumpDirectory | undefined, tmpdir: string | undefined): string {
  if (where?.kind === 'fixed') return where.directory;
  return tmpdir !== undefined && tmpdir.startsWith('/') ? tmpdir : (where?.fallback ?? '/tmp');
}

/** Distinguishes a freshly written dump from the previous one. */
async function fileVersion(path: string): Promise<bigint | undefined> {
  try {
    // The link itself, not what it points to: a link is refused when read, and must not look fresh.
    return (await lstat(path, { bigint: true })).mtimeNs;
  } catch {
    return undefined;
  }
}

/**
 * What tells one state of these files (keepalived.conf and its includes) from another; undefined
 * when one cannot be read. Size and inode beside the mtime: an edit within one tick of the kernel's
 * coarse clock, or a file replaced by a rename, still shows.
 */
async function filesVersion(files: readonly string[]): Promise<string | undefined> {
  const parts = await Promise.all(files.map((f) => stat(f, { bigint: true }).then((st) => `${st.ino}:${st.size}:${st.mtimeNs}`, () => undefined)));
  return parts.includes(undefined) ? undefined : parts.join(',');
}

/**
 * Takes keepalived JSON dumps without the races that make other exporters flap: one dump at a
 * time, and after signalling it waits (bounded) for a file that is newer than the previous one
 * and parses completely, instead of reading whatever is there after a fixed delay.
 */
export class DumpSource implements DaemonPart {
  readonly name = 'dump' as const;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private readonly dumper = new CoalescingTask(() => (this.stopped ? Promise.resolve() : this.dumpOnce()));
  private lastDumpAt = 0;
  private plan?: DumpPlan;
  private readonly capabilities: CapabilitiesProbe;
  private digestAuth?: (material: string) => string;
  /** keepalived.conf (`configFile`) and its includes as last read, with the version of those files then, or why it could not be read. */
  private conf?: { files: readonly string[]; version: string | undefined; parsed?: ParsedConf; error?: string };
  /** What keepalived.conf was last needed for and could not give, said once until it can again. */
  private readonly confUnreadable = new Set<'auth' | 'data'>();
  private stopped = false;
  /** The failure last logged: a dump that keeps failing the same way is said once, and counted each time. */
  private lastLoggedError?: string;
  /** The same for keepalived.data taken beside a JSON dump, which does not fail the dump. */
  private lastScriptsError?: string;
  /** The last text dump read, and of which keepalived: what the next one is checked against. */
  private lastText?: { pid: number; instances: DumpInstance[] };

  constructor(
    private readonly options: DumpSourceOptions,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {
    this.capabilities = options.capabilities ?? new CapabilitiesProbe(options.binary);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.store.apply({ type: 'source-enabled', source: 'dump', enabled: true });
    if (this.options.authKeyFile) {
      const key = await readSecret(this.options.authKeyFile);
      this.digestAuth = (material) => createHmac('sha256', key).update(`kawatch-auth-digest\n${material}`).digest('hex').slice(0, 16);
    }
    if (this.options.trigger === 'signal') {
      // Only a configured signal lets the source go on without knowing keepalived.
      const caps = await this.capabilities.get().catch((err: Error) => {
        if (this.options.signal === 'auto') throw err;
        this.log.warn({ error: err.message }, 'keepalived capabilities unknown; dumping JSON on the configured signal');
        return undefined;
      });
      this.plan = planDump(caps, this.options.signal);
      if (caps) {
        const version = formatVersion(caps.version);
        const what = this.plan.kind === 'json' ? 'the JSON dump' : 'the text dumps (keepalived.data, keepalived.stats): built without JSON';
        this.log.info({ version, dump: this.plan.kind, directory: caps.dumpDirectory }, `keepalived ${version}: reading ${what}`);
      }
    }

    await this.request();
    this.timer = setInterval(() => void this.request(), this.options.intervalMs);
  }

  /**
   * keepalived 2.4 and later write `********` for every password in their dumps, so the digest peers
   * compare comes from keepalived.conf, read again whenever it changed (a keepalived reload may
   * change a password). Only where the digest can be needed: peers configured, and a keepalived not
   * known to print its passwords. Unreadable: no digest (never a false match), said once.
   */
  private async authFromConf(): Promise<ReadonlyMap<string, string> | undefined> {
    if (!this.digestAuth || this.capabilities.current?.masksPasswords === false) return undefined;
    const parsed = await this.confFor('auth', 'keepalived masks passwords in its dumps and its configuration cannot be read: authentication is not compared with the peers');
    return parsed && authMaterialByInstance(parsed);
  }

  /**
   * keepalived.conf for `what`, read again only when one of its files changed (a reload may change
   * it); undefined when none is configured or it cannot be read, which is said once (`warning`).
   */
  private async confFor(what: 'auth' | 'data', warning: string): Promise<ParsedConf | undefined> {
    const file = this.options.configFile;
    if (!file) return undefined;
    const version = await filesVersion(this.conf?.files ?? [file]);
    if (!this.conf || this.conf.version !== version || version === undefined) {
      let parsed: ParsedConf | undefined;
      let error: string | undefined;
      try {
        parsed = await parseKeepalivedConf(file);
      } catch (err) {
        error = (err as Error).message;
      }
      const files = parsed?.files ?? [file];
      // The version taken before the read, so an edit during it is read again; new includes are versioned from now.
      const sameFiles = files.join('\0') === (this.conf?.files ?? [file]).join('\0');
      this.conf = { files, version: sameFiles ? version : await filesVersion(files), parsed, error };
    }
    if (this.conf.parsed) this.confUnreadable.delete(what);
    else if (!this.confUnreadable.has(what)) {
      this.confUnreadable.add(what);
      this.log.warn({ file, error: this.conf.error }, warning);
    }
    return this.conf.parsed;
  }

  /**
   * keepalived.data's path: where keepalived.conf's state_dump_file puts it (2.3.3+), else in the
   * dump directory. A path of keepalived's is looked at through its root, as the dump directory is.
   */
  private async dataFileOf(pid: number, directory: { asKeepalived: string; seen: string }): Promise<string> {
    const inDirectory = join(directory.seen, 'keepalived.data');
    if (this.capabilities.current?.dataFileKeyword !== 'state_dump_file') return inDirectory;
    const parsed = await this.confFor('data', "keepalived.conf cannot be read: keepalived.data is looked for in keepalived's dump directory, not where a state_dump_file may put it");
    const setting = parsed && dataDumpSetting(parsed);
    if (!setting) return inDirectory;
    const path = dataDumpPath(setting, directory.asKeepalived);
    return join(await this.seenFromKeepalived(pid, dirname(path)), basename(path));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    await this.dumper.idle();
    this.store.apply({ type: 'source-enabled', source: 'dump', enabled: false });
  }

  /** A transition another source reported: a fresh dump confirms it and tells what it changed. */
  onStateChange(c: Change): void {
    if (this.stopped || !this.options.onTransition) return;
    // Not after STOP: a stopping keepalived no longer answers the signal. Not for a sync group: its
    // members report their own transitions, and keepalived tells a group first (1.3.5 before its
    // members have counted theirs, so a dump then would show them half made).
    const news = c.type === 'transition' && c.scope === 'instance' && c.source !== 'dump' && c.source !== 'process' && c.to !== 'STOP' && c.to !== 'DELETED';
    if (news || c.type === 'unattributed' || (c.type === 'process' && c.up)) this.requestSoon();
  }

  private requestSoon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.request(), TRANSITION_DEBOUNCE_MS);
  }

  /** Requests during a dump are folded into one more dump after it. */
  request(): Promise<void> {
    return this.dumper.run();
  }

  private async dumpOnce(): Promise<void> {
    const wait = this.lastDumpAt + MIN_GAP_MS - Date.now();
    if (wait > 0) await sleep(wait);
    this.lastDumpAt = Date.now();
    try {
      const taken = await this.take();
      if (taken) {
        // The keepalived signalled may be one restarted since the last check: known as such before its states are.
        this.options.checkProcess?.();
        this.store.apply({ type: 'dump', at: Date.now(), instances: taken.instances, pid: taken.pid, takenAfter: taken.takenAfter, groups: taken.groups });
        this.store.apply({ type: 'source-ok', source: 'dump', at: Date.now() });
        this.lastLoggedError = undefined;
      }
    } catch (err) {
      const error = (err as Error).message;
      if (error !== this.lastLoggedError) this.log.warn({ error }, 'keepalived dump failed');
      this.lastLoggedError = error;
      this.store.apply({ type: 'source-error', source: 'dump', at: Date.now(), error });
    }
  }

  /**
   * Returns undefined when keepalived is not running: no data, which is not a failure of this
   * source. `pid`: the keepalived signalled, whose counters the dump holds (unknown without a signal);
   * `takenAfter`: when it was signalled for the state it dumps, so the dump shows every transition
   * made before then (state/identity.ts).
   */
  private async take(): Promise<{ instances: DumpInstance[]; pid?: number; takenAfter?: number; groups?: readonly DumpGroup[] } | undefined> {
    const { trigger, procfs, pidFile } = this.options;
    if (trigger === 'none') {
      const path = this.options.path ?? '/tmp/keepalived.json';
      const confAuth = await this.authFromConf();
      return { instances: parseDump(await readDump(path), path, this.digestAuth, confAuth) };
    }
    const proc = probeKeepalived(pidFile, procfs);
    if (!proc.up || proc.pid === undefined) return undefined;
    const pid = proc.pid;
    const directories = await this.directoryOf(pid);
    const directory = directories.seen;
    const plan = this.plan!;
    const confAuth = await this.authFromConf();
    const deadline = Date.now() + this.options.timeoutMs;
    const fresh = <T>(path: string, signal: Signal, parse: (text: string) => T) => this.signalAndRead(pid, path, signal, deadline, parse);
    try {
      const dataFile = await this.dataFileOf(pid, directories);
      if (plan.kind === 'json') {
        const path = this.options.path ?? join(directory, 'keepalived.json');
        for (;;) {
          const takenAfter = Date.now();
          const instances = await fresh(path, plan.signal, (text) => parseDump(text, path, this.digestAuth, confAuth));
          if (plan.dataSignal === undefined || !instances.some((i) => i.scripts !== undefined)) return { instances, pid, takenAfter };
          // The JSON dump is complete without the verdicts: a keepalived.data that does not come (where a
          // state_dump_file kawatch cannot read puts it, 2.3.3+) leaves them unknown, said once, and costs the dump nothing else.
          const beside = await fresh(dataFile, plan.dataSignal, (text) => parseTextDump(text, undefined, { dataFile })).catch((err: Error) => {
            if (err.message !== this.lastScriptsError) this.log.warn({ error: err.message }, 'keepalived.data beside the JSON dump: vrrp_script verdicts unknown');
            this.lastScriptsError = err.message;
            return [];
          });
          if (beside.length > 0) this.lastScriptsError = undefined;
          // A transition between the two: what keepalived.data tells (a script not answered yet) may not
          // be of the JSON's moment. Both are taken again, within the same bounded wait.
          const oneMoment = sameStates(instances, beside);
          if (!oneMoment && Date.now() + MIN_GAP_MS < deadline) {
            await sleep(MIN_GAP_MS);
            continue;
          }
          return { instances: withTextDetails(instances, oneMoment ? beside : []), pid, takenAfter };
        }
      }
      const statsFile = join(directory, 'keepalived.stats');
      // The data alone must parse before the stats are asked for: they are matched against it.
      for (;;) {
        const takenAfter = Date.now();
        const data = await fresh(dataFile, plan.dataSignal, (text) => (parseTextDump(text, undefined, { dataFile }), parseTextGroups(text, [], dataFile), text));
        const instances = await fresh(statsFile, plan.statsSignal, (stats) => parseTextDump(data, stats, { dataFile, statsFile, digestAuth: this.digestAuth, confAuth }));
        const previous = this.lastText?.pid === pid ? this.lastText.instances : undefined;
        // Taken again, within the same bounded wait, while keepalived is between deciding and making a transition.
        if (halfMadeMasters(previous, instances).length > 0 && Date.now() + MIN_GAP_MS < deadline) {
          await sleep(MIN_GAP_MS);
          continue;
        }
        this.lastText = { pid, instances };
        return { instances, pid, takenAfter, groups: parseTextGroups(data, instances, dataFile) };
      }
    } catch (err) {
      // A keepalived that stopped while we waited left no data; that is not a failure of this source.
      if (err instanceof StaleDumpError && !probeKeepalived(pidFile, procfs).up) return undefined;
      throw err;
    }
  }

  /**
   * Where this keepalived writes its dumps, through its own root (/proc/PID/root): a keepalived
   * with a private /tmp (systemd PrivateTmp, a container) writes where ours does not reach. Without
   * the right to follow that link (no CAP_SYS_PTRACE, as in the shipped unit), the path as we see it.
   */
  private async directoryOf(pid: number): Promise<{ asKeepalived: string; seen: string }> {
    const where = this.capabilities.current?.dumpDirectory;
    const tmpdir = where?.kind === 'fixed' ? undefined : await keepalivedTmpdir(this.options.procfs, pid, where?.fallback ?? '/tmp');
    const directory = dumpDirectoryOf(where, tmpdir);
    return { asKeepalived: directory, seen: await this.seenFromKeepalived(pid, directory) };
  }

  private async seenFromKeepalived(pid: number, directory: string): Promise<string> {
    const throughRoot = join(this.options.procfs, String(pid), 'root', directory);
    return (await stat(throughRoot).then((st) => st.isDirectory(), () => false)) ? throughRoot : directory;
  }

  /**
   * Signals keepalived and waits (bounded) for `path` to be newer than before the signal and to
   * parse completely: keepalived rewrites its dumps in place, so a partial write is read again.
   */
  private async signalAndRead<T>(pid: number, path: string, signal: Signal, deadline: number, parse: (text: string) => T): Promise<T> {
    const before = await fileVersion(path);
    process.kill(pid, signal);
    let lastProblem = 'keepalived wrote no new dump';
    while (Date.now() < deadline) {
      await sleep(POLL_MS);
      const version = await fileVersion(path);
      if (version === undefined || version === before) continue;
      try {
        return parse(await readDump(path));
      } catch (err) {
        if (!(err instanceof DumpError)) throw err;
        lastProblem = err.message;
      }
    }
    throw new StaleDumpError(`no fresh, complete dump at ${path} within ${this.options.timeoutMs} ms after signal ${signal} to pid ${pid}: ${lastProblem}`);
  }
}

/** keepalived did not write a fresh, complete dump in time. */
class StaleDumpError extends Error {
  override name = 'StaleDumpError';
}
