import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { consistentSnapshot, expectReadersMatchIpvsadm, waitForConnections } from '../support/ipvsadm.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { TestVm, vmPrereqs } from '../support/vm.js';
import { waitFor } from '../support/wait.js';

/** In-VM scripts and keepalived.conf: the VM sees the host's root, so the checkout's paths are the same there. */
const VM = fileURLToPath(new URL('./vm', import.meta.url));
const SERVICE = 'TCP 10.40.0.100:80';

const listing = (vm: TestVm) => vm.ok('ipvsadm -Ln --exact');

describeWithPrereqs('IPVS readers on the table a real keepalived makes (qemu)', vmPrereqs(['ipvsadm', 'keepalived', 'curl']), () => {
  let vm: TestVm;

  beforeAll(async () => {
    vm = await TestVm.boot();
    console.log(`VM booted in ${vm.bootSeconds.toFixed(1)} s`);
    await vm.ok(`sh ${VM}/nat.sh`);
    // Checkers only (-C): no VRRP in a VM with no peer. Detached, logging to a file for failures.
    await vm.ok(`mkdir -p /tmp/ka && setsid keepalived -n -l -D -C -f ${VM}/keepalived.conf -p /tmp/ka/keepalived.pid -c /tmp/ka/checkers.pid > /tmp/ka/log 2>&1 < /dev/null &`);
  });
  afterAll(async () => {
    await vm?.shutdown();
  });

  it('reads the virtual_server block as keepalived put it in the kernel: the live real server, the failed one at weight 0', async () => {
    await waitFor(
      async () => {
        const text = await listing(vm);
        return /10\.20\.0\.2:8080 +Masq +3 /.test(text) && /10\.20\.0\.4:8080 +Masq +0 /.test(text);
      },
      'keepalived to add the live real server and inhibit the dead one',
      60_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\nkeepalived log:\n${await vm.ok('cat /tmp/ka/log')}`);
    });
    await vm.ok(`sh ${VM}/load.sh 3`);
    await waitForConnections((s) => vm.ok(s), '10.20.0.2:8080', 3);
    const reference = expectReadersMatchIpvsadm(await consistentSnapshot((s) => vm.ok(s)));
    expect(reference[SERVICE]).toMatchObject({ scheduler: 'wrr', persistence: { timeoutSeconds: 120, netmask: '255.255.255.255' } });
    expect(reference[SERVICE]!.destinations).toMatchObject({
      '10.20.0.2:8080': { forwarding: 'masq', weight: 3 },
      '10.20.0.4:8080': { forwarding: 'masq', weight: 0 },
    });
    expect(Number(reference[SERVICE]!.destinations['10.20.0.2:8080']!.stats![0])).toBe(3);
  });

  it('reads the sorry server keepalived puts in when the last real server fails its check', async () => {
    await vm.ok('kill "$(cat /tmp/httpd.pid)"');
    await waitFor(async () => /10\.20\.0\.3:8080 /.test(await listing(vm)), 'keepalived to put the sorry server in', 60_000);
    const reference = expectReadersMatchIpvsadm(await consistentSnapshot((s) => vm.ok(s)));
    expect(Object.keys(reference[SERVICE]!.destinations).sort()).toEqual(['10.20.0.3:8080', '10.20.0.4:8080']);
    expect(reference[SERVICE]!.destinations['10.20.0.4:8080']!.weight).toBe(0);
  });
});
