import { beforeAll, expect, it } from 'vitest';
import { type LabInfo, type LabNode } from '../../src/lab/state.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { nodeExec, startDaemon, startKeepalived, stopDaemon, stopKeepalived } from '../../src/lab/directors.js';
import { readMasters } from '../../src/lab/observe.js';
import { scrape, valueOf } from '../support/metrics.js';
import { useLab } from '../support/lab.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { readRecordedMail, type RecordedMail } from './support.js';

/**
 * One mail per group event with a real keepalived pair, the real peer link over the secondary
 * link and the lab's real SMTP recorder: the directors that hear each other share the mailing,
 * a cut secondary link leaves each side mailing on its own, and a restart mails no start-up news.
 */
const PREFIX = 'kwmgroup';
const TIMEOUT_MS = 60_000;
const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

let lab: LabInfo;
let lb1: LabNode;
let lb2: LabNode;

const from = (node: LabNode) => `kawatch@${node.name}.${PREFIX}.test`;

async function mailSince(since: number): Promise<RecordedMail[]> {
  return (await readRecordedMail(lab.mail)).filter((m) => Date.parse(m.envelope.receivedAt) >= since);
}

/** The events a mail lists, by their title line (`TIME  TITLE`). */
function eventTitles(m: RecordedMail): string[] {
  return [...m.text.matchAll(/^(\S+Z) {2}(.+)$/gm)].map((match) => match[2]!);
}

/**
 * What an event is, as a mail lists it: its title, and for a director's own event (a transition,
 * an action) the director; a verdict is the group's, whoever reports it.
 */
function eventKeys(m: RecordedMail): string[] {
  return [...m.text.matchAll(/^\S+Z {2}(.+)\n {4}node: +(.+)$/gm)].map(([, title, node]) => (node!.endsWith(' reports') ? title! : `${title} on ${node}`));
}

/** Events listed by mails from more than one director: the same event mailed twice. */
function mailedByMoreThanOne(mails: RecordedMail[]): Record<string, string[]> {
  const senders = new Map<string, Set<string>>();
  for (const m of mails) for (const key of eventKeys(m)) senders.set(key, (senders.get(key) ?? new Set()).add(m.envelope.mailFrom ?? ''));
  return Object.fromEntries([...senders].filter(([, s]) => s.size > 1).map(([key, s]) => [key, [...s].sort()]));
}

/** The mails that list an event whose title matches. */
function mailsListing(mails: RecordedMail[], title: RegExp): RecordedMail[] {
  return mails.filter((m) => eventTitles(m).some((t) => title.test(t)));
}

async function metric(node: LabNode, name: string, labels: Record<string, string> = {}): Promise<number> {
  return valueOf(await scrape(node.api), name, labels) ?? 0;
}

/**
 * The lab's mail.group_window and mail.confirm_within (its default): an event held for a sender that
 * never mails it is mailed by the holder after both.
 */
const RELEASED_WITHIN_MS = 1_000 + 60_000;

/** Nothing held on either director: every group event is mailed, or confirmed mailed by the other. */
function nothingHeld(what: string, timeoutMs = TIMEOUT_MS): Promise<true> {
  return waitFor(async () => (await metric(lb1, 'kawatch_mail_events_held')) === 0 && (await metric(lb2, 'kawatch_mail_events_held')) === 0 || undefined, what, timeoutMs);
}

