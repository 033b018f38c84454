import { exec, run } from '../core/exec.js';

/** A failure the lab explains to its user; the message is meant to be printed as it is. */
export class LabError extends Error {
  override name = 'LabError';
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
