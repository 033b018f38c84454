import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { type LabNode } from '../../src/lab/state.js';
import { labHeal, labSplit } from '../../src/lab/split.js';
import { reconfigureDaemon } from '../../src/lab/directors.js';
import { startSmtpServer, type TestSmtpServer } from '../mail/support.js';
import { nodeState, useLab } from '../support/lab.js';
import { scrape, valueOf } from '../support/metrics.js';
import { describeWithPrereqs } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const PREFIX = 'kwtfault';

describeWithPrereqs('fault matrix: SMTP down during a split, flapping (lab)', { root: true, commands: ['keepalived', 'nft', 'ip'] }, () => {
  const lab = useLab(PREFIX, 'demote');
  let lb1: LabNode;
  let lb2: LabNode;
  beforeAll(() => {
    ({ lb1, lb2 } = lab);
  });

  it('delivers every mail of a split once the SMTP server is back, none lost, none twice', async () => {
    // lb2 mails a server of this test's own, reachable from its namespace at the host end of its management link.
    const host = lb2.smtp.slice(0, lb2.smtp.lastIndexOf(':'));
    let smtp: TestSmtpServer | undefined;
    try {
      smtp = await startSmtpServer({ host });
      const port = smtp.port;
      smtp.refuseWith = 451; // "try again later": the server is down for mail
      await reconfigureDaemon(lb2, (doc) => {
        doc.setIn(['mail', 'smtp', 'host'], host);
        doc.setIn(['mail', 'smtp', 'port'], port);
      });
      await labSplit({ prefix: PREFIX });
      await waitFor(async () => (await nodeState(lb2)).verdicts.some((v) => v.kind === 'split-brain'), 'lb2 sees the split', 30_000);
      await waitFor(async () => (valueOf(await scrape(lb2.api), 'kawatch_mail_send_failures_total') ?? 0) > 0, 'a refused delivery', 30_000);
      expect(smtp.received).toEqual([]);
      await labHeal({ prefix: PREFIX });
      await waitFor(async () => (await nodeState(lb2)).verdicts.every((v) => v.kind !== 'split-brain'), 'the split resolved', 30_000);

      smtp.refuseWith = undefined;
      const server = smtp;
      // The split brain itself is mailed once for the group, by lb1 (the first by name of the two that see it);
      // lb2 mails its own part: its takeover of VI_1 and its end.
      await waitFor(() => server.received.some((m) => /VI_1 \(vrid \d+\) BACKUP -> MASTER/.test(m.text)), "lb2's takeover mail after the server came back", 60_000);
      await waitFor(() => server.received.some((m) => /VI_1 \(vrid \d+\) MASTER -> (BACKUP|FAULT)/.test(m.text)), 'the mail of its end', 60_000);
      await waitFor(async () => (valueOf(await scrape(lb2.api), 'kawatch_mail_outbox_messages') ?? 1) === 0, 'an empty outbox', 60_000);
      const ids = server.received.map((m) => m.messageId);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      await smtp?.close();
    }
  });

  it('keeps a flapping split within the action cap, and mails it in a bounded number of messages', async () => {
    await reconfigureDaemon(lb2, (doc) => {
      // A fresh outbox: the mails of the test above count against the hourly limit otherwise, and
      // could leave this one's events waiting for the next hour, uncounted here.
      doc.setIn(['mail', 'outbox_dir'], join(lab.info.dir, 'lb2-flapping-outbox'));
      doc.setIn(['watchdog', 'hold_down'], '500ms');
      doc.setIn(['watchdog', 'cooldown'], '0s');
      doc.setIn(['watchdog', 'restore_after'], '1s');
      // A split back soon after a restore doubles the wait before the next restore, from the last
      // demotion's (30 s, the test above): kept short so that each heal below is over in seconds.
      doc.setIn(['watchdog', 'max_restore_after'], '2s');
      doc.setIn(['watchdog', 'max_actions_per_hour'], 4);
    });
    const mailTally = async () => {
      const m = await scrape(lb2.api);
      return (valueOf(m, 'kawatch_mail_sent_total') ?? 0) + (valueOf(m, 'kawatch_mail_outbox_messages') ?? 0);
    };
    const lastHour = async () => (await nodeState(lb2)).actions.filter((a) => a.at > Date.now() - 3_600_000);
    const demotes = async () => (await lastHour()).filter((a) => a.action === 'demote').length;
    // The split of the test above may have left lb2's VI_1 demoted, to be restored after the
    // restore_after of that demotion (30 s). A split while it is still in FAULT changes nothing,
    // demotes nothing and mails nothing: every split here starts from VI_1 back in BACKUP.
    const restored = async () => (await nodeState(lb1)).instances.VI_1?.state === 'MASTER' && (await nodeState(lb2)).instances.VI_1?.state === 'BACKUP';
    await waitFor(restored, 'lb2 VI_1 back in BACKUP before the first split', 45_000);
    const mailsBefore = await mailTally();
    const demotesBefore = await demotes();
    for (let i = 0; i < 6; i++) {
      const demotesSoFar = await demotes();
      await labSplit({ prefix: PREFIX });
      // Each split lasts until lb2 demotes VI_1 once more, or, once the cap (which counts restores
      // too) is reached, until the split brain is plainly left alone.
      await waitFor(async () => {
        if ((await demotes()) > demotesSoFar) return true;
        return (await lastHour()).length >= 4 && (await nodeState(lb2)).verdicts.some((v) => v.kind === 'split-brain');
      }, `split ${i + 1} fenced or capped`, 30_000);
      await labHeal({ prefix: PREFIX });
      // Healed means VI_1 restored on lb2 (after its doubling restore_after) or, capped, preempted back to lb1.
      await waitFor(restored, `heal ${i + 1}`, 30_000);
    }
    // A demotion needs fewer than max_actions_per_hour journal entries in the last hour: never more than 4.
    expect((await demotes()) - demotesBefore).toBeGreaterThan(0);
    expect(await demotes()).toBeLessThanOrEqual(4);
    const composed = (await mailTally()) - mailsBefore;
    expect(composed).toBeGreaterThan(0);
    expect(composed).toBeLessThanOrEqual(20);
  });
});
