import { readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { beforeAll, expect, it } from 'vitest';
import { nodePaths } from '../../src/lab/plan.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { type LabNode } from '../../src/lab/state.js';
import { startDaemon, startKeepalived, stopDaemon, stopKeepalived } from '../../src/lab/directors.js';
import { LAST_KNOWN_FILE } from '../../src/state/last-known.js';
import { nodeState, useLab } from '../support/lab.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { countedTransitions, enteredStates, transitionCounts } from './transitions.js';

const PREFIX = 'kwidrs';
/** What keepalived's own log says an instance went through, from `offset` on. */
async function keepalivedSays(node: LabNode, offset: number, instance: string): Promise<string[]> {
  return enteredStates((await readFile(nodePaths(node.dir).keepalivedLog)).subarray(offset).toString('utf8'), instance);
}

const spooled = (node: LabNode) => readdirSync(nodePaths(node.dir).spool).filter((n) => n.endsWith('.event'));


describeWithPrereqs('one identity per transition across a kawatch restart (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX);
  let lb2: LabNode;
  beforeAll(() => {
    ({ lb2 } = lab);
  });

  it('counts what keepalived did while kawatch was down exactly once, from the state it knew, and reconciles with keepalived', async () => {
    // lb2 is BACKUP for VI_1 and MASTER for VI_2, and has kept that (with keepalived's counters) in state_dir.
    await waitFor(async () => {
      const s = await nodeState(lb2);
      return s.instances.VI_1?.state === 'BACKUP' && s.instances.VI_2?.state === 'MASTER' && s.instances.VI_1.counters !== undefined;
    }, 'lb2 BACKUP for VI_1, MASTER for VI_2, with a dump reconciled', 30_000);
    const stateFile = `${nodePaths(lb2.dir).stateDir}/${LAST_KNOWN_FILE}`;
    await waitFor(async () => (await readFile(stateFile, 'utf8').catch(() => '')).includes('"becomeMaster"'), `${stateFile} with keepalived's counters`);

    await stopDaemon(lb2);
    const logOffset = (await stat(nodePaths(lb2.dir).keepalivedLog)).size;
    // lb2 stops hearing lb1: it takes VI_1 over; healed, it hands VI_1 back. The hook spools both, the FIFO buffers both.
    await labSplit({ prefix: PREFIX, node: 'lb2', link: 'primary' });
    await waitFor(async () => (await keepalivedSays(lb2, logOffset, 'VI_1')).includes('MASTER'), "lb2's keepalived: VI_1 Entering MASTER STATE", 30_000);
    await labHeal({ prefix: PREFIX });
    await waitFor(async () => (await keepalivedSays(lb2, logOffset, 'VI_1')).at(-1) === 'BACKUP', "lb2's keepalived: VI_1 Entering BACKUP STATE again", 30_000);
    await waitFor(() => spooled(lb2).length >= 2 || undefined, 'the two hook calls spooled on lb2');
    const said = await keepalivedSays(lb2, logOffset, 'VI_1');
    expect(said).toEqual(['MASTER', 'BACKUP']);
    expect(await keepalivedSays(lb2, logOffset, 'VI_2')).toEqual([]);

    await startDaemon(lb2);
    // The spool is replayed, the FIFO read, and a dump reconciles keepalived's counters with what was counted.
    const samples = await waitFor(async () => {
      const m = await scrape(lb2.api);
      return spooled(lb2).length === 0 && (valueOf(m, 'kawatch_transitions_reconciled_total', { result: 'match' }) ?? 0) >= 2 ? m : undefined;
    }, 'lb2 replayed its spool and reconciled a dump', 30_000);
    const fifoRead = await waitFor(async () => {
      const s = await nodeState(lb2);
      return s.sources.fifo.events >= 2 ? s : undefined;
    }, 'the buffered FIFO lines read');
    expect(fifoRead.sources.fifo.rejected).toBe(0);
    // Counted again after the FIFO lines: they were the same transitions as the spooled hooks.
    const after = await scrape(lb2.api);
    expect(countedTransitions(after, 'VI_1')).toEqual(transitionCounts(said, 'BACKUP'));
    expect(countedTransitions(after, 'VI_1')).toEqual({ 'BACKUP->MASTER': 1, 'MASTER->BACKUP': 1 });
    expect(countedTransitions(after, 'VI_2')).toEqual({});
    expect(valueOf(after, 'kawatch_transitions_reconciled_total', { result: 'match' })).toBe(2);
    expect(valueOf(after, 'kawatch_transitions_reconciled_total', { result: 'missed' })).toBe(0);
    expect(valueOf(after, 'kawatch_transitions_reconciled_total', { result: 'duplicate' })).toBe(0);
    expect(valueOf(samples, 'kawatch_source_rejected_total', { source: 'hook' })).toBe(0);
    expect((await nodeState(lb2)).instances.VI_1!.state).toBe('BACKUP');
  });

  it('counts a keepalived killed and started again between two process checks from STOP, as keepalived did', async () => {
    await waitFor(async () => {
      const s = await nodeState(lb2);
      return s.instances.VI_1?.state === 'BACKUP' && s.instances.VI_2?.state === 'MASTER';
    }, 'lb2 BACKUP for VI_1, MASTER for VI_2', 30_000);
    const before = await scrape(lb2.api);
    const logOffset = (await stat(nodePaths(lb2.dir).keepalivedLog)).size;
    // A crash and an immediate restart: the old keepalived tells nothing, and the new one's first
    // reports (hook, FIFO) come well within the one-second process check.
    const restartedAt = Date.now();
    await stopKeepalived(lb2, { signal: 'SIGKILL' });
    const pid = await startKeepalived(lb2);
    await waitFor(async () => (await keepalivedSays(lb2, logOffset, 'VI_2')).at(-1) === 'MASTER', "lb2's new keepalived: VI_2 Entering MASTER STATE", 30_000);
    await waitFor(async () => {
      const s = await nodeState(lb2);
      return s.keepalived.pid === pid && s.instances.VI_2?.state === 'MASTER' && (s.instances.VI_2.stateSince ?? 0) > restartedAt;
    }, 'kawatch on lb2: the new keepalived, VI_2 MASTER again', 30_000);
    const after = await scrape(lb2.api);
    for (const [instance, held] of [['VI_1', 'BACKUP'], ['VI_2', 'MASTER']] as const) {
      const said = await keepalivedSays(lb2, logOffset, instance);
      expect(said[0]).toBe('BACKUP');
      // What keepalived did, with the stop kawatch knows from the process: the state held, STOP, then the new one's.
      expect(countedSince(before, after, instance)).toEqual(transitionCounts(['STOP', ...said], held));
    }
  });
});

/** keepalived_vrrp_transitions_total of one instance counted between two scrapes, as from->to counts. */
function countedSince(before: Parameters<typeof countedTransitions>[0], after: Parameters<typeof countedTransitions>[0], instance: string): Record<string, number> {
  const earlier = countedTransitions(before, instance);
  const counted: Record<string, number> = {};
  for (const [key, value] of Object.entries(countedTransitions(after, instance))) if (value > (earlier[key] ?? 0)) counted[key] = value - (earlier[key] ?? 0);
  return counted;
}