describeWithPrereqs('one mail per group event, with a real keepalived pair (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'], files: [cli] }, () => {
  const handle = useLab(PREFIX);
  beforeAll(() => {
    ({ info: lab, lb1, lb2 } = handle);
  });

  it('mails a split brain seen by both directors once, and its resolution once, while they hear each other', async () => {
    const splitAt = Date.now();
    const confirmedBefore = await metric(lb2, 'kawatch_mail_events_sent_by_peer_total');
    await labSplit({ prefix: PREFIX, link: 'primary' });
    await waitFor(async () => mailsListing(await mailSince(splitAt), /^SPLIT BRAIN VI_1 /).length > 0 || undefined, 'a split brain mail', TIMEOUT_MS);
    // lb2 raised the same verdicts and held them for lb1 (first by name); lb1's view confirms them once sent.
    await waitFor(async () => (await metric(lb2, 'kawatch_mail_events_sent_by_peer_total')) > confirmedBefore || undefined, 'lb2 hearing that lb1 mailed the split', TIMEOUT_MS);
    await nothingHeld('every held event of the split confirmed');
    const duringSplit = await mailSince(splitAt);
    for (const instance of ['VI_1', 'VI_2']) {
      const listing = mailsListing(duringSplit, new RegExp(`^SPLIT BRAIN ${instance} `));
      expect(listing.map((m) => m.envelope.mailFrom), `mails listing the split of ${instance}`).toEqual([from(lb1)]);
    }
    expect(mailedByMoreThanOne(duringSplit)).toEqual({});

    const healedAt = Date.now();
    await labHeal({ prefix: PREFIX });
    await waitFor(async () => mailsListing(await mailSince(healedAt), /^split brain resolved: VI_1 /).length > 0 || undefined, 'a "split brain resolved" mail', TIMEOUT_MS);
    await waitFor(async () => ((await readMasters(lab)).VI_1 ?? []).join() === 'lb1' || undefined, 'lb1 the only MASTER of VI_1', TIMEOUT_MS);
    await nothingHeld('every held event of the heal confirmed');
    const afterHeal = await mailSince(healedAt);
    for (const instance of ['VI_1', 'VI_2']) {
      expect(mailsListing(afterHeal, new RegExp(`^split brain resolved: ${instance} `)).map((m) => m.envelope.mailFrom), `mails listing the resolution of ${instance}`).toEqual([from(lb1)]);
    }
    expect(mailedByMoreThanOne(afterHeal)).toEqual({});
    expect(await metric(lb2, 'kawatch_mail_events_released_total', { reason: 'unconfirmed' })).toBe(0);
  });

  it('mails from both sides when the secondary link is cut too: nothing is lost', async () => {
    const cutAt = Date.now();
    await labSplit({ prefix: PREFIX, link: 'both' });
    await waitFor(
      async () => {
        const mails = await mailSince(cutAt);
        return (mailsListing(mails, /^peer lb2 unreachable from lb1$/).length > 0 && mailsListing(mails, /^peer lb1 unreachable from lb2$/).length > 0) || undefined;
      },
      'a mail from each side about the other',
      TIMEOUT_MS,
    );
    const mails = await mailSince(cutAt);
    expect(mailsListing(mails, /^peer lb2 unreachable from lb1$/).map((m) => m.envelope.mailFrom)).toEqual([from(lb1)]);
    expect(mailsListing(mails, /^peer lb1 unreachable from lb2$/).map((m) => m.envelope.mailFrom)).toEqual([from(lb2)]);
    // lb2 cannot hear lb1, so its own takeover of VI_1 is mailed from its side.
    await waitFor(async () => mailsListing((await mailSince(cutAt)).filter((m) => m.envelope.mailFrom === from(lb2)), /^VI_1 \(vrid \d+\) BACKUP -> MASTER$/).length > 0 || undefined, "lb2's takeover mailed by lb2", TIMEOUT_MS);

    await labHeal({ prefix: PREFIX });
    await waitFor(async () => ((await readMasters(lab)).VI_1 ?? []).join() === 'lb1' || undefined, 'lb1 the only MASTER of VI_1 again', TIMEOUT_MS);
    // At the heal one director may see the dual MASTER of the cut for the few ms before the other steps down, and
    // the other never: that verdict is held for its sender, which never mails it, and is mailed by its holder after
    // the bound. Nothing is lost either way.
    await nothingHeld('nothing held once healed', RELEASED_WITHIN_MS + 10_000);
  }, 180_000);

  it('mails no start-up news when kawatch restarts, and the next real transition alone', async () => {
    // The heal above waits for VI_1 only: lb2 may not have taken VI_2 back yet, and lb1 would then make no transition while its kawatch is down.
    await waitFor(async () => {
      const masters = await readMasters(lab);
      return ((masters.VI_1 ?? []).join() === 'lb1' && (masters.VI_2 ?? []).join() === 'lb2') || undefined;
    }, 'each instance back on its owner', TIMEOUT_MS);
    // Mail composed before the stop and still waiting would go out after the restart: none is left.
    await waitFor(async () => (await metric(lb1, 'kawatch_mail_outbox_messages')) === 0 || undefined, "lb1's outbox empty", TIMEOUT_MS);
    await stopDaemon(lb1);
    // While lb1's kawatch is down its keepalived takes VI_2 over: the hook spools it, the FIFO keeps it waiting.
    await stopKeepalived(lb2);
    await waitFor(async () => (await nodeExec(lb1, ['ip', '-br', 'addr'])).stdout.includes(lab.vips.VI_2!) || undefined, 'the VIP of VI_2 on lb1', TIMEOUT_MS);
    const restartAt = Date.now();
    await startDaemon(lb1);
    // A transition made now is news: lb2 comes back and takes VI_2 back from lb1.
    await startKeepalived(lb2);
    await waitFor(async () => ((await readMasters(lab)).VI_2 ?? []).join() === 'lb2' || undefined, 'lb2 MASTER of VI_2 again', TIMEOUT_MS);
    const first = await waitFor(async () => (await mailSince(restartAt)).find((m) => m.envelope.mailFrom === from(lb1)), 'the first mail from lb1 after its restart', TIMEOUT_MS);
    const titles = eventTitles(first);
    expect(titles.some((t) => /^VI_2 \(vrid \d+\) MASTER -> BACKUP$/.test(t)), titles.join('\n')).toBe(true);
    expect(titles.filter((t) => / INIT -> |BACKUP -> MASTER/.test(t))).toEqual([]);
    const times = [...first.text.matchAll(/^(\S+Z) {2}/gm)].map((match) => Date.parse(match[1]!));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(restartAt);
    // There was start-up news to leave out: what lb1's keepalived did while its kawatch was down.
    expect(await metric(lb1, 'kawatch_mail_startup_transitions_not_mailed_total')).toBeGreaterThan(0);
  });
});
