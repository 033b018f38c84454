import { describe, expect, it } from 'vitest';
import type { DrillReport } from '../../src/drill/journal.js';
import { reportLine } from '../../src/drill/report.js';
import { renderStatusPage, type StatusView } from '../../src/http/status-page.js';
import { emptySnapshot } from '../../src/state/snapshot.js';
import { text } from './support.js';

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;

const aborted: DrillReport = {
  id: 'm1-abcd',
  node: 'lb1',
  instance: 'VI_1',
  from: 'lb1',
  to: 'lb2',
  mode: 'stop',
  startedAt: NOW - 60_000,
  endedAt: NOW - 55_000,
  outcome: 'aborted',
  reason: 'verdict',
  detail: ['split brain on VI_1'],
  failoverMs: 730,
  boundMs: 3688,
  advertsLost: 0,
  probe: { target: 'tcp://198.18.0.50:443', attempts: 20, failures: 3, outageMs: 600, longestOutageMs: 600 },
  stayed: false,
  unexpected: ['lb3 became MASTER of VI_1 <script>'],
};

function page(drill: StatusView['drill']): string {
  const html = renderStatusPage({ version: '0', now: NOW, snapshot: emptySnapshot('lb1'), verdicts: [], actions: [], recent: [], drill });
  const start = html.indexOf('<section aria-labelledby="drill">');
  return html.slice(start, html.indexOf('</section>', start));
}

describe('the status page: the last failover drill', () => {
  it('shows the last report, its mode, bound, probe and surprises (escaped), and when a drill last succeeded', () => {
    const section = page({ last: aborted, lastSuccessAt: NOW - 3 * DAY });
    const shown = text(section);
    expect(shown).toContain(reportLine(aborted));
    expect(shown).toContain('lb1 → lb2 mode stop');
    expect(shown).toContain('0.730 s bound 3.688 s');
    expect(shown).toContain('3/20 failed, out 0.600 s');
    expect(shown).toContain('lb3 became MASTER of VI_1 <script>');
    expect(section).not.toContain('<script>');
    expect(shown).toMatch(/last success: \S+ 3 d ago/);
  });

  it('shows a drill under way, and says when none has succeeded', () => {
    const shown = text(page({ running: { instance: 'VI_2', step: 'moving back', since: NOW - 2000 } }));
    expect(shown).toMatch(/VI_2 running moving back/);
    expect(shown).toContain('last success: never');
  });

  it('says how to run one when there is none', () => {
    expect(text(page({}))).toContain('No drill has run on this director (kawatch drill INSTANCE, or jobs.drill).');
    expect(text(page(undefined))).not.toContain('last success');
  });
});
