import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { reconfigureDaemon } from '../../src/lab/directors.js';
import { PRIMARY_IFNAME } from '../../src/lab/plan.js';
import { labHeal, labSplit, type SplitLink } from '../../src/lab/split.js';
import type { LabInfo, LabNode } from '../../src/lab/state.js';
import { scrape } from '../support/metrics.js';
import { waitFor } from '../support/wait.js';
import { onIntendedMasters } from './lab-support.js';

const execFileP = promisify(execFile);

/** Long enough past a split for keepalived's master-down timer (3 × advert_int + skew, under 4 s) to have fired, had nothing held it. */
export const PAST_MASTER_DOWN_MS = 5000;

/** Every daemon of the lab under watchdog.policy prevent. */
export async function underPrevent(lab: LabInfo): Promise<void> {
  await Promise.all(lab.nodes.map((n) => reconfigureDaemon(n, (config) => config.setIn(['watchdog', 'policy'], 'prevent'))));
}

/** Ground truth, not the daemons' word: which nodes carry each instance's VIP on the primary interface. */
async function vipHolders(lab: LabInfo): Promise<Map<string, string[]>> {
  const addresses = await Promise.all(lab.nodes.map(async (n) => [n.name, (await execFileP('ip', ['-n', n.netns, '-o', '-4', 'addr', 'show', 'dev', PRIMARY_IFNAME])).stdout] as const));
  return new Map(Object.entries(lab.vips).map(([iname, vip]) => [iname, addresses.filter(([, text]) => text.includes(` ${vip}/`)).map(([node]) => node)]));
}

/** Polls the ground truth every 20 ms until stop(), keeping every moment an instance's VIP was on two nodes. */
export function watchForDualMaster(lab: LabInfo): { stop: () => Promise<string[]> } {
  const seen: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      for (const [iname, nodes] of await vipHolders(lab)) if (nodes.length > 1) seen.push(`${new Date().toISOString()} ${iname} on ${nodes.join(' and ')}`);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20 - (Date.now() - started))));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

export async function activeHolds(node: LabNode): Promise<string[]> {
  return (await scrape(node.api)).filter((s) => s.name === 'kawatch_prevent_active').map((s) => `${node.name}:${s.labels.iname}`).sort();
}

export async function holdsMade(node: LabNode): Promise<number> {
  return (await scrape(node.api)).filter((s) => s.name === 'kawatch_prevent_holds_total').reduce((sum, s) => sum + s.value, 0);
}

/** Each instance on its intended MASTER by the ground truth and the daemons, nothing held, every peer's statement fresh. */
export async function settledUnderPrevent(lab: LabInfo): Promise<void> {
  await labHeal({ prefix: lab.prefix });
  await waitFor(async () => (await onIntendedMasters(lab)) && [...(await vipHolders(lab))].every(([iname, nodes]) => nodes.join() === `lb${iname.slice(3)}`), 'each instance on its intended MASTER', 30_000);
  await waitFor(async () => (await Promise.all(lab.nodes.map(activeHolds))).flat().length === 0, 'no hold in force', 15_000);
  for (const n of lab.nodes) await waitFor(async () => {
    const ages = (await scrape(n.api)).filter((s) => s.name === 'kawatch_prevent_statement_age_seconds');
    return ages.length === lab.nodes.length - 1 && ages.every((s) => s.value < 0.3);
  }, `${n.name}: a fresh statement from every peer`, 15_000);
}

/**
 * `kawatch lab split` of `node` under prevent, then heal: ground truth polled every 20 ms never
 * shows a VIP on two nodes, the holds `expected` are in force past keepalived's master-down time,
 * and each instance is back on its owner with nothing held after the heal.
 */
export async function splitWithoutDualMaster(lab: LabInfo, node: string, expected: string[], link: SplitLink = 'primary'): Promise<void> {
  await settledUnderPrevent(lab);
  const watch = watchForDualMaster(lab);
  let dual: string[] = [];
  try {
    const splitAt = Date.now();
    await labSplit({ prefix: lab.prefix, node, link });
    await waitFor(() => Date.now() > splitAt + PAST_MASTER_DOWN_MS, 'past keepalived\'s master-down time', PAST_MASTER_DOWN_MS + 5000);
    expect((await Promise.all(lab.nodes.map(activeHolds))).flat().sort(), 'the holds in force past the master-down time').toEqual([...expected].sort());
    await labHeal({ prefix: lab.prefix });
    await settledUnderPrevent(lab);
  } finally {
    dual = await watch.stop();
    await labHeal({ prefix: lab.prefix });
  }
  expect(dual, 'moments a VIP was on two nodes').toEqual([]);
}

/**
 * From `fault` done to the MASTER (keepalived SIGKILLed: no priority 0 advert; or cut off its
 * segment) to the ground truth showing `iname` on `successor`, in ms. The old MASTER may still
 * carry its VIPs: the successor carrying it is what counts.
 */
export async function failoverAfter(lab: LabInfo, fault: () => Promise<void>, iname: string, successor: string): Promise<number> {
  const faultAt = Date.now();
  await fault();
  return waitFor(async () => ((await vipHolders(lab)).get(iname)?.includes(successor) ? Date.now() - faultAt : undefined), `${iname} on ${successor}`, 15_000);
}

