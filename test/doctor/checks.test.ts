import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigTest, checkFirewall, checkIpvs, checkKeepalivedRunning, checkNotifyScripts, checkPeers, checkSendRedirects, checkTrackDir, checkWiring, realServerChecks } from '../../src/doctor/checks.js';
import { known, unknown, type DirectorFacts, type Interface, type Ipv4Conf, type KawatchWiring, type KeepalivedWiring } from '../../src/doctor/facts.js';
import { problems, type Finding } from '../../src/doctor/findings.js';
import { confFromCmdline } from '../../src/doctor/gather.js';
import { wiringOf } from '../../src/doctor/wiring.js';
import { parseKeepalivedConf } from '../../src/keepalived/conf/parse.js';

const examples = join(import.meta.dirname, '../../examples/keepalived');

const kawatch: KawatchWiring = {
  hookEnabled: true,
  spoolDir: '/var/spool/kawatch',
  fifoEnabled: true,
  fifoPaths: ['/run/kawatch/keepalived.fifo'],
  trackDir: '/run/kawatch/track',
  policy: 'demote',
};

const drConf = (method = 'DR'): KeepalivedWiring => ({ file: 'k.conf', notifyScripts: [], fifos: [], trackFiles: [], instances: [], virtualServers: [{ name: '192.168.1.100 80', method, where: 'k.conf:40' }] });

function director(overrides: Partial<DirectorFacts> = {}): DirectorFacts {
  return {
    ipv4Conf: known({ all: { send_redirects: 0 }, default: { send_redirects: 0 }, lo: { send_redirects: 0 }, eth0: { send_redirects: 0 } }),
    interfaces: known([{ ifname: 'eth1', addresses: [{ family: 'inet', local: '10.255.0.1', prefixlen: 30 }] }]),
    vrrpFirewall: [{ firewall: 'nftables', verdict: known({ dropped: false }) }],
    keepalived: { pidFile: '/run/keepalived.pid', running: true, pid: 42 },
    configTest: known({ file: '/etc/keepalived/keepalived.conf', exitCode: 0, output: '' }),
    kawatch,
    ipvs: { loaded: true, loadable: true },
    peers: [],
    ...overrides,
  };
}

const only = (findings: Finding[]) => {
  expect(findings).toHaveLength(1);
  return findings[0]!;
};

