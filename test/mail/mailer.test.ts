import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/bus.js';
import { quarantinedCounts } from '../../src/core/quarantine.js';
import { createLogger } from '../../src/core/log.js';
import type { VrrpState } from '../../src/model/vrrp.js';
import type { MailConfig } from '../../src/mail/event.js';
import { Mailer } from '../../src/mail/mailer.js';
import { Outbox, newMessageId } from '../../src/mail/outbox.js';
import { addEvent, emptyPending } from '../../src/mail/schedule.js';
import { MailStats } from '../../src/mail/stats.js';
import { registerMailMetrics } from '../../src/metrics/mail.js';
import { StateStore } from '../../src/state/store.js';
import type { WatchdogEvents } from '../../src/watchdog/watchdog.js';
import { silentLog } from '../support/log.js';
import { connectListeners } from '../../src/daemon/fan-out.js';
import { History } from '../../src/jobs/history.js';
import { parseExposition, valueOf } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';
import { mailConfig, startSmtpServer, type TestSmtpServer } from './support.js';

let dir: string;
let servers: TestSmtpServer[];
let mailers: Mailer[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kawatch-mail-'));
  servers = [];
  mailers = [];
});
afterEach(async () => {
  for (const m of mailers) await m.stop();
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  mailer: Mailer;
  store: StateStore;
  bus: EventBus<WatchdogEvents>;
  stats: MailStats;
  logs: string[];
}

async function startMailer(config: MailConfig, outboxDir = join(dir, 'outbox')): Promise<Harness> {
  const store = new StateStore('lb1', silentLog);
  const bus = new EventBus<WatchdogEvents>(silentLog);
  const stats = new MailStats();
  const logs: string[] = [];
  const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) }));
  const mailer = new Mailer(config, { node: 'lb1', outboxDir, store, stats, log });
  connectListeners(store, bus, () => ({ history: new History(), countTransition: () => {}, mailer }), silentLog);
  mailers.push(mailer);
  await mailer.start();
  return { mailer, store, bus, stats, logs };
}

async function stopMailer(h: Harness): Promise<void> {
  mailers.splice(mailers.indexOf(h.mailer), 1);
  await h.mailer.stop();
}

async function smtpServer(options: Parameters<typeof startSmtpServer>[0] = {}): Promise<TestSmtpServer> {
  const server = await startSmtpServer(options);
  servers.push(server);
  return server;
}

function transition(store: StateStore, name: string, state: VrrpState): void {
  store.apply({ type: 'report', source: 'fifo', at: Date.now(), report: { kind: 'state', scope: 'instance', name, state } });
}

const messageFiles = (outboxDir: string) => readdirSync(outboxDir).filter((n) => /^m\d+-[0-9a-f]+\.json$/.test(n));
const pendingCount = (outboxDir: string) => (JSON.parse(readFileSync(join(outboxDir, 'pending.json'), 'utf8')) as { group?: { count: number } }).group?.count ?? 0;

/** Three mails, one per instance, each composed before the next event arrives. */
async function queueThree(h: Harness): Promise<void> {
  for (const [i, name] of ['VI_1', 'VI_2', 'VI_3'].entries()) {
    transition(h.store, name, 'MASTER');
    await waitFor(() => h.stats.outboxMessages + h.stats.sent > i, `mail ${i + 1} composed`);
  }
}

function expectThreeInOrder(server: TestSmtpServer): void {
  expect(server.received.map((m) => m.subject)).toEqual(['VI_1', 'VI_2', 'VI_3'].map((name) => `[kawatch] lb1: ${name} INIT -> MASTER`));
  expect(new Set(server.received.map((m) => m.messageId)).size).toBe(3);
}

