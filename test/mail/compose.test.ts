import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dictFrom } from '../../src/core/dict.js';
import { parseDump } from '../../src/keepalived/dump.js';
import { VRRP_STATES, type VrrpState } from '../../src/model/vrrp.js';
import { composeMail, transitionReason, wrap, type ComposeContext } from '../../src/mail/compose.js';
import { eventTitle } from '../../src/mail/title.js';
import { eventFromAction, eventFromChange, eventFromVerdict, type MailEvent } from '../../src/mail/event.js';
import { addEvent, emptyPending, type PendingGroup } from '../../src/mail/schedule.js';
import { emptySnapshot, type Snapshot } from '../../src/state/snapshot.js';
import { StateStore } from '../../src/state/store.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';
import { anyTime, outsideName } from '../support/arbitrary.js';
import { silentLog } from '../support/log.js';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const ctx: ComposeContext = { node: 'lb1', subjectPrefix: '[kawatch]', version: '1.2.3', maxPerHour: 20, heldBack: false };

function transition(from: VrrpState, to: VrrpState, at = T0, extra: Partial<Extract<MailEvent, { kind: 'transition' }>> = {}): MailEvent {
  return { kind: 'transition', at, node: 'lb1', scope: 'instance', name: 'VI_1', vrid: 51, vips: ['198.18.1.10'], from, to, source: 'fifo', ...extra };
}

const split: Verdict = {
  kind: 'split-brain',
  iname: 'VI_1',
  vrid: 51,
  masters: ['lb1', 'lb2'],
  causes: ['VRRP adverts are not getting through between lb1 and lb2: IP protocol 112 dropped by a firewall'],
};

function verdict(change: 'raised' | 'cleared', v: Verdict, at = T0): MailEvent {
  return eventFromVerdict(change, v, at, new StateStore('lb1', silentLog).snapshot, 'lb1');
}

function groupOf(events: MailEvent[]): PendingGroup {
  return events.reduce((state, e, i) => addEvent(state, e, T0 + i), emptyPending()).group!;
}

describe('one event', () => {
  it('names the node, instance, VRID and states in the subject, and every detail in the body', () => {
    const mail = composeMail(groupOf([transition('BACKUP', 'MASTER')]), ctx);
    expect(mail.subject).toBe('[kawatch] lb1: VI_1 (vrid 51) BACKUP -> MASTER');
    expect(mail.text).toContain('kawatch on lb1 reports 1 event, at 2026-11-22T10:00:00.000Z.');
    expect(mail.text).toContain('2026-11-22T10:00:00.000Z  VI_1 (vrid 51) BACKUP -> MASTER');
    expect(mail.text).toMatch(/node: +lb1\n/);
    expect(mail.text).toMatch(/VIPs: +198\.18\.1\.10\n/);
    expect(mail.text).toMatch(/state: +BACKUP -> MASTER\n/);
    expect(mail.text).toMatch(/reason: +probably the MASTER stopped advertising/);
    expect(mail.text).not.toContain('Summary');
    expect(mail.text).not.toContain('What to check');
    expect(mail.text.endsWith('-- \nkawatch 1.2.3 on lb1\n')).toBe(true);
  });

  it('says why an instance probably moved, and nothing when it cannot tell', () => {
    const t = (from: VrrpState, to: VrrpState, source: 'fifo' | 'process' = 'fifo') =>
      transitionReason(transition(from, to, T0, { source }) as Extract<MailEvent, { kind: 'transition' }>);
    expect(t('MASTER', 'STOP', 'process')).toMatch(/keepalived is not running on lb1/);
    expect(t('MASTER', 'STOP')).toMatch(/shutdown/);
    expect(t('MASTER', 'FAULT')).toMatch(/interface .* down|tracked script/);
    expect(t('MASTER', 'BACKUP')).toMatch(/higher priority took over/);
    expect(t('INIT', 'BACKUP')).toMatch(/\(re\)started/);
    expect(t('FAULT', 'BACKUP')).toMatch(/fault cleared/);
    expect(t('STOP', 'BACKUP')).toMatch(/\(re\)started/);
    expect(t('FAULT', 'MASTER')).toBeUndefined();
  });

  it('leaves the prefix out when it is empty', () => {
    expect(composeMail(groupOf([transition('BACKUP', 'MASTER')]), { ...ctx, subjectPrefix: '' }).subject).toBe('lb1: VI_1 (vrid 51) BACKUP -> MASTER');
  });
});

