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
 * A daemon reports the split when it raises the verdict (from then on every scrape shows it): the
 * time of its own "verdict raised" log line, so the figures are the daemons' and not the probes',
 * and nothing scrapes a daemon while it detects. Each figure of 1 is also split in stages, each
 * from the same advert: lb2's daemon applying its own MASTER (its log line of the transition,
 * from keepalived's FIFO line), lb2 reporting, lb1 holding lb2's MASTER view (lb1's own stamp of
 * the exchange that brought it, looked at once lb2 knows; a later exchange before the probe looks
 * makes it later, never earlier), lb1 reporting.
 *
 * The probes sleep POLL between looks; for 3 they bound the resolution of the figure.
 */
import { reconfigureDaemon } from '../src/lab/directors.js';
import { labDown, labUp } from '../src/lab/lifecycle.js';
import { labHeal, labSplit } from '../src/lab/split.js';
import { type LabNode } from '../src/lab/state.js';
import { nodePaths } from '../src/lab/plan.js';
import { BenchReport, checkOptions, countOption, keepalivedTransitionTime, loggedAt, logSince, percentile, type Poll, pollUntil, REPORT_OPTIONS } from './support.js';

const PREFIX = 'kwwire';
const SPLITS = countOption('--splits', 20);
const POLL: Poll = { timeoutMs: 30_000, intervalMs: 10 };
const MASTER = 2;

const until = <T>(what: string, probe: () => Promise<T | undefined>) => pollUntil(what, probe, POLL);
const metrics = async (node: LabNode) => (await fetch(`${node.api}/metrics`)).text();
const instanceState = async (node: LabNode, iname: string) => ((await (await fetch(`${node.api}/api/v1/state`)).json()) as { instances: Record<string, { state: string }> }).instances[iname]?.state;
const SPLIT_SEEN = /^kawatch_split_brain\{iname="VI_1"[^}]*\} 1$/m;
const SPLIT_RAISED = /^verdict raised: split brain on VI_1 /;
const BECAME_MASTER = /^instance VI_1: \S+ -> MASTER$/;
const NOT_HEARD = /^kawatch_vrrp_wire_master_heard\{vrid="51",master="lb1",listener="lb2"\} 0$/m;

/** Where the milliseconds of one detection go, each from the second MASTER's first advert (keepalived's transition). */
interface Stages {
  /** lb2's daemon shows its own VI_1 MASTER (keepalived's FIFO line). */
  lb2Knows: number;
  /** lb2's daemon reports the split. */
  lb2Reports: number;
  /** lb1's daemon has lb2's view with VI_1 MASTER (its own clock, at the exchange that brought it). */
  lb1Hears: number;
  /** lb1's daemon reports the split. */
  lb1Reports: number;
}

/** When the daemon logged, from `offset` of its log on, a line whose message matches. */
const logged = (node: LabNode, offset: number, what: string, message: RegExp) =>
  until(`${node.name}: ${what}`, async () => loggedAt((await logSince(nodePaths(node.dir).daemonLog, offset)).entries.find((e) => typeof e.msg === 'string' && message.test(e.msg))));
const logEnd = async (node: LabNode) => (await logSince(nodePaths(node.dir).daemonLog, Number.MAX_SAFE_INTEGER)).end;

/** When lb1 received the first view of lb2 that shows VI_1 MASTER: the peer-view's own stamp (lastExchange), not the probe's time. */
const hearsMaster = (lb1: LabNode) =>
  until("lb1 has lb2's view with VI_1 MASTER", async () => {
    const state = (await (await fetch(`${lb1.api}/api/v1/state`)).json()) as { peers: Record<string, { lastExchange?: number; view?: { instances: { name: string; state: string }[] } }> };
    const lb2 = state.peers['lb2'];
    return lb2?.view?.instances.some((i) => i.name === 'VI_1' && i.state === 'MASTER') ? lb2.lastExchange : undefined;
  });