describe('Mailer with a real SMTP server', () => {
  it('delivers a transition with a stable Message-ID and removes it from the outbox once accepted', async () => {
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port));
    transition(h.store, 'VI_1', 'MASTER');
    await waitFor(() => server.received.length === 1, 'the mail');
    const [mail] = server.received;
    expect(mail!.subject).toBe('[kawatch] lb1: VI_1 INIT -> MASTER');
    expect(mail!.messageId).toMatch(/^<m000000000001-[0-9a-f]{8}\.lb1@lb1\.example\.com>$/);
    expect(mail!.headers.get('from')).toBe('kawatch lb1 <kawatch@lb1.example.com>');
    expect(mail!.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail!.rcptTo).toEqual(['ops@example.com']);
    expect(mail!.text).toContain('probably keepalived (re)started the instance');
    await waitFor(() => h.stats.sent === 1, 'the delivery counted');
    expect(messageFiles(join(dir, 'outbox'))).toEqual([]);

    const registry = new Registry();
    registerMailMetrics(registry, h.stats);
    const samples = parseExposition(await registry.metrics());
    expect(valueOf(samples, 'kawatch_mail_sent_total')).toBe(1);
    expect(valueOf(samples, 'kawatch_mail_send_failures_total')).toBe(0);
    expect(valueOf(samples, 'kawatch_mail_outbox_messages')).toBe(0);
    expect(valueOf(samples, 'kawatch_mail_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  it('loses nothing while nothing listens, then delivers every mail exactly once, in order', async () => {
    const port = await freePort();
    const h = await startMailer(mailConfig(port));
    await queueThree(h);
    await waitFor(() => h.stats.sendFailures >= 3, 'a few failed attempts');
    expect(messageFiles(join(dir, 'outbox'))).toHaveLength(3);
    expect(h.logs.join('')).toContain('mail delivery failed; it stays in the outbox');

    const server = await smtpServer({ port });
    await waitFor(() => h.stats.sent === 3 && h.stats.outboxMessages === 0, 'all three delivered');
    await stopMailer(h);
    expectThreeInOrder(server);
  });

  it('keeps mail a server refuses with 4xx, in order, until it accepts', async () => {
    const server = await smtpServer();
    server.refuseWith = 451;
    const h = await startMailer(mailConfig(server.port));
    await queueThree(h);
    await waitFor(() => h.stats.sendFailures >= 3, 'a few refusals');
    expect(server.received).toHaveLength(0);
    expect(h.logs.join('')).toContain('"responseCode":451');

    server.refuseWith = undefined;
    await waitFor(() => h.stats.sent === 3, 'all three delivered');
    await stopMailer(h);
    expectThreeInOrder(server);
  });

  it('groups a flapping burst of 100 transitions into one mail that says how many there were', async () => {
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port, { group_window: '500ms' }));
    for (let i = 0; i < 100; i++) transition(h.store, 'VI_1', i % 2 ? 'BACKUP' : 'MASTER');
    await waitFor(() => server.received.length > 0, 'the mail');
    await stopMailer(h);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.subject).toBe('[kawatch] lb1: VI_1 INIT -> MASTER (+99 more)');
    expect(server.received[0]!.text).toContain('kawatch on lb1 reports 100 events');
    expect(server.received[0]!.text).toMatch(/50x {2}VI_1 MASTER -> BACKUP\n +49x {2}VI_1 BACKUP -> MASTER\n/);
  });

  it('does not mail a peer that was simply not heard yet at start', async () => {
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port));
    h.bus.emit('verdict-raised', { verdict: { kind: 'peer-unreachable', peer: 'lb2' }, at: Date.now() });
    h.bus.emit('verdict-cleared', { verdict: { kind: 'peer-unreachable', peer: 'lb2' }, at: Date.now() });
    h.bus.emit('verdict-raised', { verdict: { kind: 'peer-unreachable', peer: 'lb3', lastExchange: Date.now() - 5000, error: 'timeout' }, at: Date.now() });
    await waitFor(() => server.received.length === 1, 'the mail about lb3');
    await stopMailer(h);
    expect(server.received.map((m) => m.subject)).toEqual(['[kawatch] lb1: peer lb3 unreachable from lb1']);
  });

  it('mails only the kinds of event configured', async () => {
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port, { events: ['verdict'] }));
    transition(h.store, 'VI_1', 'MASTER');
    h.bus.emit('verdict-raised', { verdict: { kind: 'split-brain', iname: 'VI_1', vrid: 51, masters: ['lb1', 'lb2'], causes: ['test'] }, at: Date.now() });
    await waitFor(() => server.received.length === 1, 'the mail');
    await stopMailer(h);
    expect(server.received[0]!.subject).toBe('[kawatch] lb1: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2');
  });
});

