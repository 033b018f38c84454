import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/bus.js';
import { formatTime } from '../../src/core/time.js';
import { quarantinedCounts } from '../../src/core/quarantine.js';
import { createLogger } from '../../src/core/log.js';
import type { VrrpState } from '../../src/model/vrrp.js';
import type { AuditFinding, MailConfig } from '../../src/mail/event.js';
import { Mailer } from '../../src/mail/mailer.js';
import { Outbox, newMessageId } from '../../src/mail/outbox.js';
import { addEvent, emptyPending } from '../../src/mail/schedule.js';
import { MailStats } from '../../src/mail/stats.js';
import { registerMailMetrics } from '../../src/metrics/mail.js';
import { StateStore } from '../../src/state/store.js';
import { parseView } from '../../src/peer/protocol.js';
import { buildView } from '../../src/peer/view.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';
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

/** Unless a test says otherwise, the daemon has been up a while: a first report is news, not start-up. */
const LONG_AGO = () => Date.now() - 3_600_000;

interface HarnessOptions {
  node?: string;
  daemonStartedAt?: number;
  /** Peers of the group; their views reach the store only through `exchange`. */
  peers?: string[];
  unreachableAfterMs?: number;
}

async function startMailer(config: MailConfig, outboxDir = join(dir, 'outbox'), options: HarnessOptions = {}): Promise<Harness> {
  const node = options.node ?? 'lb1';
  const store = new StateStore(node, silentLog);
  if (options.peers) store.apply({ type: 'peers-configured', peers: options.peers.map((name) => ({ name, address: `${name}:9651` })) });
  const bus = new EventBus<WatchdogEvents>(silentLog);
  const stats = new MailStats();
  const logs: string[] = [];
  const log = createLogger('debug', new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) }));
  const mailer = new Mailer(config, { node, outboxDir, store, stats, log, daemonStartedAt: options.daemonStartedAt ?? LONG_AGO(), unreachableAfterMs: options.unreachableAfterMs ?? 60_000 });
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


describe('start-up is not news', () => {
  it('mails no state learnt at start (a replay, a first report), and mails the first real transition alone', async () => {
    const server = await smtpServer();
    const h = await startMailer(mailConfig(server.port), join(dir, 'outbox'), { daemonStartedAt: Date.now() });
    // Spooled while kawatch was down: stamped before the start.
    h.store.apply({ type: 'report', source: 'hook', at: Date.now() - 60_000, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'BACKUP' } });
    h.store.apply({ type: 'report', source: 'hook', at: Date.now() - 30_000, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'MASTER' } });
    // First heard of just after the start: the state keepalived was already in.
    transition(h.store, 'VI_2', 'BACKUP');
    // Made while kawatch runs.
    transition(h.store, 'VI_2', 'MASTER');
    await waitFor(() => server.received.length === 1, 'the mail');
    expect(server.received[0]!.subject).toBe('[kawatch] lb1: VI_2 BACKUP -> MASTER');
    expect(h.stats.startupNotMailed).toBe(3);
    await stopMailer(h);
    expect(server.received).toHaveLength(1);
  });
});

