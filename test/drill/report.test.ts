import { describe, expect, it } from 'vitest';
import type { DrillReport } from '../../src/drill/journal.js';
import { failoverBoundMs, probeSurprises, reportLine, reportText } from '../../src/drill/report.js';

const probe = (attempts: number, failures: number) => ({ target: 'tcp://198.18.0.50:443', attempts, failures, outageMs: failures * 200, longestOutageMs: failures * 200 });

describe('failoverBoundMs', () => {
  it('is one advert interval for a MASTER that steps down, the master-down interval for one that dies', () => {
    expect(failoverBoundMs('track', 1000, 80)).toBe(1000);
    // 3 × advert_int + (256 − priority) / 256 × advert_int
    expect(failoverBoundMs('stop', 1000, 80)).toBe(3688);
    expect(failoverBoundMs('stop', 2000, 255)).toBe(6008);
  });
});

describe('probeSurprises', () => {
  it('says so when the service never answered through the VIP, and only then', () => {
    expect(probeSurprises(undefined)).toEqual([]);
    expect(probeSurprises(probe(0, 0))).toEqual([]);
    expect(probeSurprises(probe(20, 19))).toEqual([]);
    expect(probeSurprises(probe(20, 20))).toEqual(['the probe of tcp://198.18.0.50:443 never succeeded (20 tries): is the service up behind the VIP, and the address and port right?']);
  });
});

describe('reportText', () => {
  const report: DrillReport = { id: 'm1-ab', node: 'lb1', instance: 'VI_1', from: 'lb1', to: 'lb2', mode: 'stop', startedAt: 0, endedAt: 7000, outcome: 'success', detail: [], failoverMs: 726, failbackMs: 4075, advertsLost: 0, boundMs: 3688, probe: probe(24, 3), stayed: false, unexpected: [] };

  it('gives the figures of a drill with mode stop next to its bound', () => {
    const text = reportText(report);
    expect(text).toContain('mode stop (keepalived stopped on the MASTER)');
    expect(text).toContain('seen by every director: 0.726 s\n');
    expect(text).toContain("keepalived's bound for this move: 3.688 s\n");
    expect(text).toContain('back on lb1 after: 4.075 s\n');
    expect(text).toContain('probe tcp://198.18.0.50:443: 3 of 24 tries failed, out for 0.600 s');
    expect(reportLine(report)).toBe('drill of VI_1: moved to lb2 in 0.726 s (bound 3.688 s), back on lb1 in 4.075 s');
  });
});
