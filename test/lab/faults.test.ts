import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compatible, describeFault, FAULT_KINDS, planSchedule, reconfigureSettings, seededRandom, RECONFIGURE_VARIANTS } from '../../src/lab/faults.js';

const PAIR = ['lb1', 'lb2'];
const GROUP = ['lb1', 'lb2', 'lb3'];

describe('fault schedule', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(planSchedule(42, 30, { nodes: GROUP })).toEqual(planSchedule(42, 30, { nodes: GROUP }));
    expect(planSchedule(42, 30, { nodes: GROUP })).not.toEqual(planSchedule(43, 30, { nodes: GROUP }));
  });

  it('draws a seed into [0, 1), the same sequence on every call', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const values = Array.from({ length: 1000 }, () => a());
    expect(values).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBe(1000);
  });

  it('hits only the lab nodes, with two distinct ones for a pair, held within bounds, and never two faults that collide', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(PAIR, GROUP), (seed, nodes) => {
        for (const step of planSchedule(seed, 20, { nodes, minHoldMs: 1000, maxHoldMs: 2000 })) {
          expect(step.holdMs).toBeGreaterThanOrEqual(1000);
          expect(step.holdMs).toBeLessThanOrEqual(2000);
          expect(step.faults.length).toBeGreaterThanOrEqual(1);
          for (const f of step.faults) {
            expect(f.nodes.every((n) => nodes.includes(n))).toBe(true);
            expect(f.nodes.length).toBe(f.kind === 'smtp-outage' ? 0 : f.kind === 'vrrp-drop-pair' ? 2 : 1);
            expect(new Set(f.nodes).size).toBe(f.nodes.length);
          }
          if (step.faults.length === 2) expect(compatible(step.faults[0]!, step.faults[1]!)).toBe(true);
        }
      }),
    );
  });

  it('draws every kind of fault, on every node, over a long schedule', () => {
    const steps = planSchedule(1, 400, { nodes: GROUP });
    const faults = steps.flatMap((s) => s.faults);
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    expect(new Set(faults.flatMap((f) => f.nodes))).toEqual(new Set(GROUP));
    expect(steps.some((s) => s.faults.length === 2)).toBe(true);
  });

  it('keeps to the kinds asked for', () => {
    const kinds = planSchedule(5, 50, { nodes: PAIR, kinds: ['smtp-outage', 'kawatch-restart'] }).flatMap((s) => s.faults.map((f) => f.kind));
    expect(new Set(kinds)).toEqual(new Set(['smtp-outage', 'kawatch-restart']));
  });

  it('refuses a lab of one node', () => {
    expect(() => planSchedule(1, 1, { nodes: ['lb1'] })).toThrow(/at least two nodes/);
  });

  it('never holds two faults on one process or two rule sets on one node', () => {
    expect(compatible({ kind: 'kawatch-restart', nodes: ['lb1'] }, { kind: 'kawatch-reconfigure', nodes: ['lb1'] })).toBe(false);
    expect(compatible({ kind: 'vrrp-drop-node', nodes: ['lb1'] }, { kind: 'secondary-cut', nodes: ['lb1'] })).toBe(false);
    expect(compatible({ kind: 'smtp-outage', nodes: [] }, { kind: 'smtp-outage', nodes: [] })).toBe(false);
    expect(compatible({ kind: 'kawatch-restart', nodes: ['lb1'] }, { kind: 'keepalived-restart', nodes: ['lb1'] })).toBe(true);
    expect(compatible({ kind: 'vrrp-drop-node', nodes: ['lb1'] }, { kind: 'kawatch-restart', nodes: ['lb1'] })).toBe(true);
    expect(compatible({ kind: 'vrrp-drop-pair', nodes: ['lb1', 'lb2'] }, { kind: 'secondary-cut', nodes: ['lb3'] })).toBe(true);
  });

  it('says what each fault is, and reconfigures to a different setting each variant', () => {
    expect(describeFault({ kind: 'vrrp-drop-pair', nodes: ['lb1', 'lb3'] })).toBe('vrrp-drop-pair lb1+lb3');
    expect(describeFault({ kind: 'keepalived-restart', nodes: ['lb2'], signal: 'SIGKILL' })).toBe('keepalived-restart lb2 (SIGKILL)');
    const variants = Array.from({ length: RECONFIGURE_VARIANTS }, (_, v) => JSON.stringify(reconfigureSettings(v)));
    expect(new Set(variants).size).toBe(RECONFIGURE_VARIANTS);
  });
});
