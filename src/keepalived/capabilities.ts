import { exec } from '../core/exec.js';

/**
 * What a keepalived binary can do, from what it says about itself (`keepalived -v`, `--signum`).
 *
 * Every rule below was checked against the sources of the releases directors run (1.3.5, 2.0.19,
 * 2.1.5, 2.2.8, 2.3.4, 2.4.3); a boundary between two of them is dated by keepalived's ChangeLog
 * (kept up to 2.0.20) or by the release notes, and the file each rule comes from is named with it.
 */

export interface KeepalivedVersion {
  major: number;
  minor: number;
  patch: number;
}

/** Where keepalived writes a dump file. */
export type DumpDirectory =
  /** A path compiled into keepalived: the environment has no say. */
  | { kind: 'fixed'; directory: string }
  /** `$TMPDIR` when it is an absolute path, otherwise the build's tmp dir (`--with-tmp-dir`, default /tmp). */
  | { kind: 'tmpdir'; fallback: string };

export type TrackFileKeyword =
  /** no file tracking at all */
  | 'none'
  /** only the `vrrp_track_file NAME { ... }` block */
  | 'vrrp_track_file'
  /** `track_file NAME { ... }`, with `vrrp_track_file` kept as a deprecated synonym */
  | 'track_file';

export interface KeepalivedCapabilities {
  version: KeepalivedVersion;
  /** The compile-time options keepalived lists (`Build options:` in 1.3, `Config options:` from 2.0). */
  options: readonly string[];
  /** keepalived answers `--signum=FUNCTION` with the signal that triggers it. */
  signum: boolean;
  /** The signals that make keepalived write its dumps; `json` only when it can write one. */
  signals: { data: number | NodeJS.Signals; stats: number | NodeJS.Signals; json?: number };
  /** `keepalived.json` (built with --enable-json). */
  jsonDump: boolean;
  /** Where keepalived.data, keepalived.stats and keepalived.json go unless a keyword moves them. */
  dumpDirectory: DumpDirectory;
  /** The global_defs keyword that moves keepalived.data (the only dump a keyword really moves). */
  dataFileKeyword?: 'state_dump_file';
  /** The text dump's VIP section header: `Virtual IP = 2`, `Virtual IP :` or `Virtual IP (2):`. */
  textVipHeader: 'count-equals' | 'colon' | 'count-parenthesised';
  /** Dumps show `********` instead of the VRRP authentication password. */
  masksPasswords: boolean;
  /** `vrrp_notify_fifo`: state changes as lines on a FIFO. */
  notifyFifo: boolean;
  /** `vrrp_notify_priority_changes`: MASTER_PRIORITY/BACKUP_PRIORITY lines on the FIFO. */
  fifoPriorityChanges: boolean;
  trackFile: TrackFileKeyword;
  /** `notify "/usr/bin/kawatch notify"` runs a command with arguments (1.3.5: one file name, not found). */
  notifyTakesArguments: boolean;
  /** keepalived reports STOP (FIFO line, generic notify) when it shuts an instance down. */
  stopNotification: boolean;
}

export class CapabilitiesError extends Error {
  override name = 'CapabilitiesError';
}

/** What a keepalived binary printed when asked about itself. */
export interface SelfReport {
  /** The output of `keepalived -v` (keepalived writes it to stderr). */
  versionOutput: string;
  /**
   * The signal numbers `keepalived --signum=DATA|STATS|JSON` printed; undefined when `--signum` is
   * not accepted. JSON is absent from a build without JSON.
   */
  signum?: { DATA: number; STATS: number; JSON?: number };
}

