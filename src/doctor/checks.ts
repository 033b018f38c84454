import { posix } from 'node:path';
import { canonicalIp } from '../core/ip.js';
import { formatVersion } from '../keepalived/capabilities.js';
import type { Severity } from '../core/severity.js';
import type { DirectorFacts, Interface, Ipv4Conf, KawatchWiring, KeepalivedWiring, RealServerFacts } from './facts.js';
import { failed, passed, type Finding } from './findings.js';
import { kawatchNotifyArgs } from './wiring.js';

/** The checks themselves: pure functions of the facts, one or more findings each. */

const PERSIST = 'and put the same settings in /etc/sysctl.d/ so they survive a reboot';

/** A fact that could not be read is itself a finding: the check could not be done. */
function cannotRead(fact: { error: string }, check: Finding['check'], severity: Severity, what: string): Finding {
  return failed(check, severity, `cannot read ${what}: ${fact.error}`, 'run kawatch doctor as root on the host itself');
}

function interfaceNames(conf: Record<string, Ipv4Conf>): string[] {
  return Object.keys(conf)
    .filter((name) => name !== 'all' && name !== 'default' && name !== 'lo')
    .sort();
}

const sysctlLine = (name: string, key: keyof Ipv4Conf, value: number) => `net.ipv4.conf.${name}.${key}=${value}`;
const sysctlFix = (settings: string[]) => `sysctl -w ${settings.join(' ')} ${PERSIST}`;

export function checkKeepalivedRunning(facts: DirectorFacts): Finding {
  const k = facts.keepalived;
  if (k.running) return passed('keepalived.running', 'error', `keepalived is running (pid ${k.pid})`);
  return failed('keepalived.running', 'error', `keepalived is not running: ${k.reason ?? 'no live process'}`, `start it (systemctl start keepalived); if it runs with another pid file, set keepalived.pid_file in kawatch.yml (now ${k.pidFile})`);
}

export function checkConfigTest(facts: DirectorFacts): Finding {
  const test = facts.configTest;
  if (!test.ok) return failed('keepalived.config', 'error', `cannot test keepalived's configuration: ${test.error}`, 'install keepalived, or set keepalived.binary in kawatch.yml');
  const said = test.value.output.trim();
  if (test.value.exitCode === 0) return passed('keepalived.config', 'error', `keepalived -t -f ${test.value.file}: configuration parses`);
  return failed(
    'keepalived.config',
    'error',
    `keepalived -t -f ${test.value.file} failed (exit ${test.value.exitCode ?? 'killed'})${said ? `:\n${said}` : ''}`,
    `correct what keepalived names above, then run keepalived -t -f ${test.value.file} again (and kawatch lint for typos keepalived only warns about)`,
  );
}

export function checkIpvs(facts: DirectorFacts): Finding {
  const conf = facts.keepalivedConf?.ok ? facts.keepalivedConf.value : undefined;
  const servers = conf?.virtualServers.length;
  if (facts.ipvs.loaded) return passed('ipvs.available', 'error', 'IPVS is available (ip_vs loaded)');
  if (servers === 0) return passed('ipvs.available', 'info', 'IPVS is not loaded, and keepalived.conf defines no virtual_server that would need it');
  if (facts.ipvs.loadable) return passed('ipvs.available', 'info', 'ip_vs is not loaded yet; keepalived loads it when it sets up its virtual servers');
  return failed(
    'ipvs.available',
    servers === undefined ? 'warning' : 'error',
    `IPVS is not available: no /proc/net/ip_vs and modprobe finds no ip_vs module${servers ? ` (keepalived.conf defines ${servers} virtual_server)` : ''}`,
    'install the kernel modules of the running kernel (Debian: linux-image-$(uname -r)), then modprobe ip_vs',
  );
}

export function checkFirewall(facts: DirectorFacts): Finding[] {
  if (facts.vrrpFirewall.length === 0) return [passed('firewall.vrrp', 'error', 'no firewall found (neither nft nor iptables-legacy): nothing drops VRRP')];
  return facts.vrrpFirewall.map(({ firewall, verdict }) => {
    if (!verdict.ok) return failed('firewall.vrrp', 'warning', `cannot read the ${firewall} ruleset: ${verdict.error}`, 'run kawatch doctor as root');
    if (!verdict.value.dropped) return passed('firewall.vrrp', 'error', `${firewall}: nothing clearly drops VRRP (IP protocol 112)`);
    return failed(
      'firewall.vrrp',
      'error',
      `${firewall} drops VRRP (IP protocol 112): ${verdict.value.where}. Adverts that do not arrive make every director MASTER (split brain)`,
      `accept VRRP ahead of the drop: ${verdict.value.fix} (and in the saved ruleset, e.g. /etc/nftables.conf)`,
    );
  });
}

