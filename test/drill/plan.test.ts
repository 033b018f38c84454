import { describe, expect, it } from 'vitest';
import type { PeerInstance, PeerView } from '../../src/model/peer.js';
import { abortReason, heldBy, planDrill, precedes, weighedVerdicts, type DrillRequest, type GroupFacts } from '../../src/drill/plan.js';
import type { Verdict } from '../../src/watchdog/diagnose.js';

const VIP = '198.18.0.50';

function instance(node: string, state: PeerInstance['state'], priority: number, extra: Partial<PeerInstance> = {}): PeerInstance {
  const index = Number(node.slice(2));
  return {
    name: 'VI_1',
    vrid: 51,
    settingsKnown: true,
    state,
    basePriority: priority,
    effectivePriority: priority,
    advertInterval: 1,
    primaryAddress: `198.18.0.${index}`,
    vips: [VIP],
    vipsPresent: state === 'MASTER' ? [VIP] : [],
    ...extra,
  };
}

function view(node: string, state: PeerInstance['state'], priority: number, extra: Partial<PeerInstance> = {}, more: Partial<PeerView> = {}): PeerView {
  return { v: 1, node, keepalivedUp: true, instances: [instance(node, state, priority, extra)], ...more };
}

/** A healthy three-director group: lb1 MASTER (100), lb2 BACKUP (90), lb3 BACKUP (80). */
function healthy(change: Partial<GroupFacts> = {}): GroupFacts {
  return {
    node: 'lb1',
    views: [view('lb1', 'MASTER', 100), view('lb2', 'BACKUP', 90), view('lb3', 'BACKUP', 80)],
    members: ['lb2', 'lb3'],
    verdicts: [],
    fenced: [],
    canRestart: false,
    ...change,
  };
}

const REQUEST: DrillRequest = { instance: 'VI_1', mode: 'track', stay: false };

function reasons(request: DrillRequest, facts: GroupFacts): string[] {
  const planned = planDrill(request, facts);
  return planned.ok ? [] : planned.reasons;
}

describe('planDrill', () => {
  it('plans a move to the BACKUP VRRP elects on a healthy group', () => {
    const planned = planDrill(REQUEST, healthy());
    expect(planned).toEqual({ ok: true, plan: { instance: 'VI_1', vrid: 51, vips: [VIP], from: 'lb1', to: 'lb2', mode: 'track', probe: undefined, stay: false, advertIntervalMs: 1000 } });
  });

  it('refuses when a peer is not heard', () => {
    const facts = healthy({ views: healthy().views.filter((v) => v.node !== 'lb3') });
    expect(reasons(REQUEST, facts)).toEqual(['peer lb3 is not heard on the secondary link: the group cannot watch the drill']);
  });

  it('refuses while a verdict stands', () => {
    const verdict: Verdict = { kind: 'equal-priority', iname: 'VI_2', priority: 100, nodes: ['lb1', 'lb2'] };
    expect(reasons(REQUEST, healthy({ verdicts: [verdict] }))[0]).toMatch(/^a verdict stands: VI_2 has priority 100/);
  });

  it('refuses while another director drills, and while this one does', () => {
    const views = healthy().views.map((v) => (v.node === 'lb3' ? { ...v, drill: { instance: 'VI_2', since: 1 } } : v));
    expect(reasons(REQUEST, healthy({ views }))).toEqual(['lb3 is drilling VI_2: one drill at a time in a group']);
    expect(reasons(REQUEST, healthy({ running: { instance: 'VI_2', since: 1 } }))).toEqual(['a drill of VI_2 is running on lb1']);
  });

  it('refuses on a BACKUP, naming the MASTER to run it on', () => {
    const facts = healthy({ node: 'lb2', members: ['lb1', 'lb3'] });
    expect(reasons(REQUEST, facts)).toContain('VI_1 is BACKUP on lb2: run the drill on its MASTER (lb1)');
  });

  it('refuses a target VRRP would not elect, or one not BACKUP', () => {
    expect(reasons({ ...REQUEST, to: 'lb3' }, healthy())).toEqual(['VRRP would elect lb2, not lb3, when lb1 steps down']);
    const facts = healthy({ views: [view('lb1', 'MASTER', 100), view('lb2', 'FAULT', 90), view('lb3', 'BACKUP', 80)] });
    expect(reasons({ ...REQUEST, to: 'lb2' }, facts)).toEqual(['lb2 is not a BACKUP of VI_1 with keepalived up']);
    // Without --to, the drill goes to whoever VRRP elects among the healthy BACKUPs.
    expect(planDrill(REQUEST, facts)).toMatchObject({ ok: true, plan: { to: 'lb3' } });
  });

  it('refuses a target whose priority something lowered', () => {
    const facts = healthy({ views: [view('lb1', 'MASTER', 100), view('lb2', 'BACKUP', 90, { effectivePriority: 70 }), view('lb3', 'BACKUP', 80)] });
    expect(reasons({ ...REQUEST, to: 'lb2' }, facts)).toContain("lb2's priority for VI_1 is 70, not its own 90: something tracked lowered it");
  });

  it('refuses a MASTER without its VIP, an instance the watchdog holds demoted, and mode stop without start_command', () => {
    const facts = healthy({ views: [view('lb1', 'MASTER', 100, { vipsPresent: [] }), view('lb2', 'BACKUP', 90), view('lb3', 'BACKUP', 80)], fenced: ['VI_1'] });
    expect(reasons({ ...REQUEST, mode: 'stop' }, facts)).toEqual([
      'the watchdog holds VI_1 demoted: its restore comes first',
      'mode stop needs watchdog.start_command (to start keepalived again afterwards)',
      `lb1 is MASTER of VI_1 but does not hold ${VIP}`,
    ]);
    expect(planDrill({ ...REQUEST, mode: 'stop' }, healthy({ canRestart: true })).ok).toBe(true);
  });

  it('refuses an unknown instance', () => {
    expect(reasons({ ...REQUEST, instance: 'VI_9' }, healthy())).toEqual(['lb1 has no instance VI_9']);
  });
});

