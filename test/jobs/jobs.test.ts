import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { EventBus } from '../../src/core/bus.js';
import { digest, History } from '../../src/jobs/history.js';
import { Jobs } from '../../src/jobs/jobs.js';
import { Mailer } from '../../src/mail/mailer.js';
import { MailStats } from '../../src/mail/stats.js';
import { StateStore } from '../../src/state/store.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';
import type { WatchdogEvents } from '../../src/watchdog/watchdog.js';
import { anyTime, outsideName } from '../support/arbitrary.js';
import { silentLog } from '../support/log.js';
import { connectListeners } from '../../src/daemon/fan-out.js';
import { waitFor } from '../support/wait.js';
import { mailConfig, startSmtpServer, type TestSmtpServer } from '../mail/support.js';

const mismatch: Verdict = { kind: 'config-mismatch', iname: 'VI_1', vrid: 51, field: 'virtual_router_id', values: { lb1: '51', lb2: '52' } };

describe('digest', () => {
  it('counts what happened, lists it, and says what stands now', () => {
    const d = digest('lb1', [
      { at: 1_800_000_000_000, kind: 'transition', iname: 'VI_1', text: 'instance VI_1: BACKUP -> MASTER (fifo)' },
      { at: 1_800_000_001_000, kind: 'transition', iname: 'VI_1', text: 'instance VI_1: MASTER -> BACKUP (fifo)' },
      { at: 1_800_000_002_000, kind: 'action', iname: 'VI_2', text: 'demote VI_2: split brain' },
    ], 1_799_999_000_000, 1_800_000_100_000, ['split brain on VI_2']);
    expect(d.subject).toBe('digest: 2 transitions, 0 verdict changes, 1 actions');
    expect(d.text).toContain('transitions: 2 (VI_1 2)');
    expect(d.text).toContain('  - split brain on VI_2');
    expect(d.text).toContain('demote VI_2: split brain');
    expect(d.count).toBe(3);
  });

  it('tells a time no clock shows as invalid, and digests any times and names', () => {
    const d = digest('lb1', [{ at: 1e23, kind: 'transition', iname: 'constructor', text: 'instance constructor: BACKUP -> MASTER (dump)' }], Number.NaN, 1_800_000_100_000, []);
    expect(d.text).toContain('Digest of lb1 from invalid time (NaN) to 2027-01-15T08:01:40.000Z.');
    expect(d.text).toContain('transitions: 1 (constructor 1)');
    expect(d.text).toContain('  invalid time (1e+23)  instance constructor: BACKUP -> MASTER (dump)');
    const happening = fc.record({ at: anyTime, kind: fc.constantFrom('transition' as const, 'verdict' as const, 'action' as const), iname: fc.option(outsideName, { nil: undefined }), text: outsideName });
    fc.assert(
      fc.property(fc.array(happening, { maxLength: 30 }), anyTime, anyTime, (recent, from, to) => {
        expect(digest('lb1', recent, from, to, []).count).toBe(recent.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('Jobs (every second)', () => {
  let dir: string;
  let smtp: TestSmtpServer;
  let store: StateStore;
  let bus: EventBus<WatchdogEvents>;
  const parts: { stop(): Promise<void> }[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kawatch-jobs-'));
    smtp = await startSmtpServer();
    store = new StateStore('lb1', silentLog);
    bus = new EventBus<WatchdogEvents>(silentLog);
  });
  afterEach(async () => {
    for (const p of parts.splice(0).reverse()) await p.stop();
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mails a digest of the transitions and an audit of the findings, after a fresh dump', async () => {
    const history = new History();
    const mailer = new Mailer(mailConfig(smtp.port), { node: 'lb1', outboxDir: join(dir, 'outbox'), store, stats: new MailStats(), log: silentLog });
    connectListeners(store, bus, () => ({ history, countTransition: () => {}, mailer }), silentLog);
    await mailer.start();
    parts.push(mailer);
    let reconciled = 0;
    const jobs = new Jobs(
      { node: 'lb1', digest: '* * * * * *', audit: '* * * * * *' },
      { history, verdicts: () => [mismatch], reconcile: async () => void reconciled++, report: (s, t, n) => mailer.queueReport(s, t, n), audit: (f, at) => mailer.audit(f, at), log: silentLog },
    );
    store.apply({ type: 'report', source: 'fifo', at: Date.now(), report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'MASTER' } });
    await jobs.start();
    parts.push(jobs);
    await waitFor(() => smtp.received.some((m) => m.subject.includes('digest: 1 transitions')) && smtp.received.some((m) => m.subject.includes('audit: 1 finding')), 'a digest and an audit mail', 10_000);
    const audit = smtp.received.find((m) => m.subject.includes('audit'))!;
    expect(audit.text).toContain('virtual_router_id of VI_1 differs between directors: lb1 51, lb2 52');
    expect(reconciled).toBeGreaterThan(0);
    const digestMail = smtp.received.find((m) => m.subject.includes('digest'))!;
    expect(digestMail.text).toContain('instance VI_1: INIT -> MASTER (fifo)');
  });
});

describe('jobs configuration', () => {
  it('refuses what is not a cron expression, and switches a job off with false', () => {
    expect(() => parseConfig('jobs:\n  digest: every morning\n', 'k.yml')).toThrow(/k\.yml:2: jobs\.digest: .*cron/);
    expect(parseConfig('jobs: { audit: false }\n', 'k.yml').jobs).toEqual({ digest: '0 8 * * *', audit: false, drill: false });
  });
});
