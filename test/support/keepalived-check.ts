import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const runFile = promisify(execFile);

export interface ToolRun {
  /** The exit code, or null when a signal ended the tool (`signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a shell script in a fresh network namespace that dies with it, so nothing touches the host's
 * interfaces or ruleset. Root needs no user namespace; anyone else gets one (mapped to root).
 */
export async function inPrivateNetns(script: string, args: string[]): Promise<ToolRun> {
  const unshare = process.getuid?.() === 0 ? ['--net'] : ['--map-root-user', '--net'];
  const run = runFile('unshare', [...unshare, 'sh', '-c', script, 'sh', ...args], { timeout: 10_000 });
  run.child.stdin!.end();
  return run.then(
    ({ stdout, stderr }) => ({ code: 0, signal: null, stdout, stderr }),
    (err: { code?: number | string | null; signal?: NodeJS.Signals | null; killed?: boolean; stdout?: string; stderr?: string }) => {
      // A string code is a failure to start; a kill is our own timeout: neither is the tool's answer.
      if (typeof err.code === 'string' || err.killed) throw err as Error;
      return { code: err.code ?? null, signal: err.signal ?? null, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    },
  );
}

/**
 * The real keepalived's config test (`keepalived -t`) of a file, in a private network namespace
 * holding one veth pair (`interface` and its peer), since keepalived wants the interfaces it is told
 * about. `configId` is keepalived's `-i` (the `@id` lines that apply).
 */
export function keepalivedConfigTest(file: string, options: { interface?: string; peer?: string; configId?: string; binary?: string } = {}): Promise<ToolRun> {
  const select = options.configId === undefined ? '' : ' -i "$5"';
  return inPrivateNetns(`ip link add "$1" type veth peer name "$2" && exec "$4" -t${select} -f "$3"`, [
    options.interface ?? 'eth0',
    options.peer ?? 'eth1',
    file,
    options.binary ?? 'keepalived',
    ...(options.configId === undefined ? [] : [options.configId]),
  ]);
}
