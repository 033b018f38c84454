import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/bus.js';
import { createApp, HttpServer } from '../../src/http/server.js';
import { escapeHtml, renderStatusPage, STATUS_PAGE_HEADERS, type StatusView } from '../../src/http/status-page.js';
import { History } from '../../src/jobs/history.js';
import { parseDump } from '../../src/keepalived/dump.js';
import { parseFifoLine } from '../../src/keepalived/fifo-line.js';
import { buildView } from '../../src/peer/view.js';
import { peerViewSchema } from '../../src/model/peer.js';
import { emptySnapshot, type AddressView, type Snapshot, type Update } from '../../src/state/snapshot.js';
import { reduce } from '../../src/state/reduce.js';
import { StateStore } from '../../src/state/store.js';
import { diagnose, type Verdict } from '../../src/watchdog/diagnose.js';
import type { JournalEntry } from '../../src/watchdog/journal.js';
import type { WatchdogEvents } from '../../src/watchdog/watchdog.js';
import { anyTime, anyUpdate, outsideName } from '../support/arbitrary.js';
import { silentLog } from '../support/log.js';
import { connectListeners } from '../../src/daemon/fan-out.js';
import { bannerText, row, text } from './support.js';

const fixture = (path: string) => readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8');
// As the dump source digests the authentication settings with the peer secret.
const digestAuth = (material: string) => createHmac('sha256', 'peer-secret').update(material).digest('hex').slice(0, 16);
const dump = (name: string) => parseDump(fixture(`keepalived/${name}`), name, digestAuth);
const fifoLines = (text: string): Update[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      const parsed = parseFifoLine(line);
      if (!parsed.ok) throw new Error(parsed.error);
      return { type: 'report', source: 'fifo', at: T0 + 1000 * (i + 1), report: parsed.value };
    });
const address = (a: string, ifname: string): AddressView => ({ address: a, prefix: 24, ifname, family: 4 });

// keepalived's own last transition in the lb1 fixture, so the dump's times and the events' agree.
const T0 = Math.ceil(dump('dump-lb1.json').find((i) => i.name === 'VI_2')!.lastTransition! * 1000);
/** lb2's VRRP adverts stop reaching lb1: lb2 takes VI_1 too. */
const SPLIT_AT = T0 + 60_000;
const NOW = SPLIT_AT + 2000;
const OPTIONS = { now: NOW, unreachableAfterMs: 3500, confirmAfterMs: 150 };

const SOURCES = ['fifo', 'netlink', 'dump', 'process'] as const;

function reduceAll(start: Snapshot, updates: Update[]): Snapshot {
  return updates.reduce((s, u) => reduce(s, u).snapshot, start);
}

/** lb2 as its own daemon sees it: its dump, the VIPs on its interface, and VI_1 going MASTER at the split. */
function lb2View() {
  const s = reduceAll(emptySnapshot('lb2'), [
    { type: 'process', at: T0, up: true, pid: 5151 },
    { type: 'dump', at: T0, instances: dump('dump-lb2.json') },
    { type: 'addresses', at: T0, addresses: ['198.18.9.2', '198.18.9.50', '198.18.9.51', '198.18.9.60'].map((a) => address(a, 'kwfx-b0')) },
    ...fifoLines('INSTANCE "VI_1" MASTER 80').map((u) => ({ ...u, at: SPLIT_AT })),
  ]);
  return buildView(s);
}

/** lb1's daemon during the split: a store fed with real event shapes, its history, the watchdog's verdicts and an action. */
function splitLab(extra: Update[] = []): StatusView {
  const store = new StateStore('lb1', silentLog);
  const watchdog = new EventBus<WatchdogEvents>(silentLog);
  const history = new History();
  connectListeners(store, watchdog, () => ({ history, countTransition: () => {} }), silentLog);
  const updates: Update[] = [
    ...SOURCES.flatMap((source): Update[] => [
      { type: 'source-enabled', source, enabled: true },
      { type: 'source-ok', at: T0, source },
    ]),
    { type: 'process', at: T0, up: true, pid: 4242 },
    { type: 'dump', at: T0, instances: dump('dump-lb1.json') },
    { type: 'addresses', at: T0, addresses: ['198.18.9.1', '198.18.9.50', '198.18.9.51'].map((a) => address(a, 'kwfx-a0')) },
    ...fifoLines([...fixture('keepalived/fifo-lb1.txt').split('\n').slice(0, 7), ...fixture('golden/fifo-checker.txt').split('\n')].join('\n')),
    { type: 'peers-configured', peers: [{ name: 'lb2', address: '198.18.10.2:9651' }] },
    { type: 'peer-view', at: NOW - 500, peer: 'lb2', view: lb2View(), rttMs: 0.84 },
    ...extra,
  ];
  for (const u of updates) store.apply(u);
  const verdicts = diagnose(store.snapshot, OPTIONS);
  for (const verdict of verdicts) watchdog.emit('verdict-raised', { verdict, at: NOW - 100 });
  const action: JournalEntry = { at: NOW - 50, action: 'demote', iname: 'VI_1', vrid: 51, winner: 'lb1', reason: 'split brain: lb1 stays MASTER (higher priority)', dryRun: true, restoreAfterMs: 60_000 };
  watchdog.emit('action', action);
  return { version: '9.8.7', now: NOW, snapshot: store.snapshot, verdicts, actions: [action], recent: history.since(0) };
}