describe('the outbox across restarts', () => {
  it('sends mail left by a mailer stopped while the server was down', async () => {
    const port = await freePort();
    const outboxDir = join(dir, 'outbox');
    const first = await startMailer(mailConfig(port, { group_window: '1h' }), outboxDir);
    transition(first.store, 'VI_1', 'MASTER');
    transition(first.store, 'VI_2', 'BACKUP');
    await stopMailer(first);
    expect(messageFiles(outboxDir)).toHaveLength(1);

    const server = await smtpServer({ port });
    const second = await startMailer(mailConfig(port), outboxDir);
    await waitFor(() => second.stats.sent === 1, 'the mail from before the restart');
    await stopMailer(second);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.subject).toBe('[kawatch] lb1: VI_1 INIT -> MASTER (+1 more, also VI_2)');
  });

  it('keeps events not yet in a mail through a crash', async () => {
    const port = await freePort();
    const first = await startMailer(mailConfig(port, { group_window: '1h' }));
    transition(first.store, 'VI_1', 'MASTER');
    transition(first.store, 'VI_1', 'BACKUP');
    await waitFor(() => pendingCount(join(dir, 'outbox')) === 2, 'both events saved');
    // The disk as a crash would leave it: the first mailer never gets to stop.
    cpSync(join(dir, 'outbox'), join(dir, 'after-crash'), { recursive: true });

    const server = await smtpServer({ port });
    const second = await startMailer(mailConfig(port), join(dir, 'after-crash'));
    await waitFor(() => second.stats.sent === 1, 'the recovered mail');
    await stopMailer(second);
    expect(server.received[0]!.text).toContain('kawatch on lb1 reports 2 events');
  });

  it('sends once a mail written just before a crash that left its events pending', async () => {
    const outboxDir = join(dir, 'outbox');
    const outbox = new Outbox(outboxDir);
    await outbox.load();
    const at = Date.now();
    const event = { kind: 'transition' as const, at, node: 'lb1', scope: 'instance' as const, name: 'VI_1', vips: [], from: 'BACKUP' as const, to: 'MASTER' as const, source: 'fifo' as const };
    const pending = addEvent(emptyPending(), event, at - 60_000);
    // The message is on disk, but the crash came before the events left pending.json.
    await outbox.commit({ v: 1, id: newMessageId(1), batch: 1, composedAt: at, eventCount: 1, subject: 'the one', text: 'once\n' }, pending);

    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port, { group_window: '0s' }), outboxDir);
    await waitFor(() => h.stats.sent === 1, 'the mail');
    await stopMailer(h);
    expect(server.received.map((m) => m.subject)).toEqual(['the one']);
    expect(pendingCount(outboxDir)).toBe(0);
  });

  it('mails a transition keepalived dated past any clock, and the next start has nothing left to choke on', async () => {
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port, { group_window: '0s' }));
    transition(h.store, 'VI_1', 'BACKUP');
    await waitFor(() => server.received.length === 1, 'the first mail');
    // keepalived's dump says VI_1 moved at 1e20 s since the epoch.
    h.store.apply({ type: 'dump', at: Date.now(), instances: [{ name: 'VI_1', vrid: 51, state: 'MASTER', vips: [], lastTransition: 1e20 }] });
    await waitFor(() => server.received.length === 2, 'the mail of the far-dated transition');
    expect(server.received[1]!.subject).toBe('[kawatch] lb1: VI_1 (vrid 51) BACKUP -> MASTER');
    expect(server.received[1]!.text).toContain('invalid time (1e+23)  VI_1 (vrid 51) BACKUP -> MASTER');
    await stopMailer(h);
    expect(pendingCount(join(dir, 'outbox'))).toBe(0);
  });

  it('keeps events beyond max_per_hour on disk for the next allowed mail', async () => {
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port, { max_per_hour: 1 }));
    transition(h.store, 'VI_1', 'MASTER');
    await waitFor(() => server.received.length === 1, 'the first mail');
    transition(h.store, 'VI_1', 'BACKUP');
    transition(h.store, 'VI_1', 'MASTER');
    await waitFor(() => h.logs.join('').includes('hourly mail limit reached'), 'the limit noticed');
    await stopMailer(h);
    expect(server.received).toHaveLength(1);
    expect(pendingCount(join(dir, 'outbox'))).toBe(2);
  });
});

