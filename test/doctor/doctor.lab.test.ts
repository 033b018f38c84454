import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Finding } from '../../src/doctor/findings.js';
import { exec, run } from '../../src/core/exec.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

/**
 * `kawatch doctor` as built, run inside network namespaces (sysctls under net.ipv4.conf, addresses and
 * firewalls are per namespace) against a real keepalived: first well configured, then broken on purpose.
 */

const repo = resolve(import.meta.dirname, '../..');
const kawatchBin = join(repo, 'bin/kawatch');
const DIRECTOR = 'kwtdoc-lb1';
const PEER = 'kwtdoc-lb2';
const REAL_GOOD = 'kwtdoc-rs1';
const REAL_BAD = 'kwtdoc-rs2';
const NAMESPACES = [DIRECTOR, PEER, REAL_GOOD, REAL_BAD];
const VIP = '192.168.80.50';

const inNs = (ns: string, ...argv: string[]) => run('ip', ['netns', 'exec', ns, ...argv]);
const sysctl = (ns: string, ...settings: string[]) => inNs(ns, 'sysctl', '-q', '-w', ...settings);

async function removeNamespaces(): Promise<void> {
  for (const ns of NAMESPACES) await exec('ip', ['netns', 'del', ns]);
}

async function doctor(ns: string, args: string[]): Promise<{ exitCode: number | null; findings: Finding[]; stderr: string }> {
  const result = await exec('ip', ['netns', 'exec', ns, kawatchBin, 'doctor', '--format', 'json', ...args], { timeoutMs: 60_000 });
  return { exitCode: result.exitCode, findings: result.stdout ? (JSON.parse(result.stdout) as Finding[]) : [], stderr: result.stderr };
}

const failing = (findings: Finding[]) => findings.filter((f) => !f.ok);
const byCheck = (findings: Finding[], check: string) => findings.filter((f) => f.check === check);

function keepalivedConf(dir: string, options: { iface: string; spool: string; virtualServer?: boolean }): string {
  return `global_defs {
    router_id kwtdoc
    script_user root
    enable_script_security
    vrrp_notify_fifo ${dir}/notify.fifo
}
track_file kawatch_VI_1 {
    file ${dir}/track/VI_1
    weight 0
    init_file 0 overwrite
}
vrrp_instance VI_1 {
    state BACKUP
    interface ${options.iface}
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        ${VIP}/24
    }
    notify "${kawatchBin} notify --spool ${options.spool}"
    track_file {
        kawatch_VI_1
    }
}
${
  options.virtualServer
    ? `virtual_server ${VIP} 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.80.11 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`
    : ''
}`;
}