describe('status page', () => {
  it('shows the instances, both directors, the split brain and what led to it', () => {
    const view = splitLab();
    expect(view.verdicts.map((v) => v.kind)).toContain('split-brain');
    const page = renderStatusPage(view);

    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<meta http-equiv="refresh" content="5">');
    expect(page).toContain('<title>CRITICAL · lb1 · kawatch</title>');
    expect(text(page)).toContain('kawatch 9.8.7');
    expect(page).toContain(`<time datetime="${new Date(NOW).toISOString()}">${new Date(NOW).toISOString().replace(/\.\d{3}Z$/, 'Z')}</time>`);

    expect(bannerText(page)).toContain('split brain on VI_1 (vrid 51): MASTER on lb1 and lb2');
    expect(text(page)).toContain('IP protocol 112');

    const vi1 = text(row(page, 'VI_1'));
    expect(vi1).toMatch(/^VI_1 51 MASTER MASTER prio 80 kwfx-a0 \S+Z \d+ s ago 100 \/ 100 198\.18\.9\.50\/24 present 198\.18\.9\.51\/24 present$/);
    const vi2 = text(row(page, 'VI_2'));
    expect(vi2).toMatch(/^VI_2 55 BACKUP MASTER prio 100 kwfx-a0 \S+Z \d+ s ago 80 \/ 80 198\.18\.9\.60\/24 absent$/);
    expect(page).toContain('<th scope="col">State on lb2</th>');

    const peer = text(row(page, 'lb2'));
    expect(peer).toContain('198.18.10.2:9651 reachable 0.8 ms');
    expect(peer).toContain(`${new Date(NOW - 500).toISOString().replace(/\.\d{3}Z$/, 'Z')} 1 s ago running`);

    // Transitions from the FIFO, the verdict raised and the action, newest first.
    const history = /<section aria-labelledby="history">(.*?)<\/section>/s.exec(page)![1]!;
    expect(text(history)).toContain('instance VI_1: BACKUP -> MASTER (fifo)');
    expect(text(history).indexOf('raised: split brain on VI_1')).toBeLessThan(text(history).indexOf('instance VI_1: BACKUP -> MASTER'));
    expect(text(page)).toMatch(/demote dry run VI_1 \(vrid 51\) lb1 split brain: lb1 stays MASTER \(higher priority\) restore after 60 s/);

    const sources = text(/<section aria-labelledby="sources">(.*?)<\/section>/s.exec(page)![1]!);
    expect(sources).toMatch(/fifo up 12 0 0 \S+Z 62 s ago/);
    expect(sources).toMatch(/hook off 0 0 0/);
    expect(text(page)).toMatch(/\[198\.18\.9\.102\]:tcp:80 down/);
  });

  it('escapes hostile names and texts from keepalived, peers and errors', () => {
    const hostile = '<script>alert(1)</script>';
    const view = splitLab([
      ...fifoLines(`INSTANCE "${hostile}" MASTER 100`),
      { type: 'source-rejected', at: NOW - 10, source: 'fifo', error: `unrecognised line "\\"><img src=x onerror=alert(2)>"` },
      { type: 'peer-view', at: NOW - 400, peer: 'lb2', view: peerViewSchema.parse({ ...lb2View(), instances: [...lb2View().instances, { name: hostile, state: 'MASTER', vips: [], stateSince: SPLIT_AT }] }) },
    ]);
    const hostileVerdict = view.verdicts.find((v) => v.kind === 'split-brain' && v.iname === hostile);
    expect(hostileVerdict).toBeDefined();
    const page = renderStatusPage(view);
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
    // The banner names it, as text.
    expect(bannerText(page)).toContain(`split brain on ${hostile}`);
  });

  it('shows no secret, even one that reached the snapshot', () => {
    const view = splitLab();
    const secret = 'hunter2-vrrp-pass';
    const vi1 = view.snapshot.instances.VI_1!;
    const peer = view.snapshot.peers.lb2!;
    const leaky = {
      ...view,
      snapshot: {
        ...view.snapshot,
        instances: { ...view.snapshot.instances, VI_1: { ...vi1, auth_data: secret, authPass: secret } },
        peers: { lb2: { ...peer, secret, view: { ...peer.view!, secret, instances: peer.view!.instances.map((i) => ({ ...i, auth_pass: secret })) } } },
      },
    } as StatusView;
    const page = renderStatusPage(leaky);
    expect(page).not.toContain(secret);
    // Neither the fixture's own auth_data nor the keyed digest of it: a reader has no use for either.
    expect(page).not.toContain('fixture1');
    expect(vi1.authDigest).toMatch(/^[0-9a-f]{16}$/);
    expect(page).not.toContain(vi1.authDigest);
  });

  it('lists an instance only a peer runs, a peer that has not answered yet, and a priority a track moved', () => {
    const view = splitLab([
      ...fifoLines('INSTANCE "VI_2" BACKUP 50').map((u) => ({ ...u, at: NOW - 1000 })),
      { type: 'peers-configured', peers: [{ name: 'lb2', address: '198.18.10.2:9651' }, { name: 'lb3', address: '198.18.10.3:9651' }] },
      { type: 'peer-view', at: NOW - 300, peer: 'lb2', view: { ...lb2View(), instances: [...lb2View().instances, { name: 'VI_9', vrid: 99, state: 'MASTER', vips: ['198.18.9.99'] }] } },
    ]);
    const page = renderStatusPage(view);
    expect(text(row(page, 'VI_9'))).toBe('VI_9 99 not configured here MASTER prio ? no view yet');
    expect(text(row(page, 'VI_1'))).toMatch(/^VI_1 51 MASTER MASTER prio 80 no view yet kwfx-a0 /);
    expect(text(row(page, 'VI_2'))).toContain(' 80 / 50 (-30) ');
    expect(text(row(page, 'lb3'))).toMatch(/^lb3 198\.18\.10\.3:9651 unreachable \? never \? 0$/);
  });

  it('reads well with nothing to show', () => {
    const page = renderStatusPage({ version: '1.0.0', now: NOW, snapshot: emptySnapshot('lb9'), verdicts: [], actions: [], recent: [] });
    const words = text(page);
    expect(bannerText(page)).toBeUndefined();
    expect(page).toContain('<title>lb9 · kawatch</title>');
    expect(words).toContain('healthy');
    expect(words).toContain('Nothing wrong');
    expect(words).toContain('No VRRP instance known yet');
    expect(words).toContain('No peer configured');
    expect(words).toContain('Nothing has happened since the daemon started');
    expect(words).toContain('The watchdog has taken no action');
    expect(words).toContain('keepalived not running');
  });

  it('marks the banner only for critical verdicts, and ranks the others below', () => {
    const verdicts: Verdict[] = [
      { kind: 'equal-priority', iname: 'VI_1', vrid: 51, priority: 100, nodes: ['lb1', 'lb2'] },
      { kind: 'peer-unreachable', peer: 'lb2', lastExchange: NOW - 9000, error: 'connect ECONNREFUSED' },
    ];
    const base = splitLab();
    const page = renderStatusPage({ ...base, verdicts });
    expect(bannerText(page)).toBeUndefined();
    expect(page).toContain('<title>lb1 · kawatch</title>');
    const list = text(/<ul class="verdicts">(.*?)<\/ul>/s.exec(page)![1]!);
    expect(list.indexOf('warning peer-unreachable')).toBeGreaterThanOrEqual(0);
    expect(list.indexOf('warning peer-unreachable')).toBeLessThan(list.indexOf('notice equal-priority'));
    // The peer the verdict calls unreachable is shown so, with its last view marked as such.
    expect(text(row(page, 'lb2'))).toContain('unreachable');
    expect(text(row(page, 'VI_1'))).toContain('(last known)');

    const noMaster = renderStatusPage({ ...base, verdicts: [{ kind: 'no-master', iname: 'VI_2', vrid: 55, nodes: ['lb1', 'lb2'] }] });
    expect(bannerText(noMaster)).toContain('no MASTER for VI_2 (vrid 55): lb1, lb2 all BACKUP');
  });
});

