import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDump } from '../../src/keepalived/dump.js';
import { checkerKey, type Change, type Update } from '../../src/state/snapshot.js';
import { anyUpdate, PROTOTYPE_NAMES } from '../support/arbitrary.js';
import { reduceAll } from './reduce-all.js';

const dump = (name: string) => parseDump(readFileSync(new URL(`../fixtures/keepalived/${name}`, import.meta.url), 'utf8'));

const run = reduceAll;

const state = (at: number, name: string, st: 'MASTER' | 'BACKUP' | 'FAULT', source: 'hook' | 'fifo' = 'fifo'): Update => ({
  type: 'report',
  source,
  at,
  report: { kind: 'state', scope: 'instance', name, state: st, priority: 100 },
});

describe('reduce', () => {
  it('follows the effective priority from priority lines, without a transition', () => {
    const priority = (at: number, value: number): Update => ({ type: 'report', source: 'fifo', at, report: { kind: 'priority', name: 'VI_2', state: 'BACKUP', priority: value } });
    const { s, changes } = run([state(1000, 'VI_2', 'BACKUP'), priority(1500, 70), priority(1600, 70), priority(1700, 75)]);
    expect(s.instances.VI_2).toMatchObject({ state: 'BACKUP', stateSince: 1000, effectivePriority: 75 });
    expect(changes.filter((c) => c.type !== 'transition')).toEqual([
      { type: 'priority', name: 'VI_2', priority: 70, at: 1500 },
      { type: 'priority', name: 'VI_2', priority: 75, at: 1700 },
    ]);
    expect(s.sources.fifo.events).toBe(4);
  });

  it("takes a dump's later time of the same state as a new onset: a round trip to it that no source told", () => {
    const { s, changes } = run([
      state(1000, 'VI_1', 'MASTER', 'hook'),
      { type: 'dump', at: 62_000, takenAfter: 61_900, instances: [{ name: 'VI_1', vrid: 51, state: 'MASTER', lastTransition: 61, vips: [] }] },
    ]);
    expect(changes.filter((c) => c.type === 'transition')).toHaveLength(1);
    // keepalived's own time is exact: its MASTER since 61 s cannot be the transition the hook stamped at 1 s.
    expect(s.instances.VI_1!.stateSince).toBe(61_000);
  });

  it('records a transition once when the hook and the FIFO both report it', () => {
    const { s, changes } = run([state(1000, 'VI_1', 'BACKUP'), state(2000, 'VI_1', 'MASTER', 'fifo'), state(2003, 'VI_1', 'MASTER', 'hook')]);
    expect(changes.filter((c) => c.type === 'transition').map((c) => c.type === 'transition' && [c.from, c.to, c.source])).toEqual([
      ['INIT', 'BACKUP', 'fifo'],
      ['BACKUP', 'MASTER', 'fifo'],
    ]);
    // Both read the transition after keepalived made it: the FIFO line, read before the hook ran, bounds it best.
    expect(s.instances.VI_1).toMatchObject({ state: 'MASTER', stateSince: 2000, effectivePriority: 100 });
    expect(s.sources.fifo.events).toBe(2);
    expect(s.sources.hook.events).toBe(1);
  });

  it('takes configuration and counters from a dump without treating first sight as a transition', () => {
    const { s, changes } = run([{ type: 'dump', at: 5000, instances: dump('dump-lb1.json') }]);
    expect(changes).toEqual([]);
    expect(s.instances.VI_1).toMatchObject({ vrid: 51, state: 'MASTER', basePriority: 100, interface: 'kwfx-a0' });
    expect(s.instances.VI_1!.vips).toHaveLength(2);
    expect(s.instances.VI_2).toMatchObject({ vrid: 55, state: 'BACKUP' });
  });

  it('ignores the state of a dump older than the last event, and follows a newer one', () => {
    const lb2 = dump('dump-lb2.json'); // VI_1 BACKUP, as keepalived saw it before the failover
    const lastTransition = (lb2.find((i) => i.name === 'VI_1')!.lastTransition! * 1000);
    const after = run([{ type: 'dump', at: lastTransition + 10, instances: lb2 }, state(lastTransition + 5000, 'VI_1', 'MASTER')]);
    const stale = run([{ type: 'dump', at: lastTransition + 6000, instances: lb2 }], after.s);
    expect(stale.changes).toEqual([]);
    expect(stale.s.instances.VI_1!.state).toBe('MASTER');

    const newer = dump('dump-lb2-after-failover.json');
    const fresh = run([{ type: 'dump', at: Date.now(), instances: newer }], stale.s);
    expect(fresh.s.instances.VI_1!.state).toBe('MASTER');
    expect(fresh.changes).toEqual([]);
  });

  it('lets a dump correct a state whose event was missed', () => {
    const start = run([state(1000, 'VI_2', 'MASTER')]).s;
    const lb1 = dump('dump-lb1.json'); // VI_2 BACKUP with keepalived's last_transition far after t=1000
    const { s, changes } = run([{ type: 'dump', at: Date.now(), instances: lb1 }], start);
    expect(s.instances.VI_2!.state).toBe('BACKUP');
    expect(changes).toEqual([expect.objectContaining({ type: 'transition', name: 'VI_2', from: 'MASTER', to: 'BACKUP', source: 'dump' })]);
  });

  it('drops instances a reload removed', () => {
    const start = run([{ type: 'dump', at: 1, instances: dump('dump-lb1.json') }]).s;
    const { s } = run([{ type: 'dump', at: 2, instances: dump('dump-lb1.json').filter((i) => i.name === 'VI_1') }], start);
    expect(Object.keys(s.instances)).toEqual(['VI_1']);
  });

  it('stops every instance when keepalived dies, once', () => {
    const start = run([{ type: 'dump', at: 1, instances: dump('dump-lb1.json') }, { type: 'process', at: 2, up: true, pid: 7 }]).s;
    const { s, changes } = run([{ type: 'process', at: 10, up: false }, { type: 'process', at: 11, up: false }], start);
    expect(Object.values(s.instances).map((i) => i.state)).toEqual(['STOP', 'STOP']);
    expect(changes.filter((c) => c.type === 'transition')).toHaveLength(2);
    expect(changes.filter((c) => c.type === 'process')).toHaveLength(1);
  });

  it('stops every instance of a keepalived restarted between two checks; the dump the new one brings tells the rest', () => {
    const check = (at: number, pid: number, startedAt: number): Update => ({ type: 'process', at, up: true, pid, startedAt });
    const transitions = (updates: Update[]) => run(updates).changes.flatMap((c) => (c.type === 'transition' ? [`${c.name} ${c.from}->${c.to}`] : []));
    const start = [check(1_000, 7, 500), state(1_100, 'VI_1', 'MASTER', 'hook'), state(1_200, 'VI_2', 'BACKUP', 'hook')];
    // The new keepalived (started at 5 000) told VI_2 BACKUP before the check saw it, which looked
    // like nothing new; the dump asked for on the new process has its last_transition.
    const backups: Update = { type: 'dump', at: 6_300, pid: 8, takenAfter: 6_100, instances: [{ name: 'VI_1', vrid: 1, state: 'BACKUP', vips: [], lastTransition: 5.2 }, { name: 'VI_2', vrid: 2, state: 'BACKUP', vips: [], lastTransition: 5.1 }] };
    const updates = [...start, state(5_100, 'VI_2', 'BACKUP', 'hook'), check(6_000, 8, 5_000), state(5_200, 'VI_1', 'BACKUP', 'hook'), backups];
    expect(transitions(updates)).toEqual(['VI_1 INIT->MASTER', 'VI_2 INIT->BACKUP', 'VI_1 MASTER->STOP', 'VI_2 BACKUP->STOP', 'VI_1 STOP->BACKUP', 'VI_2 STOP->BACKUP']);
    expect(Object.values(run(updates).s.instances).map((i) => i.state)).toEqual(['BACKUP', 'BACKUP']);
    // A reused pid is another process too; the same pid and start time is the same keepalived.
    expect(transitions([...start, check(6_000, 7, 5_000)])).toEqual(['VI_1 INIT->MASTER', 'VI_2 INIT->BACKUP', 'VI_1 MASTER->STOP', 'VI_2 BACKUP->STOP']);
    expect(transitions([...start, check(6_000, 7, 500)])).toEqual(['VI_1 INIT->MASTER', 'VI_2 INIT->BACKUP']);
  });

  it('tells one keepalived from another by its identity, not by a start time that moves with the clock', () => {
    const check = (at: number, pid: number, startedAt: number, identity?: string): Update => ({ type: 'process', at, up: true, pid, startedAt, ...(identity ? { identity } : {}) });
    const stops = (updates: Update[]) => run(updates).changes.filter((c) => c.type === 'transition' && c.to === 'STOP').length;
    const start = [check(1_000, 7, 500, 'b1/7/50'), state(1_100, 'VI_1', 'MASTER', 'hook')];
    // The same process, its start time read again after a clock step or an NTP slew (kawatch restarted since).
    expect(stops([...start, check(9_000, 7, 2_700, 'b1/7/50')])).toBe(0);
    // The same pid and start tick, another boot: a keepalived started at boot gets both again.
    expect(stops([...start, check(9_000, 7, 8_500, 'b2/7/50')])).toBe(1);
    // A last known state of an older version has no identity: its start time, read in whole seconds of the boot, may be up to a second early.
    expect(stops([check(1_000, 7, 500), state(1_100, 'VI_1', 'MASTER', 'hook'), check(9_000, 7, 1_450, 'b1/7/95')])).toBe(0);
    expect(stops([check(1_000, 7, 500), state(1_100, 'VI_1', 'MASTER', 'hook'), check(9_000, 7, 4_000, 'b1/7/350')])).toBe(1);
  });

  it('stops what the keepalived before told up to 100 ms before the new one started, and leaves what the new one told', () => {
    const check = (at: number, pid: number, startedAt: number, identity: string): Update => ({ type: 'process', at, up: true, pid, startedAt, identity });
    const { s, changes } = run([check(1_000, 7, 500, 'b/7/50'), state(4_900, 'VI_1', 'MASTER', 'hook'), state(5_020, 'VI_2', 'BACKUP', 'hook'), check(5_500, 8, 5_000, 'b/8/500')]);
    expect(changes.flatMap((c) => (c.type === 'transition' ? [`${c.name} ${c.from}->${c.to}`] : []))).toEqual(['VI_1 INIT->MASTER', 'VI_2 INIT->BACKUP', 'VI_1 MASTER->STOP']);
    expect(s.instances.VI_2!.state).toBe('BACKUP');
  });

  it('asks for a dump when a per-state hook names no instance', () => {
    const { changes } = run([{ type: 'report', source: 'hook', at: 1, report: { kind: 'state', scope: 'instance', state: 'MASTER' } }]);
    expect(changes).toEqual([{ type: 'unattributed', state: 'MASTER', at: 1, source: 'hook' }]);
  });

  it('tracks checker verdicts and sync groups, reporting only changes', () => {
    const rs = (up: boolean, at: number): Update => ({ type: 'report', source: 'fifo', at, report: { kind: 'checker', virtualServer: '[10.0.0.1]:tcp:80', realServer: '[10.0.0.11]:tcp:80', up } });
    const group: Update = { type: 'report', source: 'fifo', at: 3, report: { kind: 'state', scope: 'group', name: 'G', state: 'MASTER' } };
    const { s, changes } = run([rs(true, 1), rs(true, 2), rs(false, 3), group, { ...group, at: 4 }]);
    expect(changes.map((c) => c.type)).toEqual(['checker', 'checker', 'transition']);
    expect(Object.values(s.checkers)).toEqual([{ virtualServer: '[10.0.0.1]:tcp:80', realServer: '[10.0.0.11]:tcp:80', up: false, since: 3 }]);
    expect(s.groups.G).toMatchObject({ name: 'G', state: 'MASTER', stateSince: 3 });
  });

  describe("the first states of a keepalived kawatch saw start, whichever source tells them first", () => {
    // keepalived 1.3.5 at start: VI_3 BACKUP, its last transition in whole seconds; its notify script
    // (a wrapper that runs kawatch notify) reports it well after a dump asked on the process' start may have.
    const dump = (pid = 7): Update => ({ type: 'dump', at: 5_000_900, pid, instances: [{ name: 'VI_3', vrid: 63, state: 'BACKUP', vips: [], lastTransition: 5000 }] });
    const hook: Update = { type: 'report', source: 'hook', at: 5_000_700, report: { kind: 'state', scope: 'instance', name: 'VI_3', state: 'BACKUP' } };
    const down: Update = { type: 'process', at: 4_000_000, up: false };
    const up = (pid = 7): Update => ({ type: 'process', at: 5_000_100, up: true, pid });
    const counted = (updates: Update[]) =>
      run(updates).changes.flatMap((c) => (c.type === 'transition' ? [`${c.from}->${c.to}`] : []));

    it('counts INIT->BACKUP once in every order of the process check, the dump and the hook', () => {
      fc.assert(
        fc.property(fc.shuffledSubarray([up(), dump(), hook], { minLength: 3, maxLength: 3 }), (order) => {
          expect(counted([down, ...order])).toEqual(['INIT->BACKUP']);
        }),
      );
    });

    it('counts INIT->FAULT once for a weight-0 vrrp_script failing at start, in every order', () => {
      // keepalived 2.x holds the instance in FAULT, unnotified, until its weight-0 script answers
      // (vrrp_scheduler.c vrrp_init_state(): "Entering FAULT STATE (init)"); the failure then notifies
      // FAULT and moves last_transition (vrrp.c vrrp_state_leave_fault()).
      const faultDump = (at: number, lastTransition: number): Update => ({ type: 'dump', at, pid: 7, instances: [{ name: 'VI_1', vrid: 61, state: 'FAULT', vips: [], lastTransition }] });
      const fifo: Update = { type: 'report', source: 'fifo', at: 6_000_300, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'FAULT' } };
      const faultHook: Update = { type: 'report', source: 'hook', at: 6_000_250, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'FAULT' } };
      fc.assert(
        fc.property(fc.shuffledSubarray([up(), faultDump(5_000_500, 5000.2), faultHook, fifo], { minLength: 4, maxLength: 4 }), (order) => {
          expect(counted([down, ...order, faultDump(6_001_000, 6000.2)])).toEqual(['INIT->FAULT']);
        }),
      );
    });

    it('counts no FAULT for the hold before a weight-0 vrrp_script first answers, in every order', () => {
      // keepalived 2.x holds the instance in FAULT until the script answers, and neither notifies nor
      // counts it (vrrp_track.c initialise_track_script_state(): num_script_init); keepalived.data
      // says so ("Number of track scripts init = 1"). The script then passes: BACKUP is the first state.
      const held: Update = { type: 'dump', at: 5_000_500, pid: 7, instances: [{ name: 'VI_1', vrid: 61, state: 'FAULT', vips: [], lastTransition: 5000.2, scriptsAwaited: 1 }] };
      const answered = (at: number): Update => ({ type: 'dump', at, pid: 7, instances: [{ name: 'VI_1', vrid: 61, state: 'BACKUP', vips: [], lastTransition: 6000.2, scriptsAwaited: 0 }] });
      const backup = (source: 'hook' | 'fifo', at: number): Update => ({ type: 'report', source, at, report: { kind: 'state', scope: 'instance', name: 'VI_1', state: 'BACKUP' } });
      fc.assert(
        fc.property(fc.shuffledSubarray([up(), held, backup('hook', 6_000_250), backup('fifo', 6_000_300), answered(6_000_600)], { minLength: 5, maxLength: 5 }), (order) => {
          const { s, changes } = run([down, ...order, answered(6_001_000)]);
          expect(changes.flatMap((c) => (c.type === 'transition' ? [`${c.from}->${c.to}`] : []))).toEqual(['INIT->BACKUP']);
          expect(s.instances.VI_1!.state).toBe('BACKUP');
        }),
      );
      // Held, as far as any source told: not yet in a state keepalived made.
      expect(run([down, up(), held]).s.instances.VI_1!.state).toBe('INIT');
    });

    it('counts it too when keepalived was restarted between two checks (another pid)', () => {
      expect(counted([up(6), dump(7), hook])).toEqual(['INIT->BACKUP']);
    });

    it('counts none for a keepalived already running when kawatch starts: it saw no transition', () => {
      expect(counted([up(), dump()])).toEqual([]);
      expect(counted([dump(), up()])).toEqual([]);
      expect(counted([up(), { type: 'process', at: 5_000_200, up: true, pid: 7 }, dump()])).toEqual([]);
    });
  });

  describe('sync groups from a text dump (keepalived.data; the JSON dump has none)', () => {
    const groupReport = (at: number, st: 'MASTER' | 'BACKUP' | 'FAULT', source: 'hook' | 'fifo' = 'hook'): Update => ({ type: 'report', source, at, report: { kind: 'state', scope: 'group', name: 'G', state: st } });
    const dumped = (at: number, askedAt: number, ...groups: [string, 'MASTER' | 'BACKUP' | 'FAULT'][]): Update => ({
      type: 'dump',
      at,
      instances: [],
      takenAfter: askedAt,
      groups: groups.map(([name, st]) => ({ name, state: st, members: ['VI_1', 'VI_2'] })),
    });
    const transitions = (changes: Change[]) => changes.filter((c) => c.type === 'transition');

    it('knows a group first from a dump, as an instance: its state, no transition; the hook then telling it is no transition either', () => {
      const { s, changes } = run([dumped(1000, 990, ['G', 'MASTER']), groupReport(1100, 'MASTER')]);
      expect(run([dumped(1000, 990, ['G', 'MASTER'])]).s.groups.G).toMatchObject({ name: 'G', state: 'MASTER', stateSince: 1000 });
      // The dump, read at 1000, showed the state already: the hook's later stamp does not move its onset.
      expect(s.groups.G).toMatchObject({ name: 'G', state: 'MASTER', stateSince: 1000 });
      expect(transitions(changes)).toEqual([]);
    });

    it('tells a transition no other source reported, once, when the dump was asked after the last report', () => {
      const { s, changes } = run([groupReport(1000, 'MASTER'), dumped(3000, 2000, ['G', 'FAULT']), dumped(4000, 3500, ['G', 'FAULT']), groupReport(3010, 'FAULT', 'fifo')]);
      expect(transitions(changes)).toEqual([
        { type: 'transition', scope: 'group', name: 'G', from: 'INIT', to: 'MASTER', at: 1000, source: 'hook' },
        { type: 'transition', scope: 'group', name: 'G', from: 'MASTER', to: 'FAULT', at: 3000, source: 'dump' },
      ]);
      expect(s.groups.G).toMatchObject({ state: 'FAULT', stateSince: 3000 });
    });

    it('does not undo a transition the hook told after the dump was asked: the dump may be older', () => {
      const { s, changes } = run([groupReport(1000, 'BACKUP'), groupReport(2000, 'MASTER'), dumped(2100, 1990, ['G', 'BACKUP'])]);
      expect(transitions(changes).map((c) => c.type === 'transition' && c.to)).toEqual(['BACKUP', 'MASTER']);
      expect(s.groups.G!.state).toBe('MASTER');
    });

    it('drops a group a dump no longer lists (a reload removed it); a dump without groups keeps them', () => {
      const { s } = run([dumped(1000, 990, ['G', 'MASTER'], ['H', 'BACKUP']), { type: 'dump', at: 2000, instances: [] }]);
      expect(Object.keys(s.groups).sort()).toEqual(['G', 'H']);
      expect(Object.keys(run([dumped(1000, 990, ['G', 'MASTER'], ['H', 'BACKUP']), dumped(2000, 1990, ['H', 'BACKUP'])]).s.groups)).toEqual(['H']);
    });
  });

  it('keeps netlink addresses as a set: full dumps replace, events add and remove', () => {
    const a = { address: '198.18.0.50', prefix: 24, ifname: 'pri0', family: 4 as const };
    const b = { address: 'fd00::1', prefix: 64, ifname: 'pri0', family: 6 as const };
    const { s } = run([
      { type: 'addresses', at: 1, addresses: [a, a] },
      { type: 'address', at: 2, op: 'add', address: b },
      { type: 'address', at: 3, op: 'add', address: b },
      { type: 'address', at: 4, op: 'del', address: a },
    ]);
    expect(s.addresses).toEqual([b]);
  });

  it('separates failures of a source from inputs it refused', () => {
    const { s } = run([
      { type: 'source-enabled', source: 'fifo', enabled: true },
      { type: 'source-ok', source: 'fifo', at: 1 },
      { type: 'source-rejected', source: 'fifo', at: 2, error: 'bad line' },
      { type: 'source-error', source: 'dump', at: 3, error: 'timeout' },
    ]);
    expect(s.sources.fifo).toMatchObject({ enabled: true, up: true, rejected: 1, errors: 0, lastRejected: 'bad line' });
    expect(s.sources.dump).toMatchObject({ up: false, errors: 1, lastError: 'timeout' });
  });
});