describe('a group', () => {
  it('headlines the split brain among the transitions, with its probable cause and what to check', () => {
    const mail = composeMail(groupOf([transition('BACKUP', 'MASTER'), verdict('raised', split), transition('BACKUP', 'MASTER', T0, { name: 'VI_2', vrid: 52 })]), ctx);
    expect(mail.subject).toBe('[kawatch] lb1: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2 (+2 more, also VI_2)');
    expect(mail.text).toContain('Most important: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2');
    expect(mail.text).toMatch(/nodes: +lb1, lb2 \(each MASTER\)/);
    expect(mail.text).toContain('IP protocol 112 dropped by a firewall');
    expect(mail.text).toContain('What to check:');
    expect(mail.text).toContain('VRRP (IP protocol 112) blocked between the directors');
    expect(mail.text).toContain('virtual_router_id or authentication (auth_type, auth_pass) differing');
  });

  it('does not headline a condition that came and went within the group, unless it is a split brain', () => {
    const vip: Verdict = { kind: 'vip-absent-on-master', iname: 'VI_1', vrid: 51, address: '198.18.1.10', node: 'lb1' };
    const failover = composeMail(groupOf([verdict('raised', vip), verdict('cleared', vip), transition('BACKUP', 'MASTER')]), ctx);
    expect(failover.subject).toBe('[kawatch] lb1: VI_1 (vrid 51) BACKUP -> MASTER (+2 more)');
    const lasting = composeMail(groupOf([verdict('raised', vip), transition('BACKUP', 'MASTER')]), ctx);
    expect(lasting.subject).toBe('[kawatch] lb1: VIP 198.18.1.10 of VI_1 (vrid 51) missing on its MASTER lb1 (+1 more)');
    const shortSplit = composeMail(groupOf([verdict('raised', split), transition('MASTER', 'BACKUP'), verdict('cleared', split)]), ctx);
    expect(shortSplit.subject).toBe('[kawatch] lb1: SPLIT BRAIN VI_1 (vrid 51) on lb1+lb2 (+2 more)');
    const onlyTransient = composeMail(groupOf([verdict('raised', vip), verdict('cleared', vip)]), ctx);
    expect(onlyTransient.subject).toBe('[kawatch] lb1: VIP 198.18.1.10 of VI_1 (vrid 51) missing on its MASTER lb1 (+1 more)');
  });

  it('says a split brain is resolved, and gives no hints for a resolution', () => {
    const mail = composeMail(groupOf([transition('MASTER', 'BACKUP'), verdict('cleared', split)]), ctx);
    expect(mail.subject).toBe('[kawatch] lb1: split brain resolved: VI_1 (vrid 51) (+1 more)');
    expect(mail.text).toMatch(/what: +no longer: split brain on VI_1/);
    expect(mail.text).not.toContain('What to check');
  });

  it('lists the first and last events of a burst in full and counts every one of them', () => {
    const flaps = Array.from({ length: 100 }, (_, i) => (i % 2 ? transition('MASTER', 'BACKUP', T0 + i) : transition('BACKUP', 'MASTER', T0 + i)));
    const mail = composeMail(groupOf(flaps), ctx);
    expect(mail.subject).toBe('[kawatch] lb1: VI_1 (vrid 51) BACKUP -> MASTER (+99 more)');
    expect(mail.text).toContain('reports 100 events, from 2026-11-22T10:00:00.000Z to 2026-11-22T10:00:00.099Z.');
    expect(mail.text).toMatch(/ 50x {2}VI_1 \(vrid 51\) BACKUP -> MASTER\n/);
    expect(mail.text).toMatch(/ 50x {2}VI_1 \(vrid 51\) MASTER -> BACKUP\n/);
    expect(mail.text).toContain('Events, the first 20 and the last 10 of 100:');
    expect(mail.text).toContain('... 70 more events, counted in the summary above ...');
    expect(mail.text.match(/^2026-11-22T\S+ {2}VI_1/gm)).toHaveLength(30);
  });

  it('says when the hourly limit held the events back', () => {
    const mail = composeMail(groupOf([transition('BACKUP', 'MASTER')]), { ...ctx, heldBack: true });
    expect(mail.text).toContain('The hourly mail limit (max_per_hour: 20) held these events back; none was dropped.');
  });
});

