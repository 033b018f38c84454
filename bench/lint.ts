/**
 * What `kawatch lint` costs in a pre-commit hook, against the floor of any Node CLI.
 *
 *   npm run build && node dist/bench/lint.js [--runs N] [--instances N] [--json FILE]
 *
 * Three commands run N times each, interleaved: `node -e 0` (Node's own start-up, the baseline),
 * `kawatch lint` over the fixture corpus (seed configs, good and bad corpus), and `kawatch lint`
 * over one generated director pair with --instances VRRP instances and as many virtual servers.
 * Printed: p50 and p90 wall time of each, and each lint's ratio to the baseline; then the
 * in-process time of lintFiles alone on the same inputs (parse + rules, no start-up). Each lint's
 * p50 is judged by the goal in bench/support.ts; a lint exit other than 0 or 1 stops the benchmark.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { lintFiles } from '../src/lint/lint.js';
import { BenchReport, checkOptions, countOption, percentile, REPORT_OPTIONS, timedRun } from './support.js';

const RUNS = countOption('--runs', 10);
const INSTANCES = countOption('--instances', 500);
checkOptions(...REPORT_OPTIONS);
const root = new URL('../../', import.meta.url).pathname;
const cli = join(root, 'dist/src/cli/main.js');
const fixtures = join(root, 'test/fixtures/keepalived-conf');

function corpus(): string[] {
  return readdirSync(fixtures, { recursive: true, encoding: 'utf8' })
    .filter((f) => /(\.conf$|keepalived\.conf\.)/.test(f) && !f.includes('conf.d'))
    .map((f) => join(fixtures, f));
}

/** One director of a large multi-master pair: `n` instances, `n` virtual servers of 4 real servers. */
function director(n: number, self: 1 | 2): string {
  const out = ['global_defs {', `    router_id lb${self}`, '}'];
  for (let i = 0; i < n; i++) {
    const mine = i % 2 === self - 1;
    const vip = `10.${Math.floor(i / 250)}.${i % 250}.1`;
    out.push(
      `vrrp_instance VI_${i} {`,
      `    state ${mine ? 'MASTER' : 'BACKUP'}`,
      '    interface eth0',
      `    virtual_router_id ${(i % 255) + 1}`,
      `    priority ${mine ? 150 : 100}`,
      '    advert_int 1',
      `    virtual_ipaddress { ${vip}/24 dev eth${1 + Math.floor(i / 255)} }`,
      '    notify "/usr/bin/kawatch notify"',
      '}',
      `virtual_server ${vip} 80 {`,
      '    lb_algo wrr',
      '    lb_kind DR',
      '    protocol TCP',
      ...[1, 2, 3, 4].flatMap((r) => [`    real_server 192.168.${i % 250}.${r} 80 {`, '        weight 1', '        TCP_CHECK { connect_timeout 3 }', '    }']),
      '}',
    );
  }
  return `${out.join('\n')}\n`;
}

/** lint exits 1 when it finds something: that is a result. 2 (an input it could not read) or anything else is not. */
const LINT_EXIT_CODES = [0, 1] as const;

const report = new BenchReport('lint', { runs: RUNS, instances: INSTANCES });
const dir = mkdtempSync(join(tmpdir(), 'kawatch-bench-lint-'));
try {
  const files = corpus();
  const pair = ([1, 2] as const).map((self) => {
    const file = join(dir, `lb${self}.conf`);
    writeFileSync(file, director(INSTANCES, self));
    return file;
  });
  const baseline = { name: 'node -e 0', command: 'node', argv: ['-e', '0'], exitCodes: [0] };
  const lints = [
    { name: `kawatch lint, corpus (${files.length} files)`, command: 'node', argv: [cli, 'lint', '--no-cross', ...files], exitCodes: LINT_EXIT_CODES },
    { name: `kawatch lint, pair of ${INSTANCES} instances`, command: 'node', argv: [cli, 'lint', ...pair], exitCodes: LINT_EXIT_CODES },
  ];
  const cases = [baseline, ...lints];
  const times = cases.map(() => [] as number[]);
  // Interleaved, so that every command sees the same load on a shared machine.
  for (let r = 0; r < RUNS; r++) {
    for (const [i, c] of cases.entries()) times[i]!.push(await timedRun(c.command, c.argv, c.exitCodes));
  }
  report.note(`kawatch lint wall time (process start to exit), ${RUNS} runs each, interleaved with Node's bare start-up (\`node -e 0\`) as the baseline`);
  const base = { name: baseline.name, value: percentile(times[0]!, 50) };
  report.figure({ name: `${baseline.name} p50`, value: base.value, unit: 'ms' });
  for (const [i, c] of lints.entries()) {
    const t = times[i + 1]!;
    report.figure({ name: `${c.name} p50`, value: percentile(t, 50), unit: 'ms', baseline: base, goal: 'lintWallTime' });
    report.figure({ name: `${c.name} p90`, value: percentile(t, 90), unit: 'ms' });
  }
  report.note('in-process lintFiles (parse + rules, no start-up)');
  for (const [name, input, cross] of [
    ['corpus', files, false],
    [`pair of ${INSTANCES} instances`, pair, true],
  ] as const) {
    const t: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const start = performance.now();
      await lintFiles([...input], { cross });
      t.push(performance.now() - start);
    }
    report.figure({ name: `lintFiles, ${name} p50`, value: percentile(t, 50), unit: 'ms' });
  }
  report.write();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