describe('director checks', () => {
  it('keepalived not running: why, and how to start it', () => {
    const f = checkKeepalivedRunning(director({ keepalived: { pidFile: '/run/k.pid', running: false, reason: 'pid file /run/k.pid: ENOENT' } }));
    expect(f).toMatchObject({ ok: false, severity: 'error', message: 'keepalived is not running: pid file /run/k.pid: ENOENT' });
    expect(f.fix).toContain('systemctl start keepalived');
    expect(checkKeepalivedRunning(director()).ok).toBe(true);
  });

  it("a configuration keepalived refuses: keepalived's own words", () => {
    const said = '(/etc/keepalived/keepalived.conf: Line 12) WARNING - interface ens34 for vrrp_instance VI_1 doesn\'t exist\nNon-existent interface specified in configuration\n';
    const f = checkConfigTest(director({ configTest: known({ file: '/etc/keepalived/keepalived.conf', exitCode: 5, output: said }) }));
    expect(f.ok).toBe(false);
    expect(f.message).toContain('exit 5');
    expect(f.message).toContain('interface ens34 for vrrp_instance VI_1');
    expect(checkConfigTest(director({ configTest: unknown('cannot run keepalived: spawn keepalived ENOENT') })).fix).toMatch(/install keepalived/);
  });

  it('IPVS: an error only when virtual servers need it, fine when the module can be loaded', () => {
    const absent = { loaded: false, loadable: false };
    expect(checkIpvs(director({ ipvs: absent, keepalivedConf: known(drConf()) }))).toMatchObject({ ok: false, severity: 'error' });
    expect(checkIpvs(director({ ipvs: absent }))).toMatchObject({ ok: false, severity: 'warning' });
    expect(checkIpvs(director({ ipvs: absent, keepalivedConf: known({ ...drConf(), virtualServers: [] }) })).ok).toBe(true);
    expect(checkIpvs(director({ ipvs: { loaded: false, loadable: true }, keepalivedConf: known(drConf()) })).ok).toBe(true);
  });

  it('VRRP dropped by a firewall: where, and the accept to insert', () => {
    const f = only(checkFirewall(director({ vrrpFirewall: [{ firewall: 'nftables', verdict: known({ dropped: true, where: 'chain input: rule handle 4 drops VRRP on eth0', fix: 'nft insert rule inet filter input meta l4proto vrrp accept' }) }] })));
    expect(f).toMatchObject({ ok: false, severity: 'error', check: 'firewall.vrrp' });
    expect(f.message).toContain('rule handle 4 drops VRRP on eth0');
    expect(f.fix).toContain('nft insert rule inet filter input meta l4proto vrrp accept');
  });

  it('send_redirects: `all` turns it on everywhere; the fix turns off every setting that is on', () => {
    const f = checkSendRedirects(director({ ipv4Conf: known({ all: { send_redirects: 1 }, default: { send_redirects: 1 }, lo: { send_redirects: 1 }, eth0: { send_redirects: 1 }, eth1: { send_redirects: 0 } }) }));
    expect(f).toMatchObject({ ok: false, severity: 'warning' });
    expect(f.message).toMatch(/^send_redirects is on for eth0, eth1 \(net\.ipv4\.conf\.all\.send_redirects=1\)/);
    expect(f.fix).toMatch(/^sysctl -w net\.ipv4\.conf\.all\.send_redirects=0 net\.ipv4\.conf\.default\.send_redirects=0 net\.ipv4\.conf\.eth0\.send_redirects=0 /);
    expect(f.fix).not.toContain('eth1.send_redirects');
  });

  it('send_redirects: one interface on is enough; off everywhere passes; without LVS-DR it does not matter', () => {
    const one = checkSendRedirects(director({ ipv4Conf: known({ all: { send_redirects: 0 }, eth0: { send_redirects: 0 }, eth1: { send_redirects: 1 } }) }));
    expect(one.message).toMatch(/^send_redirects is on for eth1:/);
    expect(checkSendRedirects(director()).ok).toBe(true);
    expect(checkSendRedirects(director({ ipv4Conf: known({ all: { send_redirects: 1 }, eth0: { send_redirects: 1 } }), keepalivedConf: known(drConf('NAT')) })).ok).toBe(true);
    expect(checkSendRedirects(director({ ipv4Conf: unknown('/proc/sys/net/ipv4/conf: EACCES') })).message).toContain('EACCES');
  });

  it('peers: an unreachable peer and a listen address on no interface', () => {
    const facts = director({
      kawatch: { ...kawatch, peerListen: '10.255.0.9:9651' },
      peers: [
        { name: 'lb2', address: '10.255.0.2:9651', reachable: false, error: 'ECONNREFUSED' },
        { name: 'lb3', address: '10.255.0.3:9651', reachable: true },
      ],
    });
    const [listen, lb2, lb3] = checkPeers(facts);
    expect(listen).toMatchObject({ check: 'peers.listen', ok: false, message: 'peers.listen 10.255.0.9:9651: 10.255.0.9 is on no interface of this host' });
    expect(lb2).toMatchObject({ ok: false, severity: 'error', message: 'peer lb2 at 10.255.0.2:9651 is unreachable over the secondary link: ECONNREFUSED' });
    expect(lb2!.fix).toContain('ip route get 10.255.0.2');
    expect(lb2!.fix).toContain('TCP port 9651');
    expect(lb3!.ok).toBe(true);
    expect(checkPeers(director({ kawatch: { ...kawatch, peerListen: '10.255.0.1:9651' } }))[0]).toMatchObject({ ok: true, message: 'peers.listen 10.255.0.1:9651 is on eth1' });
  });
});

