/**
 * Split-brain detection from the wire against detection by confirm_after, on the lab (root,
 * namespaces), over N real splits each:
 *
 *   npm run build && node dist/bench/wire.js [--splits N] [--json FILE]
 *
 * 1. with the VRRP observer (vrrp_wire on): from the second MASTER's first advert to both daemons
 *    reporting kawatch_split_brain 1. keepalived sends that advert at the instant it becomes
 *    MASTER, and the split keeps it off the wire (nftables drops it on the way out, before any
 *    capture point), so its time is keepalived's own last_transition of lb2's VI_1, read from a dump;
 * 2. the same with vrrp_wire off in the same lab: detection as today, by confirm_after (150 ms);
 * 3. the wire view itself: from the first advert of lb1 that did not reach lb2 (lb2's observer's
 *    last one heard, plus one interval) to both daemons showing kawatch_vrrp_wire_master_heard 0.
 *
 * The probes sleep POLL between looks, which bounds the resolution of the figures.
 */
import { reconfigureDaemon } from '../src/lab/directors.js';
import { labDown, labUp } from '../src/lab/lifecycle.js';
import { labHeal, labSplit } from '../src/lab/split.js';
import { type LabNode } from '../src/lab/state.js';
import { BenchReport, countOption, keepalivedTransitionTime, percentile, pollUntil, type Poll } from './support.js';

const PREFIX = 'kwwire';
const SPLITS = countOption('--splits', 20);
const POLL: Poll = { timeoutMs: 30_000, intervalMs: 10 };
const MASTER = 2;

const until = <T>(what: string, probe: () => Promise<T | undefined>) => pollUntil(what, probe, POLL);
const metrics = async (node: LabNode) => (await fetch(`${node.api}/metrics`)).text();
const instanceState = async (node: LabNode, iname: string) => ((await (await fetch(`${node.api}/api/v1/state`)).json()) as { instances: Record<string, { state: string }> }).instances[iname]?.state;
const SPLIT_SEEN = /^kawatch_split_brain\{iname="VI_1"[^}]*\} 1$/m;
const NOT_HEARD = /^kawatch_vrrp_wire_master_heard\{vrid="51",master="lb1",listener="lb2"\} 0$/m;

async function splits(lb1: LabNode, lb2: LabNode, wire: boolean): Promise<{ detection: number[]; wireView: number[] }> {
  const detection: number[] = [];
  const wireView: number[] = [];
  for (let i = 0; i < SPLITS; i++) {
    await until('VI_1 on lb1 only', async () => ((await instanceState(lb1, 'VI_1')) === 'MASTER' && (await instanceState(lb2, 'VI_1')) === 'BACKUP' && !SPLIT_SEEN.test(await metrics(lb1)) ? true : undefined));
    await labSplit({ prefix: PREFIX, node: 'lb2' });
    const [masterAt, detected, notHeard] = await Promise.all([
      until('lb2 MASTER of VI_1', async () => ((await instanceState(lb2, 'VI_1')) === 'MASTER' ? true : undefined)).then(() => keepalivedTransitionTime(lb2, 'VI_1', MASTER)),
      until('both daemons report the split', async () => (SPLIT_SEEN.test(await metrics(lb1)) && SPLIT_SEEN.test(await metrics(lb2)) ? Date.now() : undefined)),
      wire ? until("both wire views: lb1's adverts do not reach lb2", async () => (NOT_HEARD.test(await metrics(lb1)) && NOT_HEARD.test(await metrics(lb2)) ? Date.now() : undefined)) : Promise.resolve(undefined),
    ]);
    detection.push(detected - masterAt);
    let line = `${wire ? 'wire' : 'confirm_after'} split ${i + 1}/${SPLITS}: second MASTER → both report ${(detected - masterAt).toFixed(0)} ms`;
    if (notHeard !== undefined) {
      const last = Number(/^kawatch_vrrp_wire_last_advert_timestamp_seconds\{intf="pri0",vrid="51",speaker="198\.18\.0\.1"\} (\S+)$/m.exec(await metrics(lb2))?.[1]);
      wireView.push(notHeard - (last * 1000 + 1000));
      line += `, first advert lost → both wire views ${wireView.at(-1)!.toFixed(0)} ms`;
    }
    console.log(line);
    await labHeal({ prefix: PREFIX });
  }
  return { detection, wireView };
}

async function main(): Promise<void> {
  const report = new BenchReport('wire', { splits: SPLITS, pollIntervalMs: POLL.intervalMs });
  await labDown({ prefix: PREFIX });
  const lab = await labUp({ prefix: PREFIX, policy: 'alert' });
  try {
    const [lb1, lb2] = lab.nodes as [LabNode, LabNode];
    const withWire = await splits(lb1, lb2, true);
    await Promise.all([lb1, lb2].map((n) => reconfigureDaemon(n, (config) => config.setIn(['vrrp_wire', 'enabled'], false))));
    const without = await splits(lb1, lb2, false);
    const p = (values: number[], q: number) => percentile(values, q);
    report.note(`split-brain detection over ${SPLITS} real splits each (lab split/heal of lb2, VI_1), with the VRRP observer and without it (confirm_after 150 ms), probes every ${POLL.intervalMs} ms`);
    report.figure({ name: 'from the wire: second MASTER → both report split brain, p50', value: p(withWire.detection, 50), unit: 'ms', digits: 0, baseline: { name: 'confirm_after', value: p(without.detection, 50) } });
    report.figure({ name: 'from the wire: second MASTER → both report split brain, p95', value: p(withWire.detection, 95), unit: 'ms', digits: 0, baseline: { name: 'confirm_after', value: p(without.detection, 95) }, goal: 'wireSplitDetection' });
    report.figure({ name: 'by confirm_after: second MASTER → both report split brain, p50', value: p(without.detection, 50), unit: 'ms', digits: 0 });
    report.figure({ name: 'by confirm_after: second MASTER → both report split brain, p95', value: p(without.detection, 95), unit: 'ms', digits: 0, goal: 'splitDetection' });
    report.figure({ name: "first advert lost → both wire views say lb1's adverts do not reach lb2, p50", value: p(withWire.wireView, 50), unit: 'ms', digits: 0 });
    report.figure({ name: "first advert lost → both wire views say lb1's adverts do not reach lb2, p95", value: p(withWire.wireView, 95), unit: 'ms', digits: 0 });
    report.write({ wireDetectionMs: withWire.detection, confirmAfterDetectionMs: without.detection, wireViewMs: withWire.wireView });
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

await main();