describe('titles', () => {
  it('names watchdog actions, dry runs, peers and VIP problems', () => {
    const entry = { at: T0, action: 'demote' as const, iname: 'VI_1', vrid: 51, winner: 'lb1', reason: 'split brain; lb1 wins', dryRun: false };
    expect(eventTitle(eventFromAction(entry, 'lb2'))).toBe('watchdog demoted VI_1 (vrid 51) on lb2');
    expect(eventTitle(eventFromAction({ ...entry, dryRun: true }, 'lb2'))).toBe('[dry run] watchdog would demote VI_1 (vrid 51) on lb2');
    expect(eventTitle(eventFromAction({ ...entry, action: 'restore' }, 'lb2'))).toBe('watchdog restored VI_1 (vrid 51) on lb2');
    expect(eventTitle(verdict('raised', { kind: 'peer-unreachable', peer: 'lb2', error: 'timeout' }))).toBe('peer lb2 unreachable from lb1');
    expect(eventTitle(verdict('cleared', { kind: 'peer-unreachable', peer: 'lb2' }))).toBe('peer lb2 reachable again from lb1');
    expect(eventTitle(verdict('raised', { kind: 'vip-absent-on-master', iname: 'VI_1', vrid: 51, address: '198.18.1.10', node: 'lb1' }))).toBe(
      'VIP 198.18.1.10 of VI_1 (vrid 51) missing on its MASTER lb1',
    );
    expect(eventTitle(verdict('raised', { kind: 'no-master', iname: 'VI_1', nodes: ['lb1', 'lb2'] }))).toBe('NO MASTER for VI_1');
  });
});

describe('a resolution', () => {
  /** d1's state when a verdict clears: its own view, and d2 and d3 heard `heardMsAgo` before. */
  function clearingState(holder: 'd1' | 'd2' | 'd3', heardMsAgo: Partial<Record<'d2' | 'd3', number>> = {}): Snapshot {
    const instance = (node: string) => ({ name: 'VI_1', vrid: 51, settingsKnown: true, state: node === holder ? 'MASTER' as const : 'BACKUP' as const, vips: ['198.18.1.10'], vipsPresent: node === holder ? ['198.18.1.10'] : [] });
    const peer = (node: 'd2' | 'd3') => ({ name: node, address: `${node}:9651`, view: { v: 1 as const, node, keepalivedUp: true, instances: [instance(node)] }, lastExchange: T0 - (heardMsAgo[node] ?? 100), errors: 0 });
    const self = emptySnapshot('d1');
    return {
      ...self,
      keepalived: { up: true },
      instances: dictFrom([['VI_1', { name: 'VI_1', vrid: 51, interface: 'pri0', state: instance('d1').state, vips: [{ address: '198.18.1.10', prefix: 24, dev: 'pri0' }], lowerPriorityAdverts: 0 }]]),
      addresses: holder === 'd1' ? [{ address: '198.18.1.10', prefix: 24, ifname: 'pri0', family: 4 }] : [],
      peers: dictFrom([['d2', peer('d2')], ['d3', peer('d3')]]),
    };
  }
  const cleared = (v: Verdict, s: Snapshot) => eventTitle(eventFromVerdict('cleared', v, T0, s, 'd1', { unreachableAfterMs: 3500 }));
  const missing: Verdict = { kind: 'vip-absent-on-master', iname: 'VI_1', vrid: 51, address: '198.18.1.10', node: 'd3' };

  it('names where the VIP is when it clears, not the director it went missing on', () => {
    expect(cleared(missing, clearingState('d2'))).toBe('resolved: VIP 198.18.1.10 of VI_1 (vrid 51) on d2');
    expect(cleared(missing, clearingState('d3'))).toBe('resolved: VIP 198.18.1.10 of VI_1 (vrid 51) on d3');
    expect(cleared(missing, clearingState('d1'))).toBe('resolved: VIP 198.18.1.10 of VI_1 (vrid 51) on d1');
    const several: Verdict = { kind: 'vip-on-several-nodes', iname: 'VI_1', vrid: 51, address: '198.18.1.10', nodes: ['d2', 'd3'] };
    expect(cleared(several, clearingState('d2'))).toBe('resolved: VIP 198.18.1.10 of VI_1 (vrid 51) on d2 only');
    const away: Verdict = { kind: 'not-on-preferred-owner', iname: 'VI_1', vrid: 51, preferred: 'd1', master: 'd3' };
    expect(cleared(away, clearingState('d1'))).toBe('resolved: VI_1 (vrid 51) back on its preferred d1');
    expect(cleared(away, clearingState('d2'))).toBe('resolved: VI_1 (vrid 51) no longer on d3 while d1 waits');
    expect(cleared({ kind: 'no-master', iname: 'VI_1', vrid: 51, nodes: ['d1', 'd2', 'd3'] }, clearingState('d2'))).toBe('no MASTER resolved: VI_1 (vrid 51) MASTER on d2');
  });

  it('takes only the views fresh when it clears', () => {
    // d2 holds the VIP by its last view, but that view is too old to say where the VIP is now.
    expect(cleared(missing, clearingState('d2', { d2: 10_000 }))).toBe('resolved: d3 no longer a MASTER without VIP 198.18.1.10 of VI_1 (vrid 51)');
    // Without the peers' freshness bound only this director's own view counts.
    expect(eventTitle(eventFromVerdict('cleared', missing, T0, clearingState('d2'), 'd1'))).toBe('resolved: d3 no longer a MASTER without VIP 198.18.1.10 of VI_1 (vrid 51)');
  });

  it('claims no place for the VIP in a resolution recorded without the standing (from an older version)', () => {
    const old: MailEvent = { kind: 'verdict', at: T0, node: 'd1', change: 'cleared', verdict: missing, vips: ['198.18.1.10'] };
    expect(eventTitle(old)).toBe('resolved: d3 no longer a MASTER without VIP 198.18.1.10 of VI_1 (vrid 51)');
  });
});