describeWithPrereqs('kawatch doctor in network namespaces', { root: true, commands: ['ip', 'nft', 'keepalived', 'sysctl'], files: [join(repo, 'dist/src/cli/main.js')] }, () => {
  let dir: string;
  let keepalived: ChildProcess | undefined;
  let listener: ChildProcess | undefined;
  const confs = { good: '', dr: '', broken: '' };
  let kawatchYml: string;

  beforeAll(async () => {
    await removeNamespaces();
    dir = await mkdtemp(join(tmpdir(), 'kwtdoc-'));
    await mkdir(join(dir, 'track'));
    for (const ns of NAMESPACES) {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // lb1 and lb2: eth0 the primary segment, eth1 the secondary link.
    await run('ip', ['-n', DIRECTOR, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', PEER]);
    await run('ip', ['-n', DIRECTOR, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', PEER]);
    await run('ip', ['-n', DIRECTOR, 'addr', 'add', '192.168.80.2/24', 'dev', 'eth0']);
    await run('ip', ['-n', DIRECTOR, 'addr', 'add', '10.255.0.1/30', 'dev', 'eth1']);
    await run('ip', ['-n', PEER, 'addr', 'add', '10.255.0.2/30', 'dev', 'eth1']);
    for (const [ns, link] of [[DIRECTOR, 'eth0'], [PEER, 'eth0'], [DIRECTOR, 'eth1'], [PEER, 'eth1']] as const) await run('ip', ['-n', ns, 'link', 'set', link, 'up']);
    const ifaces = ['all', 'default', 'lo', 'eth0', 'eth1'];
    await sysctl(DIRECTOR, ...ifaces.map((i) => `net.ipv4.conf.${i}.send_redirects=0`));
    // A careful firewall: drop by default, VRRP and the peer API let in.
    await run('ip', ['netns', 'exec', DIRECTOR, 'nft', '-f', '-'], {
      input: `table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    iifname "lo" accept
    ct state established,related accept
    meta l4proto vrrp accept
    tcp dport 9651 accept
  }
}
`,
    });

    confs.good = join(dir, 'keepalived.conf');
    confs.dr = join(dir, 'keepalived-dr.conf');
    confs.broken = join(dir, 'keepalived-broken.conf');
    await writeFile(confs.good, keepalivedConf(dir, { iface: 'eth0', spool: join(dir, 'spool') }));
    await writeFile(confs.dr, keepalivedConf(dir, { iface: 'eth0', spool: join(dir, 'spool'), virtualServer: true }));
    await writeFile(confs.broken, keepalivedConf(dir, { iface: 'ens99', spool: '/var/spool/kawatch', virtualServer: true }));
    const secret = join(dir, 'peer.secret');
    await writeFile(secret, 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=\n');
    await chmod(secret, 0o600);
    kawatchYml = join(dir, 'kawatch.yml');
    await writeFile(
      kawatchYml,
      `node_name: lb1
keepalived: { pid_file: ${dir}/keepalived.pid }
sources:
  hook: { spool_dir: ${dir}/spool }
  fifo: { enabled: true, paths: [${dir}/notify.fifo] }
peers:
  listen: 10.255.0.1:9651
  secret_file: ${secret}
  members: [{ name: lb2, address: "10.255.0.2:9651" }]
watchdog: { policy: demote, track_dir: ${dir}/track }
`,
    );

    keepalived = spawn('ip', ['netns', 'exec', DIRECTOR, 'keepalived', '-P', '-n', '-l', '-D', '-f', confs.good, '-p', join(dir, 'keepalived.pid'), '-r', join(dir, 'keepalived-vrrp.pid')], { stdio: 'ignore' });
    // The peer's API stands in as a plain TCP listener: doctor only checks that the link carries a connection.
    listener = spawn('ip', ['netns', 'exec', PEER, process.execPath, '-e', "require('net').createServer((s) => s.end()).listen(9651, '10.255.0.2')"], { stdio: 'ignore' });
    await waitFor(async () => (await readFile(join(dir, 'keepalived.pid'), 'utf8').catch(() => '')).trim() !== '', 'keepalived pid file', 30_000);
    await waitFor(async () => (await inNs(PEER, 'ss', '-Hltn', 'sport', '=', '9651')).includes('10.255.0.2:9651'), 'the peer listener', 30_000);

    // Real servers: rs1 as the seeds set one up, rs2 with every mistake.
    await run('ip', ['-n', REAL_GOOD, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', REAL_BAD]);
    for (const [ns, address] of [[REAL_GOOD, '192.168.1.101/24'], [REAL_BAD, '192.168.1.102/24']] as const) {
      await run('ip', ['-n', ns, 'addr', 'add', address, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    await run('ip', ['-n', REAL_GOOD, 'addr', 'add', '192.168.1.100/32', 'dev', 'lo']);
    await sysctl(REAL_GOOD, 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.lo.arp_ignore=1', 'net.ipv4.conf.lo.arp_announce=2');
    await run('ip', ['-n', REAL_BAD, 'addr', 'add', '192.168.1.100/24', 'dev', 'lo']);
    await run('ip', ['-n', REAL_BAD, 'addr', 'add', '192.168.1.150/24', 'dev', 'eth0']);
    await sysctl(REAL_BAD, 'net.ipv4.conf.all.arp_ignore=0', 'net.ipv4.conf.all.arp_announce=0', 'net.ipv4.conf.eth0.arp_ignore=0', 'net.ipv4.conf.eth0.arp_announce=1');
  }, 120_000);

  afterAll(async () => {
    for (const child of [keepalived, listener]) {
      if (child?.exitCode === null) {
        child.kill('SIGTERM');
        await waitFor(() => child.exitCode !== null || child.signalCode !== null, 'a test process to stop', 15_000).catch(() => child.kill('SIGKILL'));
      }
    }
    await removeNamespaces();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('finds nothing at warning level on a well-configured director (the configuration keepalived runs with)', async () => {
    // No --keepalived-conf: the file comes from the running keepalived's command line.
    const { exitCode, findings, stderr } = await doctor(DIRECTOR, ['--config', kawatchYml]);
    expect(byCheck(findings, 'keepalived.config')[0]!.message).toBe(`keepalived -t -f ${confs.good}: configuration parses`);
    expect(failing(findings).filter((f) => f.severity !== 'info'), stderr).toEqual([]);
    expect(exitCode).toBe(0);
    const passed = findings.filter((f) => f.ok).map((f) => f.check);
    for (const check of ['keepalived.running', 'keepalived.config', 'wiring.hook', 'wiring.fifo', 'wiring.track_file', 'firewall.vrrp', 'peers.listen', 'peers.reachable']) expect(passed).toContain(check);
  });

  it('with LVS-DR: send_redirects off passes; IPVS is reported exactly as this kernel has it', async () => {
    const { findings } = await doctor(DIRECTOR, ['--config', kawatchYml, '--keepalived-conf', confs.dr]);
    expect(byCheck(findings, 'sysctl.send_redirects')[0]).toMatchObject({ ok: true, message: 'send_redirects is off (all and every interface)' });
    const ipvsPresent = (await exec('sh', ['-c', 'test -e /proc/net/ip_vs || modprobe -n -q ip_vs'])).exitCode === 0;
    expect(byCheck(findings, 'ipvs.available')[0]).toMatchObject({ ok: ipvsPresent });
    expect(failing(findings).filter((f) => f.check !== 'ipvs.available' && f.severity !== 'info')).toEqual([]);
  });

  it('detects each deliberate misconfiguration of a director, with its fix', async () => {
    await sysctl(DIRECTOR, 'net.ipv4.conf.all.send_redirects=1');
    await inNs(DIRECTOR, 'nft', 'insert', 'rule', 'inet', 'filter', 'input', 'iifname', 'eth0', 'meta', 'l4proto', 'vrrp', 'drop');
    listener!.kill('SIGTERM');
    keepalived!.kill('SIGTERM');
    await waitFor(() => keepalived!.exitCode !== null || keepalived!.signalCode !== null, 'keepalived to stop', 30_000);

    const { exitCode, findings } = await doctor(DIRECTOR, ['--config', kawatchYml, '--keepalived-conf', confs.broken]);
    expect(exitCode).toBe(1);
    const one = (check: string) => {
      const found = failing(byCheck(findings, check));
      expect(found, check).toHaveLength(1);
      return found[0]!;
    };
    expect(one('keepalived.running')).toMatchObject({ severity: 'error', fix: expect.stringContaining('systemctl start keepalived') });
    // keepalived's own words about the interface that is not there.
    expect(one('keepalived.config').message).toMatch(/interface ens99 for vrrp_instance VI_1 doesn't exist/);
    expect(one('wiring.hook')).toMatchObject({ severity: 'error', message: expect.stringContaining(`the hook writes to /var/spool/kawatch, but kawatch watches ${dir}/spool`) });
    const firewall = one('firewall.vrrp');
    expect(firewall.message).toMatch(/nftables drops VRRP \(IP protocol 112\): nftables inet filter chain input \(hook input\): rule handle \d+ drops VRRP on eth0/);
    expect(firewall.fix).toContain('nft insert rule inet filter input meta l4proto vrrp accept');
    const redirects = one('sysctl.send_redirects');
    expect(redirects.message).toMatch(/^send_redirects is on for eth0, eth1 \(net\.ipv4\.conf\.all\.send_redirects=1\)/);
    expect(redirects.fix).toMatch(/^sysctl -w net\.ipv4\.conf\.all\.send_redirects=0 /);
    expect(one('peers.reachable')).toMatchObject({ message: 'peer lb2 at 10.255.0.2:9651 is unreachable over the secondary link: ECONNREFUSED' });

    // The fixes it gave, applied, clear those findings.
    await sysctl(DIRECTOR, 'net.ipv4.conf.all.send_redirects=0');
    await inNs(DIRECTOR, ...firewall.fix!.split(' (')[0]!.replace(/^accept VRRP ahead of the drop: /, '').split(' '));
    const after = await doctor(DIRECTOR, ['--config', kawatchYml, '--keepalived-conf', confs.broken]);
    expect(failing(byCheck(after.findings, 'sysctl.send_redirects'))).toEqual([]);
    expect(failing(byCheck(after.findings, 'firewall.vrrp'))).toEqual([]);
  });

  it('finds nothing on a real server set up as the seeds do', async () => {
    const { exitCode, findings } = await doctor(REAL_GOOD, ['--real-server', '192.168.1.100']);
    expect(failing(findings)).toEqual([]);
    expect(findings.map((f) => f.check)).toEqual(['real-server.vip', 'real-server.arp_ignore', 'real-server.arp_announce']);
    expect(exitCode).toBe(0);
  });

  it('detects each real-server mistake: VIP not /32, on the wrong interface, missing; ARP settings', async () => {
    const { exitCode, findings } = await doctor(REAL_BAD, ['--real-server', '192.168.1.100', '192.168.1.150', '192.168.1.200']);
    expect(exitCode).toBe(1);
    const vips = byCheck(findings, 'real-server.vip');
    expect(vips.map((f) => [f.ok, f.fix])).toEqual([
      [false, 'ip addr del 192.168.1.100/24 dev lo; ip addr add 192.168.1.100/32 dev lo'],
      [false, 'ip addr del 192.168.1.150/24 dev eth0; ip addr add 192.168.1.150/32 dev lo'],
      [false, 'ip addr add 192.168.1.200/32 dev lo (and in the network configuration, so it survives a reboot)'],
    ]);
    expect(byCheck(findings, 'real-server.arp_ignore')[0]).toMatchObject({ ok: false, message: expect.stringContaining('arp_ignore is not 1 (eth0=0)'), fix: expect.stringContaining('net.ipv4.conf.all.arp_ignore=1') });
    expect(byCheck(findings, 'real-server.arp_announce')[0]).toMatchObject({ ok: false, message: expect.stringContaining('arp_announce is not 2 (eth0=1)'), fix: expect.stringContaining('net.ipv4.conf.all.arp_announce=2') });
  });

  it('prints findings grouped, each problem with its fix, without colour when not on a terminal', async () => {
    const result = await exec('ip', ['netns', 'exec', REAL_BAD, kawatchBin, 'doctor', '--real-server', '192.168.1.200']);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).not.toContain('\u001b[');
    expect(result.stdout).toMatch(/^LVS-DR real server\n {2}error {3}VIP 192\.168\.1\.200 is not on lo.*\[real-server\.vip\]\n {10}fix: ip addr add 192\.168\.1\.200\/32 dev lo/);
  });

  it('exits 2 when an input cannot be read', async () => {
    const missing = await doctor(DIRECTOR, ['--config', kawatchYml, '--keepalived-conf', join(dir, 'absent.conf')]);
    expect(missing).toMatchObject({ exitCode: 2, stderr: expect.stringContaining(`cannot read ${join(dir, 'absent.conf')}: ENOENT`) });
    const badVip = await doctor(REAL_GOOD, ['--real-server', '192.168.1.300']);
    expect(badVip).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('--real-server 192.168.1.300: not an IP address') });
  });
});
