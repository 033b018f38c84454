import { access, readdir, readFile, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { parseKeepalivedConf } from '../keepalived/conf/parse.js';
import { probeKeepalived } from '../keepalived/process.js';
import { detectCapabilities, type KeepalivedVersion } from '../keepalived/capabilities.js';
import { exec } from '../core/exec.js';
import { known, unknown, type DirectorFacts, type Fact, type Interface, type Ipv4Conf, type KawatchWiring, type KeepalivedWiring, type PeerReachability, type RealServerFacts, type VrrpVerdict } from './facts.js';
import { judgeIptablesSave, judgeNftRuleset } from './firewall.js';
import { wiringOf } from './wiring.js';

/**
 * The edge of `kawatch doctor`: reads the host, changes nothing. Sysctls are read from procfs
 * (never written), modules are looked up with `modprobe -n` (never loaded), firewalls are listed,
 * keepalived only tests its configuration, peers get a TCP connection that is closed at once.
 */

const SYSCTLS: Array<keyof Ipv4Conf> = ['send_redirects', 'arp_ignore', 'arp_announce'];

const message = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

export async function readIpv4Conf(procfs: string): Promise<Fact<Record<string, Ipv4Conf>>> {
  const dir = join(procfs, 'sys/net/ipv4/conf');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return unknown(`${dir}: ${message(err)}`);
  }
  const conf: Record<string, Ipv4Conf> = {};
  for (const name of names) {
    const values: Ipv4Conf = {};
    for (const key of SYSCTLS) {
      const text = await readFile(join(dir, name, key), 'utf8').catch(() => undefined);
      const value = Number(text?.trim());
      if (text !== undefined && Number.isInteger(value)) values[key] = value;
    }
    conf[name] = values;
  }
  return known(conf);
}