describe('wiring keepalived → kawatch', () => {
  const example = async (name: string) => {
    const file = join(examples, name);
    const parsed = await parseKeepalivedConf(file);
    expect(parsed.problems).toEqual([]);
    return wiringOf(file, parsed);
  };

  it('the multi-master example is wired completely (hook, FIFO, a track file per instance)', async () => {
    const findings = checkWiring(await example('multi-master-lb1.conf'), kawatch);
    expect(findings.map((f) => [f.check, f.ok])).toEqual([
      ['wiring.hook', true],
      ['wiring.fifo', true],
      ['wiring.track_file', true],
    ]);
  });

  it('the LVS-DR example: IPVS needed, the checkers\' FIFO not yet read by this kawatch.yml', async () => {
    const wiring = await example('lvs-dr-director.conf');
    expect(wiring.virtualServers).toEqual([expect.objectContaining({ name: '192.168.1.100 80', method: 'DR' })]);
    const fifo = checkWiring(wiring, kawatch).find((f) => f.check === 'wiring.fifo')!;
    expect(fifo).toMatchObject({ ok: false, severity: 'warning' });
    expect(fifo.message).toContain('lvs_notify_fifo /run/kawatch/keepalived-lvs.fifo');
    expect(fifo.fix).toContain('sources.fifo.paths: [/run/kawatch/keepalived.fifo, /run/kawatch/keepalived-lvs.fifo]');
  });

  it('a hook into another spool, an unwritten FIFO and a missing track file, each with its fix', async () => {
    const wiring = await example('multi-master-lb1.conf');
    const findings = checkWiring(wiring, { ...kawatch, spoolDir: '/srv/spool', fifoPaths: ['/run/kawatch/other.fifo'], trackDir: '/run/kawatch/fence' });
    const hook = findings.find((f) => f.check === 'wiring.hook')!;
    expect(hook).toMatchObject({ ok: false, severity: 'error' });
    expect(hook.message).toMatch(/the hook writes to \/var\/spool\/kawatch, but kawatch watches \/srv\/spool/);
    expect(hook.fix).toContain('notify "/usr/bin/kawatch notify --spool /srv/spool"');
    const fifos = findings.filter((f) => f.check === 'wiring.fifo');
    expect(fifos.map((f) => f.message)).toEqual([
      expect.stringContaining('keepalived writes vrrp_notify_fifo /run/kawatch/keepalived.fifo'),
      expect.stringContaining('kawatch reads /run/kawatch/other.fifo'),
    ]);
    const track = findings.find((f) => f.check === 'wiring.track_file')!;
    expect(track).toMatchObject({ ok: false, severity: 'error' });
    expect(track.message).toMatch(/^VI_1 \(.*multi-master-lb1\.conf:\d+\), VI_2 \(.*\) track no file in \/run\/kawatch\/fence: watchdog\.policy demote cannot fence it/);
    expect(track.fix).toContain('file /run/kawatch/fence/VI_1');
    // Only policy demote needs the track files.
    expect(checkWiring(wiring, { ...kawatch, policy: 'alert', trackDir: '/run/kawatch/fence' }).find((f) => f.check === 'wiring.track_file')!.severity).toBe('info');
  });

  it('no hook and no FIFO: only the periodic dump sees transitions', () => {
    const wiring: KeepalivedWiring = { file: 'k.conf', notifyScripts: [{ owner: 'VI_1', keyword: 'notify_master', script: '/root/sendemail.sh master', where: 'k.conf:20' }], fifos: [], trackFiles: [], instances: [{ name: 'VI_1', trackFiles: [], where: 'k.conf:10' }], virtualServers: [] };
    const hook = checkWiring(wiring, { ...kawatch, fifoEnabled: false }).find((f) => f.check === 'wiring.hook')!;
    expect(hook).toMatchObject({ ok: false, severity: 'warning' });
    expect(hook.fix).toContain('notify "/usr/bin/kawatch notify"');
  });
});