describe('heldBy', () => {
  const plan = { instance: 'VI_1', vips: [VIP] };
  it('holds once the target alone is MASTER with the VIP in every account', () => {
    const moved = [view('lb1', 'FAULT', 100), view('lb2', 'MASTER', 90), view('lb3', 'BACKUP', 80)];
    expect(heldBy(moved, plan, 'lb2', ['lb2', 'lb3'])).toBe(true);
    expect(heldBy(moved, plan, 'lb2', ['lb2', 'lb3', 'lb4'])).toBe(false);
  });
  it('does not hold while the old MASTER keeps the VIP, or the target has not added it', () => {
    const overlap = [view('lb1', 'FAULT', 100, { vipsPresent: [VIP] }), view('lb2', 'MASTER', 90)];
    expect(heldBy(overlap, plan, 'lb2', ['lb2'])).toBe(false);
    const noVip = [view('lb1', 'FAULT', 100), view('lb2', 'MASTER', 90, { vipsPresent: [] })];
    expect(heldBy(noVip, plan, 'lb2', ['lb2'])).toBe(false);
  });
});

describe('abortReason', () => {
  const mark = { instance: 'VI_1', since: 1000 };
  const base = { now: 2000, deadline: 10_000, facts: healthy(), plan: { instance: 'VI_1' }, mark, stopping: false };

  it('goes on while the group is healthy, whatever the drill itself brings about', () => {
    const expected: Verdict = { kind: 'not-on-preferred-owner', iname: 'VI_1', preferred: 'lb1', master: 'lb2' };
    expect(abortReason({ ...base, facts: healthy({ verdicts: [expected] }) })).toBeUndefined();
  });

  it('aborts on a signal, a peer lost, any other verdict, a drill ahead, and the time up', () => {
    expect(abortReason({ ...base, stopping: true })?.reason).toBe('signal');
    expect(abortReason({ ...base, facts: healthy({ views: healthy().views.slice(0, 2) }) })).toEqual({ reason: 'peer-lost', detail: 'peer lb3 no longer heard' });
    const split: Verdict = { kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'], causes: [] };
    expect(abortReason({ ...base, facts: healthy({ verdicts: [split] }) })?.reason).toBe('verdict');
    const other: Verdict = { kind: 'not-on-preferred-owner', iname: 'VI_2', preferred: 'lb2', master: 'lb1' };
    expect(abortReason({ ...base, facts: healthy({ verdicts: [other] }) })?.reason).toBe('verdict');
    const ahead = healthy().views.map((v) => (v.node === 'lb2' ? { ...v, drill: { instance: 'VI_2', since: 999 } } : v));
    expect(abortReason({ ...base, facts: healthy({ views: ahead }) })).toEqual({ reason: 'other-drill', detail: 'lb2 is drilling VI_2' });
    expect(abortReason({ ...base, now: 10_000 })?.reason).toBe('timeout');
  });

  it('lets a later drill elsewhere wait for this one: every director orders two drills alike', () => {
    const later = healthy().views.map((v) => (v.node === 'lb2' ? { ...v, drill: { instance: 'VI_2', since: 1001 } } : v));
    expect(abortReason({ ...base, facts: healthy({ views: later }) })).toBeUndefined();
    const a = { node: 'lb1', mark: { instance: 'VI_1', since: 5 } };
    const b = { node: 'lb2', mark: { instance: 'VI_2', since: 5 } };
    expect(precedes(a, b)).toBe(true);
    expect(precedes(b, a)).toBe(false);
  });
});

describe('weighedVerdicts', () => {
  const overlap: Verdict = { kind: 'vip-on-several-nodes', iname: 'VI_1', address: VIP, nodes: ['lb1', 'lb2'] };
  const elsewhere: Verdict = { kind: 'vip-on-several-nodes', iname: 'VI_2', address: '198.18.0.60', nodes: ['lb1', 'lb2'] };
  const split: Verdict = { kind: 'split-brain', iname: 'VI_1', masters: ['lb1', 'lb2'], causes: [] };

  it('lets a hand-over verdict of the drilled instance last up to the grace, and no other verdict at all', () => {
    const first = weighedVerdicts([overlap, elsewhere, split], 'VI_1', new Map(), 1000, 4000);
    expect(first.verdicts).toEqual([elsewhere, split]);
    expect(weighedVerdicts([overlap], 'VI_1', first.firstSeen, 4999, 4000).verdicts).toEqual([]);
    expect(weighedVerdicts([overlap], 'VI_1', first.firstSeen, 5000, 4000).verdicts).toEqual([overlap]);
  });

  it('forgets a hand-over verdict that cleared: one that comes back waits its grace again', () => {
    const first = weighedVerdicts([overlap], 'VI_1', new Map(), 1000, 4000);
    const cleared = weighedVerdicts([], 'VI_1', first.firstSeen, 2000, 4000);
    expect(weighedVerdicts([overlap], 'VI_1', cleared.firstSeen, 5500, 4000).verdicts).toEqual([]);
  });
});