/** LVS-DR directors must not send ICMP redirects: the real servers share the client-facing segment. */
export function checkSendRedirects(facts: DirectorFacts): Finding {
  const conf = facts.keepalivedConf?.ok ? facts.keepalivedConf.value : undefined;
  if (conf && !conf.virtualServers.some((vs) => vs.method === 'DR')) {
    return passed('sysctl.send_redirects', 'warning', 'no LVS-DR virtual_server in keepalived.conf: send_redirects does not matter');
  }
  if (!facts.ipv4Conf.ok) return cannotRead(facts.ipv4Conf, 'sysctl.send_redirects', 'warning', 'net.ipv4.conf.*.send_redirects');
  const sysctls = facts.ipv4Conf.value;
  const all = sysctls.all?.send_redirects ?? 0;
  // The kernel sends redirects on an interface when its own setting or `all` is on.
  const on = interfaceNames(sysctls).filter((name) => all === 1 || sysctls[name]?.send_redirects === 1);
  if (on.length === 0) return passed('sysctl.send_redirects', 'warning', 'send_redirects is off (all and every interface)');
  const settings = ['all', 'default', ...interfaceNames(sysctls)].filter((name) => sysctls[name]?.send_redirects === 1).map((name) => sysctlLine(name, 'send_redirects', 0));
  return failed(
    'sysctl.send_redirects',
    'warning',
    `send_redirects is on for ${on.join(', ')}${all === 1 ? ' (net.ipv4.conf.all.send_redirects=1)' : ''}: with LVS-DR the director tells clients to bypass it`,
    sysctlFix(settings),
  );
}

function addressesOf(interfaces: Interface[]): Array<{ ifname: string; local: string; prefixlen: number }> {
  return interfaces.flatMap((i) => i.addresses.map((a) => ({ ifname: i.ifname, local: canonicalIp(a.local) ?? a.local, prefixlen: a.prefixlen })));
}