describe('one mail per group event', () => {
  const split: Verdict = { kind: 'split-brain', iname: 'VI_1', vrid: 51, masters: ['lb1', 'lb2'], since: 1_700_000_000_000, causes: ['VRRP adverts are not getting through'] };

  /** One exchange over the secondary link, both ways, through the wire format: each view carries its mailer's confirmations. */
  function exchange(a: Harness, b: Harness): void {
    for (const [to, from] of [[a, b], [b, a]] as const) {
      const wire = Buffer.from(JSON.stringify(buildView(from.store.snapshot, from.mailer.confirmed())));
      to.store.apply({ type: 'peer-view', at: Date.now(), peer: from.store.snapshot.node, view: parseView(wire, from.store.snapshot.node) });
    }
  }

  /** `heard`: whether the two have had an exchange before the test's events. */
  async function pair(server: TestSmtpServer, extra: Record<string, unknown> = {}, options: HarnessOptions = {}, heard = true): Promise<[Harness, Harness]> {
    const lb1 = await startMailer(mailConfig(server.port, extra), join(dir, 'lb1'), { ...options, node: 'lb1', peers: ['lb2'] });
    const lb2 = await startMailer(mailConfig(server.port, extra), join(dir, 'lb2'), { ...options, node: 'lb2', peers: ['lb1'] });
    if (heard) exchange(lb1, lb2);
    return [lb1, lb2];
  }

  const raise = (h: Harness, verdict: Verdict) => h.bus.emit('verdict-raised', { verdict, at: Date.now() });

  it('mails a split brain seen by two directors that hear each other once, from the first by name; the other drops it on confirmation', async () => {
    const server = await smtpServer();
    const [lb1, lb2] = await pair(server);
    raise(lb2, split);
    raise(lb1, { ...split, causes: ['worded otherwise here'] });
    expect(lb2.stats.held).toBe(1);
    expect(lb1.stats.held).toBe(0);
    await waitFor(() => {
      exchange(lb1, lb2);
      return lb2.stats.confirmedByPeer === 1;
    }, 'lb2 hearing that lb1 mailed it');
    expect(lb2.stats.held).toBe(0);
    await stopMailer(lb2);
    await stopMailer(lb1);
    expect(server.received.map((m) => m.subject)).toEqual(['[kawatch] lb1: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2']);
    expect(lb2.stats.released).toEqual({ 'sender-lost': 0, unconfirmed: 0 });

    const registry = new Registry();
    registerMailMetrics(registry, lb2.stats);
    const samples = parseExposition(await registry.metrics());
    expect(valueOf(samples, 'kawatch_mail_events_sent_by_peer_total')).toBe(1);
    expect(valueOf(samples, 'kawatch_mail_events_held')).toBe(0);
  });

  it('mails from both sides of a partition: a director that hears nobody is its own sender', async () => {
    const server = await smtpServer();
    const [lb1, lb2] = await pair(server, {}, {}, false);
    raise(lb1, split);
    raise(lb2, split);
    expect(lb1.stats.held + lb2.stats.held).toBe(0);
    await waitFor(() => server.received.length === 2, 'a mail from each side');
    expect(server.received.map((m) => m.subject).sort()).toEqual(['[kawatch] lb1: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2', '[kawatch] lb2: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2']);
  });

  it('leaves the mailing to itself when the peer it hears sends no mail (no mail section, or an older version)', async () => {
    const server = await smtpServer();
    const lb2 = await startMailer(mailConfig(server.port), join(dir, 'lb2'), { node: 'lb2', peers: ['lb1'] });
    const wire = Buffer.from(JSON.stringify(buildView(new StateStore('lb1', silentLog).snapshot)));
    lb2.store.apply({ type: 'peer-view', at: Date.now(), peer: 'lb1', view: parseView(wire, 'lb1') });
    raise(lb2, split);
    expect(lb2.stats.held).toBe(0);
    await waitFor(() => server.received.length === 1, 'the mail from lb2');
    expect(server.received[0]!.subject).toBe('[kawatch] lb2: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2');
  });

  it('mails a held event itself when the sender is lost before confirming it', async () => {
    const server = await smtpServer();
    const [, lb2] = await pair(server, { group_window: '1h' }, { unreachableAfterMs: 200 });
    raise(lb2, split);
    expect(lb2.stats.held).toBe(1);
    // lb1 stops answering: its exchanges fail from now on.
    await waitFor(() => {
      lb2.store.apply({ type: 'peer-error', at: Date.now(), peer: 'lb1', error: 'connect ECONNREFUSED' });
      return lb2.stats.released['sender-lost'] === 1;
    }, 'lb2 releasing the event');
    expect(lb2.stats.held).toBe(0);
    await stopMailer(lb2);
    expect(server.received.map((m) => m.subject)).toEqual(['[kawatch] lb2: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2']);
  });

  it('mails a held event itself when the sender, heard, does not confirm it within the bound', async () => {
    const server = await smtpServer();
    // lb1 never sees the verdict: it has nothing to confirm.
    const [lb1, lb2] = await pair(server, { confirm_within: '0s' });
    raise(lb2, split);
    await waitFor(() => {
      exchange(lb1, lb2);
      return server.received.length === 1;
    }, 'the mail from lb2');
    expect(server.received[0]!.subject).toBe('[kawatch] lb2: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2');
    expect(lb2.stats.released.unconfirmed).toBe(1);
  });

  describe('the scheduled audit', () => {
    const findings: AuditFinding[] = [{ kind: 'config-mismatch', iname: 'VI_1', vrid: 51, field: 'virtual_router_id', values: { lb1: '51', lb2: '52', lb3: '51' } }];
    /** The slot the audit's schedule fired for: the same on every director. */
    const slot = Math.floor(Date.now() / 60_000) * 60_000;

    async function trio(server: TestSmtpServer): Promise<Harness[]> {
      const names = ['lb1', 'lb2', 'lb3'];
      return Promise.all(names.map((node) => startMailer(mailConfig(server.port), join(dir, node), { node, peers: names.filter((n) => n !== node) })));
    }
    const audits = (server: TestSmtpServer) => server.received.filter((m) => m.subject.includes('audit'));

    it('mails one audit for three directors that hear each other, from the first by name; the others drop theirs on its confirmation', async () => {
      const server = await smtpServer();
      const [lb1, lb2, lb3] = await trio(server);
      exchange(lb1!, lb2!);
      exchange(lb1!, lb3!);
      exchange(lb2!, lb3!);
      // Each ran the audit for the same slot, a little apart.
      for (const h of [lb3!, lb1!, lb2!]) await h.mailer.audit(findings, slot);
      expect([lb1!, lb2!, lb3!].map((h) => h.stats.held)).toEqual([0, 1, 1]);
      await waitFor(() => {
        exchange(lb1!, lb2!);
        exchange(lb1!, lb3!);
        return lb2!.stats.confirmedByPeer === 1 && lb3!.stats.confirmedByPeer === 1;
      }, 'lb2 and lb3 hearing that lb1 mailed the audit');
      for (const h of [lb3!, lb2!, lb1!]) await stopMailer(h);
      expect(audits(server).map((m) => m.subject)).toEqual(['[kawatch] lb1: audit: 1 finding']);
      const text = audits(server)[0]!.text;
      expect(text).toContain(`Audit of the group at ${formatTime(slot)} by lb1`);
      expect(text).toContain('virtual_router_id of VI_1 differs between directors');
      expect(text).toContain('settings that differ between the directors:');
      expect([lb2!, lb3!].map((h) => h.stats.released)).toEqual([{ 'sender-lost': 0, unconfirmed: 0 }, { 'sender-lost': 0, unconfirmed: 0 }]);
    });

    it('mails the audit from each side of a partition', async () => {
      const server = await smtpServer();
      const [lb1, lb2, lb3] = await trio(server);
      // lb3 hears nobody: it is its own sender; lb1 mails for lb1 and lb2.
      exchange(lb1!, lb2!);
      for (const h of [lb1!, lb2!, lb3!]) await h.mailer.audit(findings, slot);
      expect(lb3!.stats.held).toBe(0);
      await waitFor(() => {
        exchange(lb1!, lb2!);
        return lb2!.stats.confirmedByPeer === 1 && audits(server).length === 2;
      }, 'a mail from each side, lb2 hearing that lb1 mailed it');
      for (const h of [lb3!, lb2!, lb1!]) await stopMailer(h);
      expect(audits(server).map((m) => m.subject).sort()).toEqual(['[kawatch] lb1: audit: 1 finding', '[kawatch] lb3: audit: 1 finding']);
    });

    it('keeps a held audit through a restart, and mails it if the sender is gone by then', async () => {
      const server = await smtpServer();
      const [, lb2] = await pair(server, { group_window: '1h' });
      await lb2.mailer.audit(findings, slot);
      await stopMailer(lb2);
      const again = await startMailer(mailConfig(server.port, { group_window: '100ms' }), join(dir, 'lb2'), { node: 'lb2', peers: ['lb1'], unreachableAfterMs: 200 });
      expect(again.stats.held).toBe(1);
      again.store.apply({ type: 'peer-error', at: Date.now(), peer: 'lb1', error: 'connect ECONNREFUSED' });
      await waitFor(() => audits(server).length === 1, 'the audit from lb2');
      expect(audits(server)[0]!.subject).toBe('[kawatch] lb2: audit: 1 finding');
    });

    it('mails an audit whose findings differ from the sender\'s itself, once the bound has passed', async () => {
      const server = await smtpServer();
      const [lb1, lb2] = await pair(server, { confirm_within: '0s' });
      const other: AuditFinding = { kind: 'equal-priority', iname: 'VI_2', vrid: 52, priority: 100, nodes: ['lb1', 'lb2'] };
      await lb1.mailer.audit(findings, slot);
      await lb2.mailer.audit([...findings, other], slot);
      expect(lb2.stats.held).toBe(1);
      await waitFor(() => {
        exchange(lb1, lb2);
        return audits(server).length === 2;
      }, 'both audits');
      expect(audits(server).map((m) => m.subject).sort()).toEqual(['[kawatch] lb1: audit: 1 finding', '[kawatch] lb2: audit: 2 findings']);
      expect(lb2.stats.released.unconfirmed).toBe(1);
    });
  });

  it('keeps a held event through a restart, and mails it if the sender is gone by then', async () => {
    const server = await smtpServer();
    const [, lb2] = await pair(server, { group_window: '1h' });
    raise(lb2, split);
    await stopMailer(lb2);
    expect(readFileSync(join(dir, 'lb2', 'pending.json'), 'utf8')).toContain('"held"');
    const again = await startMailer(mailConfig(server.port, { group_window: '100ms' }), join(dir, 'lb2'), { node: 'lb2', peers: ['lb1'], unreachableAfterMs: 200 });
    expect(again.stats.held).toBe(1);
    again.store.apply({ type: 'peer-error', at: Date.now(), peer: 'lb1', error: 'connect ECONNREFUSED' });
    await waitFor(() => server.received.length === 1, 'the mail from lb2');
    expect(server.received[0]!.subject).toBe('[kawatch] lb2: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2');
  });
});