async function splits(lb1: LabNode, lb2: LabNode, wire: boolean): Promise<{ detection: number[]; wireView: number[]; stages: Stages[] }> {
  const detection: number[] = [];
  const wireView: number[] = [];
  const stages: Stages[] = [];
  for (let i = 0; i < SPLITS; i++) {
    await until('VI_1 on lb1 only', async () => ((await instanceState(lb1, 'VI_1')) === 'MASTER' && (await instanceState(lb2, 'VI_1')) === 'BACKUP' && !SPLIT_SEEN.test(await metrics(lb1)) ? true : undefined));
    const [lb1From, lb2From] = await Promise.all([logEnd(lb1), logEnd(lb2)]);
    await labSplit({ prefix: PREFIX, node: 'lb2' });
    const knows = logged(lb2, lb2From, 'VI_1 MASTER applied', BECAME_MASTER);
    const [lb2Knows, lb2Reports, lb1Hears, lb1Reports, notHeard] = await Promise.all([
      knows,
      logged(lb2, lb2From, 'the split raised', SPLIT_RAISED),
      knows.then(() => hearsMaster(lb1)),
      logged(lb1, lb1From, 'the split raised', SPLIT_RAISED),
      wire ? until("both wire views: lb1's adverts do not reach lb2", async () => (NOT_HEARD.test(await metrics(lb1)) && NOT_HEARD.test(await metrics(lb2)) ? Date.now() : undefined)) : Promise.resolve(undefined),
    ]);
    // keepalived's own time of the transition, from a dump asked for once both daemons reported it.
    const masterAt = await keepalivedTransitionTime(lb2, 'VI_1', MASTER);
    const detected = Math.max(lb1Reports, lb2Reports);
    detection.push(detected - masterAt);
    stages.push({ lb2Knows: lb2Knows - masterAt, lb2Reports: lb2Reports - masterAt, lb1Hears: lb1Hears - masterAt, lb1Reports: lb1Reports - masterAt });
    const st = stages.at(-1)!;
    let line = `${wire ? 'wire' : 'confirm_after'} split ${i + 1}/${SPLITS}: second MASTER → both report ${(detected - masterAt).toFixed(0)} ms (lb2 knows ${st.lb2Knows.toFixed(0)}, reports ${st.lb2Reports.toFixed(0)}; lb1 has lb2's view ${st.lb1Hears.toFixed(0)}, reports ${st.lb1Reports.toFixed(0)})`;
    if (notHeard !== undefined) {
      const last = Number(/^kawatch_vrrp_wire_last_advert_timestamp_seconds\{intf="pri0",vrid="51",speaker="198\.18\.0\.1"\} (\S+)$/m.exec(await metrics(lb2))?.[1]);
      wireView.push(notHeard - (last * 1000 + 1000));
      line += `, first advert lost → both wire views ${wireView.at(-1)!.toFixed(0)} ms`;
    }
    console.log(line);
    await labHeal({ prefix: PREFIX });
  }
  return { detection, wireView, stages };
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
    report.note(`split-brain detection over ${SPLITS} real splits each (lab split/heal of lb2, VI_1), with the VRRP observer and without it (confirm_after 150 ms); a daemon reports at its own "verdict raised" log line`);
    report.figure({ name: 'from the wire: second MASTER → both report split brain, p50', value: p(withWire.detection, 50), unit: 'ms', digits: 0, baseline: { name: 'confirm_after', value: p(without.detection, 50) } });
    report.figure({ name: 'from the wire: second MASTER → both report split brain, p95', value: p(withWire.detection, 95), unit: 'ms', digits: 0, baseline: { name: 'confirm_after', value: p(without.detection, 95) }, goal: 'wireSplitDetection' });
    report.figure({ name: 'by confirm_after: second MASTER → both report split brain, p50', value: p(without.detection, 50), unit: 'ms', digits: 0 });
    report.figure({ name: 'by confirm_after: second MASTER → both report split brain, p95', value: p(without.detection, 95), unit: 'ms', digits: 0, goal: 'splitDetection' });
    report.figure({ name: "first advert lost → both wire views say lb1's adverts do not reach lb2, p50", value: p(withWire.wireView, 50), unit: 'ms', digits: 0 });
    report.figure({ name: "first advert lost → both wire views say lb1's adverts do not reach lb2, p95", value: p(withWire.wireView, 95), unit: 'ms', digits: 0 });
    for (const [stage, what] of [
      ['lb2Knows', "lb2's daemon shows its own MASTER"],
      ['lb2Reports', "lb2's daemon reports the split"],
      ['lb1Hears', "lb1's daemon has lb2's MASTER view"],
      ['lb1Reports', "lb1's daemon reports the split"],
    ] as const) {
      for (const q of [50, 95, 100]) report.figure({ name: `from the wire, stage: second MASTER → ${what}, ${q === 100 ? 'max' : `p${q}`}`, value: p(withWire.stages.map((st) => st[stage]), q), unit: 'ms', digits: 0 });
    }
    report.figure({ name: 'from the wire: second MASTER → both report split brain, max', value: p(withWire.detection, 100), unit: 'ms', digits: 0 });
    report.write({ wireStagesMs: withWire.stages, wireDetectionMs: withWire.detection, confirmAfterDetectionMs: without.detection, wireViewMs: withWire.wireView });
  } finally {
    await labDown({ prefix: PREFIX });
  }
}

checkOptions(...REPORT_OPTIONS);
await main();