describe('status page, with times and names from outside', () => {
  it('shows a time no clock shows as invalid, and instances named like members of Object.prototype', () => {
    // keepalived's last_transition of 1e20 s, for an instance first seen in this dump.
    const lb1 = dump('dump-lb1.json').flatMap((i) => (i.name === 'VI_1' ? [i, { ...i, name: 'VI_far', lastTransition: 1e20 }] : [i]));
    const view = splitLab([
      { type: 'dump', at: NOW, instances: lb1 },
      ...fifoLines('INSTANCE "constructor" MASTER 100\nINSTANCE "__proto__" BACKUP 90'),
      { type: 'peer-error', at: Number.NaN, peer: 'lb2', error: 'timeout' },
    ]);
    const page = renderStatusPage({ ...view, recent: [...view.recent, { at: Infinity, kind: 'transition', text: 'from a broken clock' }] });
    expect(text(row(page, 'VI_far'))).toContain('invalid time (1e+23)');
    expect(text(row(page, 'constructor'))).toMatch(/^constructor \? MASTER /);
    expect(text(row(page, '__proto__'))).toMatch(/^__proto__ \? BACKUP /);
    expect(text(page)).toMatch(/invalid time \(Infinity\) transition from a broken clock/);
  });

  it('renders any snapshot, history and journal without failing', () => {
    const happening = fc.record({ at: anyTime, kind: fc.constantFrom('transition' as const, 'verdict' as const, 'action' as const), text: outsideName });
    const action = fc.record({ at: anyTime, action: fc.constantFrom('demote' as const, 'restore' as const, 'stop' as const), iname: outsideName, reason: outsideName, dryRun: fc.boolean(), restoreAfterMs: fc.option(anyTime, { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(anyUpdate, { maxLength: 20 }), fc.array(happening, { maxLength: 5 }), fc.array(action, { maxLength: 3 }), anyTime, (updates, recent, actions, now) => {
        const snapshot = reduceAll(emptySnapshot('lb1'), updates);
        const verdicts = diagnose(snapshot, { ...OPTIONS, now });
        const page = renderStatusPage({ version: '9.8.7', now, snapshot, verdicts, actions, recent });
        for (const name of Object.keys(snapshot.instances)) expect(page).toContain(`<tr><th scope="row">${escapeHtml(name)}</th>`);
      }),
      { numRuns: 150 },
    );
  });
});

describe('GET / on the daemon', () => {
  const store = new StateStore('lb1', silentLog);
  const watchdog = new EventBus<WatchdogEvents>(silentLog);
  const history = new History();
  connectListeners(store, watchdog, () => ({ history, countTransition: () => {} }), silentLog);
  const server = new HttpServer('127.0.0.1:0', createApp({ store, registry: new Registry(), version: '1.2.3', verdicts: () => diagnose(store.snapshot, { ...OPTIONS, now: Date.now() }), actions: () => [], recent: () => history.since(0) }), silentLog);
  let base: string;
  beforeAll(async () => {
    await server.start();
    base = `http://${server.address}`;
    for (const u of fifoLines(fixture('keepalived/fifo-lb1.txt'))) store.apply(u);
  });
  afterAll(() => server.stop());

  it('serves the page with headers that forbid scripts, sniffing and caching', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    for (const [name, value] of Object.entries(STATUS_PAGE_HEADERS)) expect(res.headers.get(name)).toBe(value);
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'unsafe-inline'/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.text();
    expect(text(row(body, 'VI_2'))).toMatch(/^VI_2 \? STOP \? /);
    expect(text(body)).toContain('instance VI_1: BACKUP -> MASTER (fifo)');
  });

  it('still answers once keepalived reported a time no clock shows', async () => {
    store.apply({ type: 'dump', at: Date.now(), instances: dump('dump-lb1.json').map((i) => ({ ...i, name: `${i.name}-far`, lastTransition: 1e20 })) });
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(text(row(await res.text(), 'VI_1-far'))).toContain('invalid time (1e+23)');
  });

  it('answers HEAD with the same headers and no body', async () => {
    const res = await fetch(`${base}/`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(STATUS_PAGE_HEADERS['Content-Security-Policy']);
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(1000);
    expect(await res.text()).toBe('');
  });
});
