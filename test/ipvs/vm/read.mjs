// Inside the test VM: one consistent snapshot of the IPVS table as ipvsadm lists it, as both kawatch
// readers read it, and as the kernel answered generic netlink (the raw replies the netlink reader
// decoded, for the unit tests of the decoder). The host keeps a snapshot only when ipvsadm listed the
// same table before and after the reads, so nothing changed in between; the rate listing, which the
// estimator changes every 2 s while traffic decays, is taken right around the netlink read.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const dist = new URL('../../../dist/src/ipvs/', import.meta.url);
const { NetlinkReader, IpvsGenlClient, IPVS_CMD_GET_SERVICE } = await import(new URL('genl.js', dist).href);
const { expandTable } = await import(new URL('../model/ipvs-backends.js', dist).href);
const { ProcfsReader } = await import(new URL('procfs.js', dist).href);

const ipvsadm = (...flags) => execFileSync('ipvsadm', ['-Ln', '--exact', ...flags], { encoding: 'utf8' });

/** Records the payload of every reply the reader decodes, per request. */
class RecordingClient extends IpvsGenlClient {
  services = [];
  destinations = [];
  async dump(cmd, attributes, visit) {
    const replies = [];
    await super.dump(cmd, attributes, (buffer, from, to) => {
      replies.push(buffer.subarray(from, to).toString('hex'));
      visit(buffer, from, to);
    });
    if (cmd === IPVS_CMD_GET_SERVICE) this.services = replies;
    else this.destinations.push(replies);
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

// The reader asks for each service's real servers in the order of its services.
const serviceKey = ({ protocol, family, address, port, fwmark }) => ({ protocol, family, address, port, fwmark });
const json = (value) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
process.stdout.write(json({ rateAttempts, before, after, netlink: expandTable(netlinkTable), procfs: expandTable(procfsTable), proc, genl: { services: client.services, destinations: client.destinations.map((replies, i) => ({ service: serviceKey(netlinkTable.services[i]), replies })) } }));