interface IpJsonLink {
  ifname: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

export async function readInterfaces(): Promise<Fact<Interface[]>> {
  try {
    const result = await exec('ip', ['-j', 'addr', 'show']);
    if (result.exitCode !== 0) return unknown(`ip -j addr show: ${result.stderr.trim()}`);
    const links = JSON.parse(result.stdout) as IpJsonLink[];
    return known(
      links.map((link) => ({
        ifname: link.ifname,
        addresses: (link.addr_info ?? []).flatMap((a) => (a.family === 'inet' || a.family === 'inet6' ? [{ family: a.family, local: a.local, prefixlen: a.prefixlen }] : [])),
      })),
    );
  } catch (err) {
    return unknown((err as Error).message);
  }
}

async function commandExists(command: string): Promise<boolean> {
  const result = await exec('sh', ['-c', 'command -v "$1"', 'sh', command]);
  return result.exitCode === 0;
}

async function judgeFirewall(command: string, args: string[], judge: (output: string) => VrrpVerdict): Promise<Fact<VrrpVerdict>> {
  const result = await exec(command, args);
  if (result.exitCode !== 0) return unknown(`${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
  try {
    return known(judge(result.stdout));
  } catch (err) {
    return unknown(`${command} ${args.join(' ')}: ${(err as Error).message}`);
  }
}

/** nftables (which also holds iptables-nft rules) and, where installed, iptables-legacy. */
export async function judgeFirewalls(): Promise<DirectorFacts['vrrpFirewall']> {
  const verdicts: DirectorFacts['vrrpFirewall'] = [];
  if (await commandExists('nft')) {
    verdicts.push({ firewall: 'nftables', verdict: await judgeFirewall('nft', ['-j', 'list', 'ruleset'], (out) => judgeNftRuleset(JSON.parse(out))) });
  }
  if (await commandExists('iptables-legacy-save')) {
    verdicts.push({ firewall: 'iptables-legacy', verdict: await judgeFirewall('iptables-legacy-save', ['-t', 'filter'], (out) => judgeIptablesSave(out)) });
  }
  return verdicts;
}

export async function readIpvs(procfs: string): Promise<DirectorFacts['ipvs']> {
  const loaded = await access(join(procfs, 'net/ip_vs')).then(
    () => true,
    () => false,
  );
  if (loaded) return { loaded, loadable: true };
  // -n: dry run, only resolves the module.
  const dryRun = await exec('modprobe', ['-n', '-q', 'ip_vs']).catch(() => undefined);
  return { loaded, loadable: dryRun?.exitCode === 0 };
}

export async function testKeepalivedConf(binary: string, file: string): Promise<DirectorFacts['configTest']> {
  try {
    const result = await exec(binary, ['-t', '-f', file], { timeoutMs: 30_000 });
    return known({ file, exitCode: result.exitCode, output: `${result.stderr}${result.stdout}` });
  } catch (err) {
    return unknown((err as Error).message);
  }
}

/** keepalived's messages since boot from the journal; unknown where there is no journal to ask. */
export async function readKeepalivedLog(): Promise<Fact<string[]>> {
  try {
    const result = await exec('journalctl', ['-b', '-u', 'keepalived', '-o', 'cat', '--no-pager', '-n', '5000'], { timeoutMs: 10_000 });
    if (result.exitCode !== 0) return unknown(`journalctl exited ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}`);
    return known(result.stdout.split('\n').filter((l) => l !== ''));
  } catch (err) {
    return unknown((err as Error).message);
  }
}

async function keepalivedVersionOf(binary: string): Promise<Fact<KeepalivedVersion>> {
  try {
    return known((await detectCapabilities(binary)).version);
  } catch (err) {
    return unknown((err as Error).message);
  }
}

export function probePeer(name: string, address: string, timeoutMs: number): Promise<PeerReachability> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (reachable: boolean, error?: string) => {
      socket.destroy();
      resolve({ name, address, reachable, ...(error ? { error } : {}) });
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false, `no answer within ${timeoutMs} ms`));
    socket.once('error', (err) => done(false, message(err)));
  });
}

/** The file keepalived was started with (`-f FILE`, `--use-file=FILE`), from its command line. */
export function confFromCmdline(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if ((arg === '-f' || arg === '--use-file') && argv[i + 1]) return argv[i + 1];
    if (arg.startsWith('--use-file=')) return arg.slice('--use-file='.length);
    if (arg.startsWith('-f') && arg.length > 2) return arg.slice(2);
  }
  return undefined;
}

/** The configuration the running keepalived read, when it was given one on its command line. */
export async function runningKeepalivedConf(config: Config): Promise<string | undefined> {
  const keepalived = probeKeepalived(config.keepalived.pid_file, config.procfs);
  if (!keepalived.up || keepalived.pid === undefined) return undefined;
  const cmdline = await readFile(join(config.procfs, String(keepalived.pid), 'cmdline'), 'utf8').catch(() => '');
  const file = confFromCmdline(cmdline.split('\0'));
  // A relative path is relative to where keepalived was started, which is not known here.
  return file?.startsWith('/') ? file : undefined;
}

export async function readKeepalivedWiring(file: string): Promise<Fact<KeepalivedWiring>> {
  try {
    return known(wiringOf(file, await parseKeepalivedConf(file)));
  } catch (err) {
    return unknown(`${file}: ${message(err)}`);
  }
}

export function kawatchWiring(config: Config): KawatchWiring {
  return {
    hookEnabled: config.sources.hook.enabled,
    spoolDir: config.sources.hook.spool_dir,
    fifoEnabled: config.sources.fifo.enabled,
    fifoPaths: config.sources.fifo.paths,
    trackDir: config.watchdog.track_dir,
    policy: config.watchdog.policy,
    ...(config.peers ? { peerListen: config.peers.listen } : {}),
  };
}

/** The shortest wait for a peer: the exchange timeout is tuned for a busy link, a first connect may need more. */
const MIN_PEER_TIMEOUT_MS = 1000;

export async function gatherDirectorFacts(config: Config, keepalivedConf: string): Promise<DirectorFacts> {
  const timeout = Math.max(MIN_PEER_TIMEOUT_MS, config.peers?.timeout ?? 0);
  const [ipv4Conf, interfaces, vrrpFirewall, keepalived, configTest, wiring, ipvs, peers, keepalivedVersion, keepalivedLog, trackDirExists] = await Promise.all([
    readIpv4Conf(config.procfs),
    readInterfaces(),
    judgeFirewalls(),
    probeKeepalived(config.keepalived.pid_file, config.procfs),
    testKeepalivedConf(config.keepalived.binary, keepalivedConf),
    readKeepalivedWiring(keepalivedConf),
    readIpvs(config.procfs),
    Promise.all((config.peers?.members ?? []).map((m) => probePeer(m.name, m.address, timeout))),
    keepalivedVersionOf(config.keepalived.binary),
    readKeepalivedLog(),
    stat(config.watchdog.track_dir).then((st) => st.isDirectory(), () => false),
  ]);
  return {
    ipv4Conf,
    interfaces,
    vrrpFirewall,
    keepalived: {
      pidFile: config.keepalived.pid_file,
      running: keepalived.up,
      ...(keepalived.pid !== undefined ? { pid: keepalived.pid } : {}),
      ...(keepalived.reason !== undefined ? { reason: keepalived.reason } : {}),
    },
    configTest,
    keepalivedVersion,
    keepalivedLog,
    trackDirExists,
    keepalivedConf: wiring,
    kawatch: kawatchWiring(config),
    ipvs,
    peers,
  };
}

export async function gatherRealServerFacts(procfs: string): Promise<RealServerFacts> {
  const [ipv4Conf, interfaces] = await Promise.all([readIpv4Conf(procfs), readInterfaces()]);
  return { ipv4Conf, interfaces };
}
