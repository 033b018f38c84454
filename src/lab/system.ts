import { spawn } from 'node:child_process';

/** A failure the lab explains to its user; the message is meant to be printed as it is. */
export class LabError extends Error {
  override name = 'LabError';
}

export interface ExecResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, which is closed afterwards. */
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_OUTPUT_CHARS = 1_000_000;

/** Runs a command (never through a shell) and reports how it ended; killed when it outlives its timeout. */
export function exec(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < MAX_OUTPUT_CHARS) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT_CHARS) stderr += chunk;
    });
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new LabError(`cannot run ${file}: ${err.message}`));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr });
    });
    // A command that exits without reading its stdin must not turn into an EPIPE crash here.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Like `exec`, but a non-zero exit is an error that quotes the command and what it printed. */
export async function run(file: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const result = await exec(file, args, options);
  if (result.exitCode !== 0) {
    const why = result.stderr.trim() || result.stdout.trim() || `exit ${result.exitCode ?? result.signal}`;
    throw new LabError(`${[file, ...args].join(' ')}: ${why}`);
  }
  return result.stdout;
}

export function ip(args: readonly string[]): Promise<string> {
  return run('ip', args);
}

/** Applies an nftables script atomically inside a namespace. */
export function nftInNetns(netns: string, script: string): Promise<string> {
  return run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], { input: script });
}

export async function listNetns(): Promise<string[]> {
  // `ip -j netns list` prints nothing at all (not "[]") when there is no namespace.
  const text = (await ip(['-j', 'netns', 'list'])).trim();
  return text ? (JSON.parse(text) as { name: string }[]).map((n) => n.name) : [];
}

export async function listHostLinks(): Promise<string[]> {
  return (JSON.parse(await ip(['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
}

export async function hostIpv4Addresses(): Promise<string[]> {
  const links = JSON.parse(await ip(['-j', '-4', 'addr', 'show'])) as { addr_info?: { local?: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local).filter((a): a is string => a !== undefined));
}

/** The commands the lab cannot work without, each with the Debian package that provides it. */
const REQUIRED_COMMANDS: readonly [string, string[], string][] = [
  ['ip', ['-V'], 'iproute2'],
  ['nft', ['--version'], 'nftables'],
  ['keepalived', ['--version'], 'keepalived'],
];

export async function checkPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new LabError('the lab creates network namespaces: run it as root');
  const missing: string[] = [];
  for (const [command, args, pkg] of REQUIRED_COMMANDS) {
    const found = await exec(command, args).then(
      (r) => r.exitCode === 0,
      () => false,
    );
    if (!found) missing.push(`${command} (apt-get install ${pkg})`);
  }
  if (missing.length) throw new LabError(`missing: ${missing.join(', ')}`);
}