describe('LVS-DR real server checks', () => {
  const sysctls = (all: Ipv4Conf, eth0: Ipv4Conf, lo: Ipv4Conf = {}) => known<Record<string, Ipv4Conf>>({ all, default: {}, lo, eth0 });
  const good = sysctls({ arp_ignore: 1, arp_announce: 2 }, { arp_ignore: 0, arp_announce: 0 }, { arp_ignore: 1, arp_announce: 2 });
  const addrs = (...list: Array<[string, string, number]>): ReturnType<typeof known<Interface[]>> =>
    known(['lo', 'eth0'].map((ifname) => ({ ifname, addresses: list.filter(([i]) => i === ifname).map(([, local, prefixlen]) => ({ family: 'inet' as const, local, prefixlen })) })));
  const vipOk = addrs(['lo', '127.0.0.1', 8], ['lo', '192.168.1.100', 32], ['eth0', '192.168.1.101', 24]);

  it('passes the seeds\' setup: VIP on lo as /32, all.arp_ignore=1, all.arp_announce=2', () => {
    const findings = realServerChecks({ ipv4Conf: good, interfaces: vipOk }, ['192.168.1.100']);
    expect(findings.map((f) => [f.check, f.ok])).toEqual([
      ['real-server.vip', true],
      ['real-server.arp_ignore', true],
      ['real-server.arp_announce', true],
    ]);
    expect(problems(findings, 'info')).toEqual([]);
  });

  it('the VIP missing, on lo with a wider prefix, or on the client-facing interface', () => {
    const vip = (interfaces: ReturnType<typeof addrs>) => realServerChecks({ ipv4Conf: good, interfaces }, ['192.168.1.100'])[0]!;
    expect(vip(addrs(['lo', '127.0.0.1', 8]))).toMatchObject({ ok: false, fix: 'ip addr add 192.168.1.100/32 dev lo (and in the network configuration, so it survives a reboot)' });
    expect(vip(addrs(['lo', '192.168.1.100', 24]))).toMatchObject({ ok: false, message: expect.stringContaining('on lo as /24'), fix: 'ip addr del 192.168.1.100/24 dev lo; ip addr add 192.168.1.100/32 dev lo' });
    expect(vip(addrs(['eth0', '192.168.1.100', 24]))).toMatchObject({ ok: false, message: expect.stringContaining('is on eth0 (/24)'), fix: 'ip addr del 192.168.1.100/24 dev eth0; ip addr add 192.168.1.100/32 dev lo' });
  });

  it('arp_ignore and arp_announce: the larger of all and the interface counts', () => {
    const check = (ipv4Conf: ReturnType<typeof sysctls>) => realServerChecks({ ipv4Conf, interfaces: vipOk }, ['192.168.1.100']).slice(1);
    const [ignore, announce] = check(sysctls({ arp_ignore: 0, arp_announce: 1 }, { arp_ignore: 0, arp_announce: 0 }));
    expect(ignore).toMatchObject({ ok: false, severity: 'error', message: expect.stringContaining('arp_ignore is not 1 (eth0=0)') });
    expect(ignore!.fix).toMatch(/^sysctl -w net\.ipv4\.conf\.all\.arp_ignore=1 net\.ipv4\.conf\.lo\.arp_ignore=1 /);
    expect(announce).toMatchObject({ ok: false, message: expect.stringContaining('arp_announce is not 2 (eth0=1)') });
    // Set on the interface itself, not on all: just as good.
    expect(check(sysctls({ arp_ignore: 0, arp_announce: 0 }, { arp_ignore: 1, arp_announce: 2 })).map((f) => f.ok)).toEqual([true, true]);
    // arp_ignore=8 on the interface answers no ARP at all: reset there too.
    const [eight] = check(sysctls({ arp_ignore: 1, arp_announce: 2 }, { arp_ignore: 8, arp_announce: 2 }));
    expect(eight!.fix).toContain('net.ipv4.conf.eth0.arp_ignore=1');
  });
});