/** Which names the snapshot should hold after `updates`, by the reducer's documented rules, kept as plain sets. */
function expectedNames(updates: Update[]): { instances: Set<string>; groups: Set<string>; checkers: Set<string>; peers: Set<string> } {
  let instances = new Set<string>();
  let groups = new Set<string>();
  const checkers = new Set<string>();
  let peers = new Set<string>();
  for (const u of updates) {
    if (u.type === 'dump') instances = new Set(u.instances.map((i) => i.name));
    // A dump that lists sync groups lists all keepalived runs.
    if (u.type === 'dump' && u.groups) groups = new Set(u.groups.map((g) => g.name));
    if (u.type === 'peers-configured') peers = new Set(u.peers.map((p) => p.name));
    if (u.type !== 'report') continue;
    const r = u.report;
    if (r.kind === 'checker') checkers.add(checkerKey(r.virtualServer, r.realServer));
    else if (r.kind === 'master-rx-lower-priority' || r.kind === 'priority' || r.scope === 'instance') instances.add(r.name!);
    // A sync group first reported in INIT has not moved: nothing to record yet.
    else if (r.state !== 'INIT') groups.add(r.name!);
  }
  return { instances, groups, checkers, peers };
}

function prototypeFingerprint(): string[] {
  return Reflect.ownKeys(Object.prototype).map((key) => `${String(key)}=${String(Object.getOwnPropertyDescriptor(Object.prototype, key)!.value ?? 'accessor')}`);
}

