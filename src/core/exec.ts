import { spawn } from 'node:child_process';

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

/** A command that could not run or did not succeed; the message quotes it and what it printed. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly result?: ExecResult,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_OUTPUT_CHARS = 1_000_000;

/**
 * Runs a command (never through a shell) and reports how it ended; killed when it outlives its
 * timeout. Output is kept up to a bound, so a runaway command cannot fill the daemon's memory.
 */
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
      reject(new CommandError(`cannot run ${file}: ${err.message}`));
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
    throw new CommandError(`${[file, ...args].join(' ')}: ${why}`, result);
  }
  return result.stdout;
}