describe('exit status', () => {
  it('counts only problems at or above the chosen severity', () => {
    const findings: Finding[] = [
      { check: 'sysctl.send_redirects', severity: 'warning', ok: false, message: 'm', fix: 'f' },
      { check: 'keepalived.running', severity: 'error', ok: true, message: 'm' },
    ];
    expect(problems(findings, 'warning')).toHaveLength(1);
    expect(problems(findings, 'error')).toHaveLength(0);
  });
});

describe("the running keepalived's configuration", () => {
  it('is read from its command line, in every spelling keepalived accepts', () => {
    expect(confFromCmdline(['keepalived', '-P', '-n', '-f', '/srv/k.conf', '-p', '/run/k.pid'])).toBe('/srv/k.conf');
    expect(confFromCmdline(['keepalived', '--use-file=/srv/k.conf'])).toBe('/srv/k.conf');
    expect(confFromCmdline(['keepalived', '--use-file', '/srv/k.conf'])).toBe('/srv/k.conf');
    expect(confFromCmdline(['keepalived', '-f/srv/k.conf'])).toBe('/srv/k.conf');
    expect(confFromCmdline(['/usr/sbin/keepalived', '--dont-fork', ''])).toBeUndefined();
  });
});

describe('disabled notify scripts and the track directory', () => {
  const dumps = join(import.meta.dirname, '../fixtures/keepalived/dumps');
  const wiringOfFile = async (file: string) => wiringOf(file, await parseKeepalivedConf(file));

  it('1.3.5 with a notify command that has arguments: disabled, with the wrapper to write', async () => {
    const conf = await wiringOfFile(join(dumps, '1.3.5-nojson/keepalived.conf'));
    const f = checkNotifyScripts(director({ keepalivedConf: known(conf), keepalivedVersion: known({ major: 1, minor: 3, patch: 5 }) }));
    expect(f).toMatchObject({ check: 'wiring.notify_disabled', ok: false, severity: 'error' });
    expect(f.message).toContain('notify "/run/matrix/notify.sh generic"');
    // The one without arguments runs.
    expect(f.message).not.toContain('"/run/matrix/notify.sh"');
    expect(f.fix).toContain('exec /usr/bin/kawatch notify "$@"');
    // 2.x runs the same line with its arguments.
    expect(checkNotifyScripts(director({ keepalivedConf: known(conf), keepalivedVersion: known({ major: 2, minor: 0, patch: 19 }) })).ok).toBe(true);
  });

  it("keepalived's own log saying it disabled a script (the real 1.3.5 lines), whatever the version", async () => {
    const log = readFileSync(join(dumps, '1.3.5-nojson/log-warnings.txt'), 'utf8').split('\n');
    const f = checkNotifyScripts(director({ keepalivedLog: known(log) }));
    expect(f.ok).toBe(false);
    expect(f.message).toContain('Disabling notify script /run/matrix/notify.sh generic since not found');
    expect(checkNotifyScripts(director({ keepalivedLog: known(['VRRP_Script(check_service) succeeded']) })).ok).toBe(true);
  });

  it('a track file in a missing track directory: keepalived 2.2+ drops it at config read', async () => {
    const conf = await wiringOfFile(join(examples, 'multi-master-lb1.conf'));
    const missing = checkTrackDir(director({ keepalivedConf: known(conf), trackDirExists: false }))!;
    expect(missing).toMatchObject({ check: 'wiring.track_dir', ok: false });
    expect(missing.message).toContain('/run/kawatch/track does not exist');
    expect(missing.fix).toContain('start kawatch before keepalived');
    expect(checkTrackDir(director({ keepalivedConf: known(conf), trackDirExists: true }))!.ok).toBe(true);
    // No track file there: nothing to say.
    expect(checkTrackDir(director({ keepalivedConf: known(drConf()), trackDirExists: false }))).toBeUndefined();
  });
});