describe('reduce, with names from outside', () => {
  it('keeps an instance named like a member of Object.prototype as an instance', () => {
    for (const name of PROTOTYPE_NAMES) {
      const { s, changes } = run([state(1000, name, 'BACKUP', 'hook'), state(2000, name, 'MASTER')]);
      expect(Object.keys(s.instances)).toEqual([name]);
      expect(s.instances[name]).toMatchObject({ name, state: 'MASTER', stateSince: 2000 });
      expect(changes.map((c) => c.type === 'transition' && c.to)).toEqual(['BACKUP', 'MASTER']);
    }
  });

  it('never throws, never touches Object.prototype, and holds exactly the names it was given', () => {
    const before = prototypeFingerprint();
    fc.assert(
      fc.property(fc.array(anyUpdate, { maxLength: 25 }), (updates) => {
        const { s } = run(updates);
        const expected = expectedNames(updates);
        for (const [field, names] of Object.entries(expected) as [keyof typeof expected, Set<string>][]) {
          expect(new Set(Object.keys(s[field]))).toEqual(names);
          // What the API and the peers receive: JSON keeps every name, `__proto__` included.
          expect(new Set(Object.keys((JSON.parse(JSON.stringify(s)) as Record<string, object>)[field]!))).toEqual(names);
        }
        for (const [name, instance] of Object.entries(s.instances)) expect(instance.name).toBe(name);
        for (const [name, group] of Object.entries(s.groups)) expect(group.name).toBe(name);
        for (const [name, peer] of Object.entries(s.peers)) expect(peer.name).toBe(name);
        expect(prototypeFingerprint()).toEqual(before);
        expect(({} as Record<string, unknown>).name).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});