export function parseVersion(text: string): KeepalivedVersion | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(text.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

export function compareVersions(a: KeepalivedVersion, b: KeepalivedVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function formatVersion(v: KeepalivedVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

function atLeast(v: KeepalivedVersion, text: string): boolean {
  return compareVersions(v, parseVersion(text)!) >= 0;
}

const VERSION_LINE = /^Keepalived v(\d+\.\d+\.\d+)\b/m;
const OPTIONS_LINE = /^(?:Build|Config) options:[ \t]*(.*)$/m;

/**
 * The capabilities of the keepalived that printed `report`. Throws CapabilitiesError when the
 * output is not keepalived's, or contradicts itself (JSON in its options but no JSON signal).
 */
export function capabilitiesFrom(report: SelfReport, source = 'keepalived -v'): KeepalivedCapabilities {
  const versionText = VERSION_LINE.exec(report.versionOutput)?.[1];
  const version = versionText ? parseVersion(versionText) : undefined;
  if (!version) {
    throw new CapabilitiesError(
      `${source}: no "Keepalived vX.Y.Z" line in ${JSON.stringify(report.versionOutput.slice(0, 120))}; expected keepalived's own -v output`,
    );
  }
  const optionsLine = OPTIONS_LINE.exec(report.versionOutput)?.[1];
  if (optionsLine === undefined) {
    throw new CapabilitiesError(`${source}: keepalived ${formatVersion(version)} printed no "Build options:" or "Config options:" line`);
  }
  const options = optionsLine.split(/\s+/).filter(Boolean);
  const jsonDump = options.includes('JSON');
  if (jsonDump && report.signum && report.signum.JSON === undefined) {
    throw new CapabilitiesError(`${source}: keepalived ${formatVersion(version)} lists JSON among its options but --signum=JSON names no signal`);
  }

  // 2.1.5 keepalived/vrrp/vrrp_print.c: fopen_safe("/tmp/keepalived.data") and "/tmp/keepalived.stats";
  // vrrp_json.c: fopen_safe("/tmp/keepalived.json"), whatever TMPDIR says (2.0.19 the same; 1.3.5
  // vrrp_print.c: fopen("/tmp/keepalived.data")). 2.2.8 lib/utils.c set_tmp_dir(): TMPDIR if it starts
  // with '/', else KA_TMP_DIR (configure.ac --with-tmp-dir, default /tmp); vrrp_print.c and vrrp_json.c
  // build every dump's name with make_tmp_filename(). The change came with 2.2.5 (release notes).
  const dumpDirectory: DumpDirectory = atLeast(version, '2.2.5') ? { kind: 'tmpdir', fallback: '/tmp' } : { kind: 'fixed', directory: '/tmp' };

  return {
    version,
    options,
    signum: report.signum !== undefined,
    // 2.1.5 lib/signals.c get_signum(): DATA is SIGUSR1, STATS SIGUSR2, JSON SIGJSON (vrrp_json.h:
    // SIGRTMIN + 2) only #ifdef _WITH_JSON_. 1.3.5 has no --signum (added in 1.3.8, ChangeLog) and
    // dumps on SIGUSR1/SIGUSR2 (vrrp_daemon.c: signal_set(SIGUSR1, sigusr1_vrrp)).
    signals: report.signum
      ? { data: report.signum.DATA, stats: report.signum.STATS, ...(jsonDump && report.signum.JSON !== undefined ? { json: report.signum.JSON } : {}) }
      : { data: 'SIGUSR1', stats: 'SIGUSR2' },
    jsonDump,
    dumpDirectory,
    // 2.3.4 core/global_parser.c installs state_dump_file, stats_dump_file and json_dump_file, but only
    // state_dump_file is read (global_data.c open_dump_file()); vrrp_print_stats() and vrrp_print_json()
    // still call make_tmp_filename("keepalived.stats"/"keepalived.json") (vrrp_print.c, vrrp_json.c),
    // the same in 2.4.3. None of the three exists in 2.2.8. Added in 2.3.3 (release notes).
    ...(atLeast(version, '2.3.3') ? { dataFileKeyword: 'state_dump_file' as const } : {}),
    // vrrp_data.c dump_vrrp(): 2.0.19 "Virtual IP = %u", 2.1.5 "Virtual IP :", 2.2.8 "Virtual IP (%u):"
    // (2.2.5, release notes); 1.3.5 vrrp_print.c vrrp_print() "Virtual IP = %d".
    textVipHeader: atLeast(version, '2.2.5') ? 'count-parenthesised' : atLeast(version, '2.1.0') ? 'colon' : 'count-equals',
    // 2.4.3 vrrp_data.c: "Password = ********"; vrrp_json.c: jsonw_string_field(wr, prop, "********").
    // 2.3.4 vrrp_data.c prints auth_data as is. Masked from 2.4.0 (release notes).
    masksPasswords: atLeast(version, '2.4.0'),
    // No vrrp_notify_fifo anywhere in 1.3.5; "Add notify FIFO" is in the 1.3.6 ChangeLog entry.
    notifyFifo: atLeast(version, '1.3.6'),
    // 2.0.19 core/global_parser.c install_keyword("vrrp_notify_priority_changes"); ChangeLog 2.0.16:
    // "Add vrrp instance priority change notifications on FIFOs only".
    fifoPriorityChanges: atLeast(version, '2.0.16'),
    // 1.3.5 has neither keyword; 2.0.19 vrrp_parser.c install_keyword_root("vrrp_track_file") (ChangeLog
    // 2.0.0: "Add vrrp_track_file option"); 2.1.5 trackers/track_file.c install_keyword_root("track_file")
    // and "vrrp_track_file" as a "Deprecated synonym - after v2.0.20", so from 2.1.0.
    trackFile: atLeast(version, '2.1.0') ? 'track_file' : atLeast(version, '2.0.0') ? 'vrrp_track_file' : 'none',
    // 1.3.5 vrrp/vrrp.c check_vrrp_script_security(): check_notify_script_secure(&vrrp->script, ..., true): the
    // generic notify script is looked up as one full string (lib/notify.c find_path(full_string)), so
    // "/usr/bin/kawatch notify" is a file that does not exist and the script is disabled. 2.0.19 parses
    // notify scripts into arguments (lib/notify.c notify_script_init(): set_script_params_array()).
    notifyTakesArguments: atLeast(version, '2.0.0'),
    // 1.3.5 vrrp/vrrp.c shutdown_vrrp_instances() runs only a notify_stop script (notify_exec(vrrp->script_stop));
    // vrrp_notify.c knows no STOP state. 2.0.19 vrrp_notify.c: case VRRP_STATE_STOP: "STOP".
    stopNotification: atLeast(version, '2.0.0'),
  };
}

/** Runs a program without a shell and returns what it printed, whatever its exit status. */
export type Runner = (file: string, args: string[], timeoutMs: number) => Promise<{ stdout: string; stderr: string }>;

const runBounded: Runner = async (file, args, timeoutMs) => {
  let result;
  try {
    result = await exec(file, args, { timeoutMs });
  } catch (err) {
    // Could not start it (ENOENT, EACCES): there is no answer to read.
    throw new CapabilitiesError(`${file} ${args.join(' ')}: ${(err as Error).message}`);
  }
  // Ended by a signal: exec's timeout (SIGKILL) or a crash; either way no complete answer.
  if (result.signal) throw new CapabilitiesError(`${file} ${args.join(' ')}: no answer within ${timeoutMs} ms (ended by ${result.signal})`);
  return { stdout: result.stdout, stderr: result.stderr };
};

/**
 * Asks the keepalived binary what it is. `--signum` is safe to try on any version: 1.3.5 rejects an
 * unknown option with "unrecognized option" and exits (core/main.c parse_cmdline(): default: exit(0)).
 */
export async function detectCapabilities(binary: string, options: { timeoutMs?: number; run?: Runner } = {}): Promise<KeepalivedCapabilities> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const run = options.run ?? runBounded;
  const version = await run(binary, ['-v'], timeoutMs);
  const signumOf = async (fn: string): Promise<number | undefined> => {
    const out = await run(binary, [`--signum=${fn}`], timeoutMs);
    const text = out.stdout.trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  };
  const data = await signumOf('DATA');
  let signum: SelfReport['signum'];
  if (data !== undefined) {
    const stats = await signumOf('STATS');
    if (stats === undefined) throw new CapabilitiesError(`${binary} --signum=STATS: no signal number, though --signum=DATA gave ${data}`);
    const json = await signumOf('JSON');
    signum = { DATA: data, STATS: stats, ...(json === undefined ? {} : { JSON: json }) };
  }
  return capabilitiesFrom({ versionOutput: version.stderr + version.stdout, signum }, `${binary} -v`);
}

/**
 * What kawatch exports of a keepalived's capabilities, one flag each: what an operator needs to
 * know about why a source reports nothing on this director.
 */
export function capabilityFlags(caps: KeepalivedCapabilities): Record<string, boolean> {
  return {
    json_dump: caps.jsonDump,
    signum: caps.signum,
    dump_in_tmpdir: caps.dumpDirectory.kind === 'tmpdir',
    notify_fifo: caps.notifyFifo,
    fifo_priority_changes: caps.fifoPriorityChanges,
    track_file: caps.trackFile !== 'none',
    notify_arguments: caps.notifyTakesArguments,
    stop_notification: caps.stopNotification,
    masks_passwords: caps.masksPasswords,
  };
}

/**
 * The capabilities of the configured keepalived, asked once for every part that needs them (the
 * dump, the FIFO, the metrics); a failed detection is asked again next time.
 */
export class CapabilitiesProbe {
  private pending?: Promise<KeepalivedCapabilities>;
  private known?: KeepalivedCapabilities;

  constructor(
    private readonly binary: string,
    private readonly detect: (binary: string) => Promise<KeepalivedCapabilities> = detectCapabilities,
  ) {}

  /** What the last successful detection found; undefined before one. */
  get current(): KeepalivedCapabilities | undefined {
    return this.known;
  }

  get(): Promise<KeepalivedCapabilities> {
    this.pending ??= this.detect(this.binary).then(
      (caps) => (this.known = caps),
      (err: unknown) => {
        this.pending = undefined;
        throw err;
      },
    );
    return this.pending;
  }
}
