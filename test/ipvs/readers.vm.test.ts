import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IpvsTable } from '../../src/model/ipvs.js';
import { consistentSnapshot, expectReadersMatchIpvsadm, ipvsadmServiceKey, parseIpvsadm, type VmSnapshot, waitForConnections } from '../support/ipvsadm.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { TestVm, vmPrereqs } from '../support/vm.js';
import { waitFor } from '../support/wait.js';

/** In-VM scripts: the VM sees the host's root, so the checkout's paths are the same there. */
const VM = fileURLToPath(new URL('./vm', import.meta.url));
/** A procfs-shaped tree (`net/ip_vs`, `net/ip_vs_stats`), so ProcfsReader reads it as it is. */
const FIXTURES = new URL('../fixtures/ipvs/kernel/', import.meta.url);
const NAT_SERVICE = 'TCP 10.40.0.100:80';

/** The kernel counts every packet in its service and in the totals: after `ipvsadm -Z`, totals are the sums. */
function serviceSums(table: IpvsTable): Record<string, bigint> {
  const sums = { connections: 0n, incomingPackets: 0n, outgoingPackets: 0n, incomingBytes: 0n, outgoingBytes: 0n };
  for (const s of table.services) for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] += s.stats![k];
  return sums;
}

/** Captures for the unit tests of the decoders (KAWATCH_UPDATE_FIXTURES=1, see scripts/capture-ipvs-fixtures.sh). */
function writeFixtures(snapshot: VmSnapshot): void {
  mkdirSync(new URL('net/', FIXTURES), { recursive: true });
  const file = (name: string, text: string) => writeFileSync(new URL(name, FIXTURES), text);
  file('net/ip_vs', snapshot.proc.ip_vs);
  file('net/ip_vs_stats', snapshot.proc.ip_vs_stats);
  file('ipvsadm-list.txt', snapshot.before.list);
  file('ipvsadm-stats.txt', snapshot.before.stats);
  file('ipvsadm-rate.txt', snapshot.before.rate);
  file('genl-replies.json', `${JSON.stringify(snapshot.genl, null, 1)}\n`);
}

describeWithPrereqs('IPVS readers on a real IPVS kernel (qemu)', vmPrereqs(['ipvsadm', 'curl']), () => {
  let vm: TestVm;

  beforeAll(async () => {
    vm = await TestVm.boot();
    console.log(`VM booted in ${vm.bootSeconds.toFixed(1)} s`);
  });
  afterAll(async () => {
    await vm?.shutdown();
  });

  it('reads every kind of service ipvsadm makes as ipvsadm lists it, through netlink and procfs', async () => {
    await vm.ok(`sh ${VM}/table.sh`);
    const snapshot = await consistentSnapshot((s) => vm.ok(s));
    const reference = parseIpvsadm(snapshot.before);
    // The table really has what this test is about.
    expect(Object.keys(reference).sort()).toEqual(
      ['FWM 7 IPv4', 'FWM 9 IPv6', 'SCTP 10.10.0.1:3868', 'TCP 10.10.0.1:80', 'TCP 10.10.0.2:443', 'TCP [2001:db8::1]:443', 'UDP 10.10.0.1:53', 'UDP [2001:db8::2]:123'],
    );
    expect(reference['TCP 10.10.0.1:80']!.destinations['10.10.1.3:8080']!.weight).toBe(0);
    expect(new Set(Object.values(reference).flatMap((s) => Object.values(s.destinations).map((d) => d.forwarding)))).toEqual(new Set(['masq', 'route', 'tunnel']));
    expectReadersMatchIpvsadm(snapshot);
    const v6 = snapshot.netlink.services.find((s) => ipvsadmServiceKey(s) === 'TCP [2001:db8::1]:443')!;
    expect(v6.persistence).toEqual({ timeoutSeconds: 300, netmask: '64' });
  });

  it('counts real TCP connections through a NAT service to a backend: counters and estimator rates as ipvsadm reports them', async () => {
    await vm.ok(`sh ${VM}/nat.sh && ipvsadm -A -t 10.40.0.100:80 -s rr && ipvsadm -a -t 10.40.0.100:80 -r 10.20.0.2:8080 -m -w 1 && ipvsadm -Z`);
    const connections = 12;
    await vm.ok(`sh ${VM}/load.sh ${connections}`);
    await waitForConnections((s) => vm.ok(s), '10.40.0.100:80', connections);
    // The estimator works in 2 s periods; wait until it has seen the traffic.
    await waitFor(async () => /^TCP {2}10\.40\.0\.100:80 .*[1-9]\d* +[1-9]\d*$/m.test(await vm.ok('ipvsadm -Ln --rate --exact')), 'non-zero byte rates on the NAT service', 30_000);
    const snapshot = await consistentSnapshot((s) => vm.ok(s));
    console.log(`consistent snapshot after ${snapshot.attempts} run(s), ${snapshot.rateAttempts} read(s) in the last`);
    if (process.env.KAWATCH_UPDATE_FIXTURES === '1') writeFixtures(snapshot);
    expectReadersMatchIpvsadm(snapshot);

    const nat = snapshot.netlink.services.find((s) => ipvsadmServiceKey(s) === NAT_SERVICE)!;
    expect(nat.stats!.connections).toBe(BigInt(connections));
    expect(nat.stats!.incomingPackets).toBeGreaterThan(BigInt(connections * 3));
    // Each answer carries nat.sh's 100000-byte page.
    expect(nat.stats!.outgoingBytes).toBeGreaterThan(BigInt(connections * 100_000));
    // The estimator's averages decay by a quarter every 2 s once traffic stops: the connection rate of a
    // dozen connections is 0 again within seconds, byte rates of this much traffic last about a minute.
    expect(nat.rates!.incomingBytesPerSecond).toBeGreaterThan(0);
    expect(nat.rates!.outgoingBytesPerSecond).toBeGreaterThan(0);
    const [backend] = nat.destinations;
    expect(backend).toMatchObject({ address: '10.20.0.2', port: 8080, forwarding: 'masq' });
    expect(backend!.stats).toEqual(nat.stats);
    // Finished connections wait in TIME_WAIT: inactive until the kernel expires them.
    expect(backend!.activeConnections + backend!.inactiveConnections).toBeGreaterThan(0);

    expect(snapshot.netlink.totals).toEqual(serviceSums(snapshot.netlink));
    expect(snapshot.netlink.totalRates.outgoingBytesPerSecond).toBeGreaterThan(0);
  });

  it('reads a table that spans many netlink messages (400 services, 1600 real servers) without losing or mixing any', async () => {
    // Without the NAT service, whose decaying rates would change the listing every 2 s: a read this big takes longer.
    await vm.ok(`ipvsadm -D -t 10.40.0.100:80 2>/dev/null; sh ${VM}/large.sh 400`);
    const started = Date.now();
    const snapshot = await consistentSnapshot((s) => vm.ok(s));
    console.log(`large table: consistent snapshot after ${snapshot.attempts} run(s), ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expectReadersMatchIpvsadm(snapshot);
    expect(snapshot.netlink.services.length).toBeGreaterThanOrEqual(400);
    expect(snapshot.netlink.services.reduce((n, s) => n + s.destinations.length, 0)).toBeGreaterThanOrEqual(1600);
  });
});