describe('what a mail never says', () => {
  it('holds no VRRP password, though keepalived\'s dump had one', () => {
    const store = new StateStore('lb1', silentLog);
    const dump = readFileSync(new URL('../fixtures/keepalived/dump-lb1.json', import.meta.url), 'utf8');
    expect(dump).toContain('"auth_data":"fixture1"');
    store.apply({ type: 'dump', at: T0, instances: parseDump(dump, 'dump-lb1.json', (m) => `digest-of-${m.length}`) });
    const [change] = store.apply({ type: 'report', source: 'fifo', at: Date.now(), report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'BACKUP' } });
    const event = eventFromChange(change!, store.snapshot, 'lb1')!;
    const mail = composeMail(groupOf([event, verdict('raised', split)]), ctx);
    for (const text of [JSON.stringify(event), mail.subject, mail.text]) {
      expect(text).not.toContain('fixture1');
      expect(text).not.toContain('digest-of');
    }
    expect(mail.text).toContain('198.18.9.50');
  });
});

describe('wrap', () => {
  it('breaks between words within the width and keeps a longer word whole', () => {
    expect(wrap('aa bb cc dd', 5)).toEqual(['aa bb', 'cc dd']);
    expect(wrap('a verylongword b', 5)).toEqual(['a', 'verylongword', 'b']);
    expect(wrap('  ', 5)).toEqual([]);
  });
});

describe('times and names from outside', () => {
  const mailEvent: fc.Arbitrary<MailEvent> = fc.oneof(
    fc.record({ at: anyTime, name: outsideName, from: fc.constantFrom(...VRRP_STATES), to: fc.constantFrom(...VRRP_STATES) }).map(({ at, name, from, to }) => transition(from, to, at, { name })),
    fc.record({ at: anyTime, peer: outsideName, lastExchange: fc.option(anyTime, { nil: undefined }), change: fc.constantFrom('lost' as const, 'back' as const) }).map((p) => ({ kind: 'peer' as const, node: 'lb1', ...p })),
    fc.record({ at: anyTime, iname: outsideName, nodes: fc.uniqueArray(outsideName, { minLength: 2, maxLength: 3 }) }).map(({ at, iname, nodes }) =>
      verdict('raised', { kind: 'config-mismatch', iname, field: 'virtual_router_id', values: dictFrom(nodes.map((n, i) => [n, String(i + 1)])) }, at),
    ),
    fc.record({ at: anyTime, iname: outsideName, restoreAfterMs: anyTime }).map(({ at, iname, restoreAfterMs }) =>
      eventFromAction({ at, action: 'demote', iname, reason: 'split brain', dryRun: false, restoreAfterMs }, 'lb1'),
    ),
  );

  it('mails an event whose time no clock shows, saying so, rather than failing to compose', () => {
    // keepalived's last_transition of 1e20 s, as the reducer turns it into milliseconds.
    const mail = composeMail(groupOf([transition('BACKUP', 'MASTER', 1e23), transition('MASTER', 'BACKUP', T0)]), ctx);
    expect(mail.text).toContain('from 2026-11-22T10:00:00.000Z to invalid time (1e+23)');
    expect(mail.text).toContain('invalid time (1e+23)  VI_1 (vrid 51) BACKUP -> MASTER');
    expect(composeMail(groupOf([{ kind: 'peer', at: Number.NaN, node: 'lb1', change: 'lost', peer: 'lb2', lastExchange: -5 }]), ctx).text).toMatch(/last heard: +invalid time \(-5\)/);
  });

  it('composes every group of events, whatever their times and names', () => {
    fc.assert(
      fc.property(fc.array(mailEvent, { minLength: 1, maxLength: 40 }), (events) => {
        const mail = composeMail(groupOf(events), ctx);
        expect(mail.text).toContain(`reports ${events.length === 1 ? '1 event' : `${events.length} events`}`);
        expect(mail.subject.startsWith('[kawatch] lb1: ')).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