function hostOf(listen: string): string {
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

export function checkPeers(facts: DirectorFacts): Finding[] {
  const listen = facts.kawatch.peerListen;
  if (listen === undefined) return [passed('peers.reachable', 'warning', 'no peers in kawatch.yml: the split-brain cross-check is off')];
  const findings: Finding[] = [];
  const host = canonicalIp(hostOf(listen));
  if (facts.interfaces.ok && host !== undefined && host !== '0.0.0.0' && host !== '::') {
    const found = addressesOf(facts.interfaces.value).find((a) => a.local === host);
    findings.push(
      found
        ? passed('peers.listen', 'error', `peers.listen ${listen} is on ${found.ifname}`)
        : failed('peers.listen', 'error', `peers.listen ${listen}: ${host} is on no interface of this host`, 'give peers.listen this director\'s own address on the secondary link (ip -br addr)'),
    );
  }
  for (const peer of facts.peers) {
    findings.push(
      peer.reachable
        ? passed('peers.reachable', 'error', `peer ${peer.name} answers at ${peer.address}`)
        : failed(
            'peers.reachable',
            'error',
            `peer ${peer.name} at ${peer.address} is unreachable over the secondary link: ${peer.error ?? 'no answer'}`,
            `check the secondary link (ip route get ${hostOf(peer.address)}), that kawatch runs on ${peer.name} with peers.listen ${peer.address}, and that no firewall drops TCP port ${peer.address.slice(peer.address.lastIndexOf(':') + 1)}`,
          ),
    );
  }
  return findings;
}

const HOOK_EXAMPLE = 'notify "/usr/bin/kawatch notify"';

/** Where the hook writes: its --spool, else bin/kawatch's default (keepalived passes scripts no KAWATCH_SPOOL_DIR unless told). */
function spoolOf(args: string[]): string {
  const at = args.indexOf('--spool');
  return at >= 0 && args[at + 1] ? args[at + 1]! : '/var/spool/kawatch';
}

/** Transitions reach kawatch through the hook, the FIFO, or both; both lead to the daemon's spool/FIFO settings. */
export function checkWiring(conf: KeepalivedWiring, kawatch: KawatchWiring): Finding[] {
  const findings: Finding[] = [];
  const hooks = conf.notifyScripts.flatMap((s) => {
    const args = kawatchNotifyArgs(s.script);
    return args ? [{ ...s, args }] : [];
  });
  const vrrpFifos = conf.fifos.filter((f) => f.keyword !== 'lvs_notify_fifo');
  const readFifos = new Set(kawatch.fifoEnabled ? kawatch.fifoPaths.map((p) => posix.normalize(p)) : []);

  const hooked = new Set(hooks.map((h) => h.owner));
  const unhooked = conf.instances.map((i) => i.name).filter((name) => !hooked.has(name));
  if (!kawatch.hookEnabled) {
    findings.push(passed('wiring.hook', 'warning', 'sources.hook.enabled is false: the hook is not used'));
  } else if (hooks.length === 0) {
    findings.push(
      vrrpFifos.some((f) => readFifos.has(posix.normalize(f.path)))
        ? passed('wiring.hook', 'info', 'no instance runs kawatch notify; the FIFO reports transitions')
        : failed('wiring.hook', 'warning', `no vrrp_instance in ${conf.file} runs kawatch notify, and no FIFO kawatch reads: transitions are seen only by the periodic dump`, `add ${HOOK_EXAMPLE} to each vrrp_instance (or wire the FIFO, see sources.fifo)`),
    );
  } else {
    const wrongSpool = hooks.filter((h) => posix.normalize(spoolOf(h.args)) !== posix.normalize(kawatch.spoolDir));
    if (wrongSpool.length > 0) {
      findings.push(
        failed(
          'wiring.hook',
          'error',
          `${wrongSpool.map((h) => `${h.where} (${h.owner})`).join(', ')}: the hook writes to ${spoolOf(wrongSpool[0]!.args)}, but kawatch watches ${kawatch.spoolDir}`,
          `make them agree: notify "/usr/bin/kawatch notify --spool ${kawatch.spoolDir}", or set sources.hook.spool_dir`,
        ),
      );
    } else if (unhooked.length > 0) {
      findings.push(failed('wiring.hook', 'warning', `${unhooked.join(', ')} run no kawatch notify (the others do)`, `add ${HOOK_EXAMPLE} to ${unhooked.join(', ')}`));
    } else {
      findings.push(passed('wiring.hook', 'warning', `every vrrp_instance runs kawatch notify into ${kawatch.spoolDir}`));
    }
  }

  const unreadFifos = conf.fifos.filter((f) => !readFifos.has(posix.normalize(f.path)));
  const unwritten = [...readFifos].filter((path) => !conf.fifos.some((f) => posix.normalize(f.path) === path));
  if (unreadFifos.length > 0) {
    findings.push(
      failed(
        'wiring.fifo',
        'warning',
        `keepalived writes ${unreadFifos.map((f) => `${f.keyword} ${f.path} (${f.where})`).join(', ')}, which kawatch does not read`,
        `in kawatch.yml: sources.fifo.enabled: true and sources.fifo.paths: [${conf.fifos.map((f) => f.path).join(', ')}]`,
      ),
    );
  }
  if (unwritten.length > 0) {
    findings.push(failed('wiring.fifo', 'warning', `kawatch reads ${unwritten.join(', ')}, but ${conf.file} names no such notify FIFO`, `in global_defs of ${conf.file}: vrrp_notify_fifo ${unwritten[0]}`));
  }
  if (unreadFifos.length === 0 && unwritten.length === 0) {
    findings.push(passed('wiring.fifo', 'warning', readFifos.size > 0 ? `kawatch reads every notify FIFO keepalived writes (${[...readFifos].join(', ')})` : 'no notify FIFO on either side'));
  }

  findings.push(checkTrackFiles(conf, kawatch));
  return findings;
}

/** watchdog.policy demote fences one instance by writing its track file (prevent holds one): each instance must track its own. */
function checkTrackFiles(conf: KeepalivedWiring, kawatch: KawatchWiring): Finding {
  const needed = kawatch.policy === 'demote' || kawatch.policy === 'prevent';
  const severity: Severity = needed ? 'error' : 'info';
  const missing = conf.instances.filter((instance) => {
    const expected = posix.join(kawatch.trackDir, instance.name);
    return !conf.trackFiles.some((t) => posix.normalize(t.file) === expected && instance.trackFiles.includes(t.name));
  });
  if (missing.length === 0) return passed('wiring.track_file', severity, `every vrrp_instance tracks its file in ${kawatch.trackDir}`);
  const first = missing[0]!.name;
  return failed(
    'wiring.track_file',
    severity,
    `${missing.map((i) => `${i.name} (${i.where})`).join(', ')} track${missing.length === 1 ? 's' : ''} no file in ${kawatch.trackDir}${needed ? `: watchdog.policy ${kawatch.policy} cannot ${kawatch.policy === 'prevent' ? 'hold' : 'fence'} it` : ' (needed only for watchdog.policy demote and prevent)'}`,
    `for each: track_file kawatch_${first} { file ${posix.join(kawatch.trackDir, first)}  weight 0  init_file 0 overwrite } at top level, and track_file { kawatch_${first} } in vrrp_instance ${first}`,
  );
}

/** What keepalived says when it drops a notify script: 1.3.5 "Disabling notify script X since not found", 2.x the same words. */
const DISABLED_SCRIPT = /Disabling notify script|since not found/;
const WRAPPER_FIX =
  'put the command in a script without arguments, e.g. /usr/local/sbin/kawatch-notify holding \'#!/bin/sh\' and \'exec /usr/bin/kawatch notify "$@"\' (mode 0755), and name that script in notify';

/** A notify script keepalived disabled, or will: before 2.0 a command with arguments is one file name, not found. */
export function checkNotifyScripts(facts: DirectorFacts): Finding {
  const version = facts.keepalivedVersion?.ok ? facts.keepalivedVersion.value : undefined;
  const wiring = facts.keepalivedConf?.ok ? facts.keepalivedConf.value : undefined;
  if (version && version.major < 2 && wiring) {
    const withArguments = wiring.notifyScripts.filter((s) => /\s/.test(s.script.trim()));
    if (withArguments.length > 0) {
      return failed(
        'wiring.notify_disabled',
        'error',
        `keepalived ${formatVersion(version)} takes a notify command as one file name: ${withArguments.map((s) => `${s.keyword} "${s.script}" (${s.where})`).join(', ')} ${withArguments.length === 1 ? 'is' : 'are'} "not found" and disabled`,
        WRAPPER_FIX,
      );
    }
  }
  const said = [...(facts.configTest.ok ? facts.configTest.value.output.split('\n') : []), ...(facts.keepalivedLog?.ok ? facts.keepalivedLog.value : [])];
  const disabled = [...new Set(said.filter((l) => DISABLED_SCRIPT.test(l)).map((l) => l.trim()))];
  if (disabled.length > 0) {
    return failed('wiring.notify_disabled', 'error', `keepalived disabled notify scripts: ${disabled.slice(0, 3).join('; ')}`, `name an executable file by its absolute path; on keepalived 1.x ${WRAPPER_FIX}`);
  }
  const from = facts.keepalivedLog?.ok ? "keepalived's log since boot and keepalived -t" : 'keepalived -t';
  return passed('wiring.notify_disabled', 'error', `no notify script disabled (${from})`);
}

/** keepalived 2.2 and later drop, when they read their configuration, a track file whose directory is missing. */
export function checkTrackDir(facts: DirectorFacts): Finding | undefined {
  const wiring = facts.keepalivedConf?.ok ? facts.keepalivedConf.value : undefined;
  if (!wiring || facts.trackDirExists === undefined) return undefined;
  const dir = facts.kawatch.trackDir;
  const inside = wiring.trackFiles.filter((t) => posix.dirname(posix.normalize(t.file)) === posix.normalize(dir));
  if (inside.length === 0) return undefined;
  if (facts.trackDirExists) return passed('wiring.track_dir', 'warning', `${dir}, where ${inside.length} track file(s) live, exists`);
  return failed(
    'wiring.track_dir',
    'warning',
    `${dir} does not exist: keepalived 2.2 and later drop ${inside.map((t) => `${t.name} (${t.where})`).join(', ')} when they read their configuration, and the instance tracks nothing`,
    `start kawatch before keepalived (it makes ${dir} whatever the watchdog policy), or mkdir -p ${dir}, then reload keepalived`,
  );
}

export function directorChecks(facts: DirectorFacts): Finding[] {
  const findings = [checkKeepalivedRunning(facts), checkConfigTest(facts), checkIpvs(facts)];
  if (facts.keepalivedConf) {
    findings.push(
      ...(facts.keepalivedConf.ok
        ? checkWiring(facts.keepalivedConf.value, facts.kawatch)
        : [failed('wiring.keepalived_conf', 'warning', `cannot read keepalived.conf for the wiring checks: ${facts.keepalivedConf.error}`, 'pass --keepalived-conf FILE')]),
    );
  }
  if (facts.keepalivedConf?.ok || facts.keepalivedLog?.ok) findings.push(checkNotifyScripts(facts));
  const trackDir = checkTrackDir(facts);
  if (trackDir) findings.push(trackDir);
  findings.push(...checkFirewall(facts), checkSendRedirects(facts), ...checkPeers(facts));
  return findings;
}

/** LVS-DR real server: the VIP on lo as /32, answering no ARP for it and never announcing it. */
export function realServerChecks(facts: RealServerFacts, vips: readonly string[]): Finding[] {
  const findings: Finding[] = [];
  for (const vip of vips) {
    if (!facts.interfaces.ok) {
      findings.push(cannotRead(facts.interfaces, 'real-server.vip', 'error', 'the interface addresses (ip -j addr)'));
      continue;
    }
    const held = addressesOf(facts.interfaces.value).filter((a) => a.local === canonicalIp(vip));
    const onLo = held.find((a) => a.ifname === 'lo');
    const elsewhere = held.filter((a) => a.ifname !== 'lo');
    if (elsewhere.length > 0) {
      findings.push(
        failed(
          'real-server.vip',
          'error',
          `VIP ${vip} is on ${elsewhere.map((a) => `${a.ifname} (/${a.prefixlen})`).join(', ')}: this real server answers ARP for it and takes traffic meant for the director`,
          `${elsewhere.map((a) => `ip addr del ${vip}/${a.prefixlen} dev ${a.ifname}`).join('; ')}; ip addr add ${vip}/32 dev lo`,
        ),
      );
    } else if (!onLo) {
      findings.push(failed('real-server.vip', 'error', `VIP ${vip} is not on lo: packets the director forwards to it are dropped`, `ip addr add ${vip}/32 dev lo (and in the network configuration, so it survives a reboot)`));
    } else if (onLo.prefixlen !== 32) {
      findings.push(
        failed('real-server.vip', 'error', `VIP ${vip} is on lo as /${onLo.prefixlen}: lo then claims the whole /${onLo.prefixlen} and this host cannot reach its neighbours in it`, `ip addr del ${vip}/${onLo.prefixlen} dev lo; ip addr add ${vip}/32 dev lo`),
      );
    } else {
      findings.push(passed('real-server.vip', 'error', `VIP ${vip} is on lo as /32`));
    }
  }
  if (!facts.ipv4Conf.ok) return [...findings, cannotRead(facts.ipv4Conf, 'real-server.arp', 'error', 'net.ipv4.conf.*.arp_ignore/arp_announce')];
  findings.push(checkArp(facts.ipv4Conf.value, 'arp_ignore', [1, 2], 1, 'answers ARP requests for the VIP on lo, so clients may send to this real server instead of the director'));
  findings.push(checkArp(facts.ipv4Conf.value, 'arp_announce', [2], 2, 'may announce the VIP as ARP source address, poisoning the neighbours\' caches'));
  return findings;
}

/** The kernel uses the larger of `all` and the interface's own value for arp_ignore and arp_announce. */
function checkArp(sysctls: Record<string, Ipv4Conf>, key: 'arp_ignore' | 'arp_announce', good: number[], wanted: number, harm: string): Finding {
  const check = `real-server.${key}` as const;
  const all = sysctls.all?.[key] ?? 0;
  const bad = interfaceNames(sysctls).filter((name) => !good.includes(Math.max(all, sysctls[name]?.[key] ?? 0)));
  if (bad.length === 0) return passed(check, 'error', `${key} is ${wanted} on every interface`);
  const settings = [sysctlLine('all', key, wanted), sysctlLine('lo', key, wanted), ...bad.filter((name) => (sysctls[name]?.[key] ?? 0) > wanted).map((name) => sysctlLine(name, key, wanted))];
  const values = bad.map((name) => `${name}=${Math.max(all, sysctls[name]?.[key] ?? 0)}`).join(', ');
  return failed(check, 'error', `${key} is not ${wanted} (${values}): this real server ${harm}`, sysctlFix(settings));
}
