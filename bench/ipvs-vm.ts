/**
 * Inside the test VM (started by bench/ipvs.ts, never by hand): kawatch reading the kernel's IPVS
 * table through generic netlink against node_exporter reading the same table from /proc/net/ip_vs.
 * The table is already loaded. Prints the comparison as one JSON object.
 *
 *   node dist/bench/ipvs-vm.js --scrapes N --dir DIR [--against CHECKOUT]
 */
import { mkdirSync } from 'node:fs';
import { compareExporters } from './ipvs-exporters.js';
import { checkOptions, countOption, option } from './support.js';

const dir = option('--dir', '/tmp/kawatch-bench-ipvs-vm');
const against = option('--against', '');
const scrapes = countOption('--scrapes', 3);
checkOptions();
mkdirSync(dir, { recursive: true });
const comparison = await compareExporters('/proc', 'netlink', scrapes, dir, against ? { root: against } : undefined);
process.stdout.write(`${JSON.stringify(comparison)}\n`);
