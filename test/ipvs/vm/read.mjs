// Inside the test VM: one consistent snapshot of the IPVS table as ipvsadm lists it, as both kawatch
// readers read it, and as the kernel answered generic netlink (the raw replies the netlink reader
// decoded, for the unit tests of the decoder). The host keeps a snapshot only when ipvsadm listed the
// same table before and after the reads, so nothing changed in between; the rate listing, which the
// estimator changes every 2 s while traffic decays, is taken right around the netlink read.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const dist = new URL('../../../dist/src/ipvs/', import.meta.url);
const { NetlinkReader, IpvsGenlClient } = await import(new URL('genl.js', dist).href);
const { ProcfsReader } = await import(new URL('procfs.js', dist).href);

const ipvsadm = (...flags) => execFileSync('ipvsadm', ['-Ln', '--exact', ...flags], { encoding: 'utf8' });

class RecordingClient extends IpvsGenlClient {
  services = [];
  destinations = [];
  async dumpServices() {
    const replies = await super.dumpServices();
    this.services = replies.map((b) => b.toString('hex'));
    return replies;
  }
  async dumpDestinations(service) {
    const replies = await super.dumpDestinations(service);
    const { protocol, family, address, port, fwmark } = service;
    this.destinations.push({ service: { protocol, family, address, port, fwmark }, replies: replies.map((b) => b.toString('hex')) });
    return replies;
  }
}

const before = { list: ipvsadm(), stats: ipvsadm('--stats') };
// The estimator may tick during a read; read again (bounded) until the rates held still around one.
let client, netlinkTable, afterRate;
let rateAttempts = 0;
do {
  rateAttempts++;
  client = new RecordingClient();
  const netlink = new NetlinkReader({ client });
  before.rate = ipvsadm('--rate');
  netlinkTable = await netlink.read();
  afterRate = ipvsadm('--rate');
  netlink.close();
} while (afterRate !== before.rate && rateAttempts < 10);
const procfsTable = await new ProcfsReader('/proc').read();
const proc = { ip_vs: readFileSync('/proc/net/ip_vs', 'utf8'), ip_vs_stats: readFileSync('/proc/net/ip_vs_stats', 'utf8') };
const after = { list: ipvsadm(), stats: ipvsadm('--stats'), rate: afterRate };

const json = (value) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
process.stdout.write(json({ rateAttempts, before, after, netlink: netlinkTable, procfs: procfsTable, proc, genl: { services: client.services, destinations: client.destinations } }));