describe('a poisoned outbox', () => {
  const outboxDir = () => join(dir, 'outbox');
  const aside = (prefix: string) => readdirSync(outboxDir()).filter((n) => n.startsWith(`${prefix}.bad-`));
  const quarantined = (file: string) => quarantinedCounts().get(file) ?? 0;

  function event(name: string, at = Date.now()) {
    return { kind: 'transition' as const, at, node: 'lb1', scope: 'instance' as const, name, vips: [], from: 'BACKUP' as const, to: 'MASTER' as const, source: 'fifo' as const };
  }

  function writePending(value: unknown): void {
    mkdirSync(outboxDir(), { recursive: true, mode: 0o700 });
    writeFileSync(join(outboxDir(), 'pending.json'), typeof value === 'string' ? value : JSON.stringify(value));
  }

  it('quarantines an event stamped 1e20 and a record of the wrong shape, and keeps the good events', async () => {
    const now = Date.now();
    let state = addEvent(emptyPending(), event('VI_1', now - 2000), now - 2000);
    state = addEvent(state, event('VI_2', now - 1000), now - 2000);
    const group = state.group!;
    writePending({ v: 1, ...state, mailTimes: [now - 5000, 'yesterday'], group: { ...group, first: [...group.first, event('VI_3', 1e20), { kind: 'transition', at: now, name: 42 }] } });
    const before = quarantined('pending.json');
    const h = await startMailer(mailConfig(await freePort(), { group_window: '1h' }));
    expect(aside('pending.json')).toHaveLength(1);
    expect(quarantined('pending.json')).toBe(before + 3);
    expect(h.logs.join('')).toContain('3 bad record(s)');
    // The good ones, already back in place: a crash now would lose nothing.
    const saved = JSON.parse(readFileSync(join(outboxDir(), 'pending.json'), 'utf8')) as { group: { count: number; instances: string[] }; mailTimes: number[] };
    expect(saved.group.count).toBe(2);
    expect(saved.group.instances).toEqual(['VI_1', 'VI_2']);
    expect(saved.mailTimes).toEqual([now - 5000]);
    transition(h.store, 'VI_4', 'MASTER');
    await waitFor(() => pendingCount(outboxDir()) === 3, 'a new event joins the good ones');
  });

  it('starts afresh from a truncated pending.json, kept aside', async () => {
    writePending('{"v":1,"batch":3,"mailTi');
    const before = quarantined('pending.json');
    const h = await startMailer(mailConfig(await freePort(), { group_window: '1h' }));
    expect(aside('pending.json')).toHaveLength(1);
    expect(quarantined('pending.json')).toBe(before + 1);
    transition(h.store, 'VI_1', 'MASTER');
    await waitFor(() => pendingCount(outboxDir()) === 1, 'the mailer at work');
  });

  it('neither waits on a FIFO nor follows a link planted in the outbox, and never sends them', async () => {
    mkdirSync(outboxDir(), { recursive: true, mode: 0o700 });
    execFileSync('mkfifo', [join(outboxDir(), 'pending.json')]);
    writeFileSync(join(dir, 'elsewhere.json'), JSON.stringify({ v: 1, id: 'm000000000001-00000000', batch: 1, composedAt: Date.now(), eventCount: 1, subject: 'planted', text: 'x' }));
    symlinkSync(join(dir, 'elsewhere.json'), join(outboxDir(), 'm000000000001-00000000.json'));
    symlinkSync('/dev/zero', join(outboxDir(), 'm000000000002-00000000.json'));
    writeFileSync(join(outboxDir(), 'm000000000003-00000000.json'), JSON.stringify({ v: 1, id: 'm000000000003-00000000', batch: 'three' }));
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port, { group_window: '0s' }));
    transition(h.store, 'VI_1', 'MASTER');
    await waitFor(() => h.stats.sent === 1, 'the real mail');
    expect(server.received.map((m) => m.subject)).toEqual(['[kawatch] lb1: VI_1 INIT -> MASTER']);
    expect(aside('pending.json')).toHaveLength(1);
    expect(lstatSync(join(outboxDir(), aside('pending.json')[0]!)).isFIFO()).toBe(true);
    for (const n of [1, 2, 3]) expect(aside(`m00000000000${n}-00000000.json`)).toHaveLength(1);
    expect(readFileSync(join(dir, 'elsewhere.json'), 'utf8')).toContain('planted');
  });

  it('does not start on an outbox directory anyone may write to, and says how to fix it', async () => {
    mkdirSync(outboxDir(), { recursive: true });
    chmodSync(outboxDir(), 0o777);
    await expect(startMailer(mailConfig(await freePort()))).rejects.toThrow(`fix: chmod 0750 ${outboxDir()}`);
  });
});

