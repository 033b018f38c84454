import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LabInfo, type LabNode } from '../../src/lab/state.js';
import { labDown, labUp } from '../../src/lab/lifecycle.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { startKeepalived, stopKeepalived } from '../../src/lab/directors.js';
import { readMasters } from '../../src/lab/observe.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { readRecordedMail, type RecordedMail } from './support.js';

const PREFIX = 'kwtmail';
const MAIL_TIMEOUT_MS = 30_000;
const cli = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

let lab: LabInfo;
let lb1: LabNode;
let lb2: LabNode;

/** Mail the lab's recorder received since `since` (epoch ms) that satisfies `match`. */
function mailReceived(since: number, what: string, match: (m: RecordedMail) => boolean): Promise<RecordedMail> {
  return waitFor(
    async () => (await readRecordedMail(lab.mail)).find((m) => Date.parse(m.envelope.receivedAt) >= since && match(m)),
    what,
    MAIL_TIMEOUT_MS,
  );
}

const from = (node: LabNode) => `kawatch@${node.name}.${PREFIX}.test`;

/** lb2's takeover mail and lb1's stop mail, after lb1's keepalived stopped at `since`. */
async function expectFailoverMails(since: number): Promise<void> {
  const takeover = await mailReceived(since, 'the takeover mail from lb2', (m) => m.envelope.mailFrom === from(lb2) && /^\S+Z {2}VI_1 \(vrid \d+\) BACKUP -> MASTER$/m.test(m.text));
  expect(takeover.subject).toMatch(/^\[kawatch\] lb2: .*VI_1/);
  expect(takeover.envelope.rcptTo).toEqual([`ops@${PREFIX}.test`]);
  expect(takeover.text).toMatch(/node: +lb2\n/);
  expect(takeover.text).toMatch(/state: +BACKUP -> MASTER\n/);
  expect(takeover.text).toContain(lab.vips.VI_1);
  expect(takeover.messageId).toMatch(new RegExp(`^<m\\d{12}-[0-9a-f]{8}\\.lb2@lb2\\.${PREFIX}\\.test>$`));

  const stopped = await mailReceived(since, 'the mail from lb1 about its stopped keepalived', (m) => m.envelope.mailFrom === from(lb1) && /VI_1 \(vrid \d+\) MASTER -> STOP/.test(m.text));
  expect(stopped.subject).toMatch(/^\[kawatch\] lb1: /);
  // The recorder keeps a message before it answers 250, and the sender counts it on the answer:
  // the counter may trail the file by a moment.
  await waitFor(async () => (valueOf(await scrape(lb2.api), 'kawatch_mail_sent_total') ?? 0) >= 1, "lb2's kawatch_mail_sent_total to count its takeover mail", MAIL_TIMEOUT_MS);
}

describeWithPrereqs('email alerts from a real keepalived pair (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'], files: [cli] }, () => {
  beforeAll(async () => {
    await labDown({ prefix: PREFIX });
    lab = await labUp({ prefix: PREFIX });
    [lb1, lb2] = lab.nodes as [LabNode, LabNode];
  });
  afterAll(async () => {
    await labDown({ prefix: PREFIX });
  });

  it('mails a real failover: the node, the instance and its new state', async () => {
    const since = Date.now();
    await stopKeepalived(lb1);
    try {
      await expectFailoverMails(since);
    } finally {
      // The next test needs both keepalived again, whatever this one found.
      await startKeepalived(lb1);
    }
    await waitFor(async () => (await readMasters(lab)).VI_1?.join() === 'lb1', 'lb1 MASTER of VI_1 again', MAIL_TIMEOUT_MS);
  });

  it('mails "SPLIT BRAIN" when VRRP is blocked between the directors, and "resolved" after the heal', async () => {
    const splitAt = Date.now();
    await labSplit({ prefix: PREFIX, link: 'primary' });
    const detected = await mailReceived(splitAt, 'a split brain mail', (m) => /^\[kawatch\] lb[12]: SPLIT BRAIN VI_[12] \(vrid \d+\) on lb1\+lb2/.test(m.subject));
    expect(detected.text).toMatch(/nodes: +lb1, lb2 \(each MASTER\)/);
    expect(detected.text).toContain('What to check:');
    expect(detected.text).toContain('VRRP (IP protocol 112) blocked between the directors');

    const healedAt = Date.now();
    await labHeal({ prefix: PREFIX });
    const resolved = await mailReceived(healedAt, 'a "split brain resolved" mail', (m) => m.text.includes('split brain resolved: VI_1 (vrid'));
    expect(resolved.subject).toMatch(/^\[kawatch\] lb[12]: /);
  });
});
