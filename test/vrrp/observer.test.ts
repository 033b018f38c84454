import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../src/version.js';
import { WireObserver } from '../../src/vrrp/observer.js';
import { encodeAdvert } from '../../src/vrrp/packet.js';
import { silentLog } from '../support/log.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const addon = join(packageRoot(), 'native/build/vrrp-socket.node');

/** Sends IPv4 packets whole (IP_HDRINCL) to the loopback: the real kernel delivers them to the observer's raw socket. */
function send(packets: Uint8Array[]): void {
  const hex = packets.map((p) => Buffer.from(p).toString('hex')).join(',');
  execFileSync('python3', ['-c', 'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)\nfor h in sys.argv[1].split(","): s.sendto(bytes.fromhex(h),("127.0.0.1",0))', hex]);
}

describeWithPrereqs('the observer on a real raw socket', { root: true, commands: ['python3'], files: [addon] }, () => {
  let dir: string;
  let observer: WireObserver;
  let changes = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-wire-'));
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, 'vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n authentication {\n auth_type PASS\n auth_pass kawatch1\n }\n}\n');
    observer = new WireObserver({ interfaces: [], configFile: conf, forgetAfterMs: 600_000, retryMs: 10_000, onChange: () => changes++ }, silentLog);
    await observer.start();
  });
  afterAll(async () => {
    await observer?.stop();
    if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  });

  it("listens on keepalived.conf's interfaces, counts each speaker's adverts, checks the password and counts what is malformed", async () => {
    expect(observer.view().interfaces.map((i) => [i.intf, i.up])).toEqual([['lo', true]]);
    const advert = { version: 2 as const, family: 4 as const, source: '127.0.0.51', destination: '127.0.0.1', vrid: 51, priority: 50, intervalMs: 1000, addresses: ['198.18.0.50'] };
    send([encodeAdvert(advert, { password: 'kawatch1' }), encodeAdvert(advert, { password: 'kawatch1' }), encodeAdvert({ ...advert, source: '127.0.0.52' }, { password: 'wrong' }), encodeAdvert(advert, { ttl: 64 })]);
    const speakers = await waitFor(() => {
      const s = observer.speakersOf('lo', 51);
      return s.length === 2 && s.find((x) => x.address === '127.0.0.51')?.adverts === 2 && s;
    }, 'two speakers of VRID 51 on lo');
    expect(speakers.map((s) => [s.address, s.priority, s.auth, s.authMatches]).sort()).toEqual([
      ['127.0.0.51', 50, 'simple', true],
      ['127.0.0.52', 50, 'simple', false],
    ]);
    await waitFor(() => observer.view().interfaces[0]!.malformed.ttl === 1, 'the TTL 64 advert counted as malformed');
    expect(changes).toBeGreaterThanOrEqual(2);
  });
});
