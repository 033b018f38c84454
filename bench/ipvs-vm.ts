/**
 * Inside the test VM (started by bench/ipvs.ts, never by hand): kawatch reading the kernel's IPVS
 * table through generic netlink against node_exporter reading the same table from /proc/net/ip_vs.
 * The table is already loaded. Prints the comparison as one JSON object.
 *
 * Then where kawatch's scrape time goes, and what no exporter on this kernel can go below, timed on
 * the same table: kawatch's netlink read and its exposition (written to buffers, no socket: the
 * rest of a scrape is HTTP and the client's reading), the kernel writing /proc/net/ip_vs (the
 * read node_exporter starts with) and ipvsadm dumping the table over netlink with its statistics
 * (a C client of the same dumps kawatch makes: the kernel's side and libnl's decoding).
 *
 *   node dist/bench/ipvs-vm.js --scrapes N --dir DIR [--against CHECKOUT] [--gzip]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { NetlinkReader } from '../src/ipvs/genl.js';
import { ChunkBuffers, ipvsExposition } from '../src/metrics/ipvs.js';
import { parseConfig } from '../src/config/load.js';
import { compareExporters, type VmStages } from './ipvs-exporters.js';
import { checkOptions, countOption, flag, option } from './support.js';

const dir = option('--dir', '/tmp/kawatch-bench-ipvs-vm');
const against = option('--against', '');
const scrapes = countOption('--scrapes', 3);
const gzip = flag('--gzip');
checkOptions();
mkdirSync(dir, { recursive: true });

/** kawatch's read and exposition of the table as the daemon makes them (its default ipvs settings, as the compared daemon runs), each timed, `rounds` times. */
async function kawatchStages(rounds: number): Promise<Pick<VmStages, 'readMs' | 'expositionMs' | 'expositionBytes'>> {
  const { ipvs } = parseConfig('', 'defaults');
  const reader = new NetlinkReader();
  const buffers = new ChunkBuffers();
  const stages = { readMs: [] as number[], expositionMs: [] as number[], expositionBytes: 0 };
  try {
    for (let round = 0; round < rounds; round++) {
      let started = performance.now();
      const table = await reader.read();
      stages.readMs.push(performance.now() - started);
      started = performance.now();
      let bytes = 0;
      for (const chunk of ipvsExposition({ table, health: { up: true, durationSeconds: 0, problemsTotal: 0 }, backendLabels: ipvs.backend_labels, backendRates: ipvs.backend_rates, checkers: [] }, buffers)) {
        bytes += chunk.length;
        buffers.give(chunk);
      }
      stages.expositionMs.push(performance.now() - started);
      stages.expositionBytes = bytes;
    }
  } finally {
    reader.close();
  }
  return stages;
}

/** Wall time of `command`, its output discarded, `rounds` times. */
function timed(command: string, args: string[], rounds: number): number[] {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    const run = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 20 });
    if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
    times.push(performance.now() - started);
  }
  return times;
}

const comparison = await compareExporters('/proc', 'netlink', { scrapes, dir, against: against ? { root: against } : undefined, gzip });
const stages: VmStages = {
  ...(await kawatchStages(scrapes)),
  procMs: timed('cat', ['/proc/net/ip_vs'], scrapes),
  ipvsadmMs: timed('ipvsadm', ['-Ln', '--stats', '--exact'], scrapes),
};
process.stdout.write(`${JSON.stringify({ ...comparison, stages })}\n`);
