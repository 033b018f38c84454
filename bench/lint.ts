/**
 * What `kawatch lint` costs in a pre-commit hook, against the floor of any Node CLI.
 *
 *   npm run build && node dist/bench/lint.js [--runs N] [--instances N]
 *
 * Three commands run N times each, interleaved: `node -e 0` (Node's own start-up, the baseline),
 * `kawatch lint` over the fixture corpus (seed configs, good and bad corpus), and `kawatch lint`
 * over one generated director pair with --instances VRRP instances and as many virtual servers.
 * Printed: p50 and p90 wall time of each, and each lint's ratio to the baseline; then the
 * in-process time of lintFiles alone on the same inputs (parse + rules, no start-up).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { lintFiles } from '../src/lint/lint.js';
import { formatMs, percentile } from './support.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? (args[at + 1] as string) : fallback;
};
const RUNS = Number(option('--runs', '10'));
const INSTANCES = Number(option('--instances', '500'));
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

function wall(command: string, argv: string[]): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    execFile(command, argv, { maxBuffer: 1 << 26 }, (err) => {
      // lint exits 1 when it finds something: that is a result, not a failure.
      if (err && typeof err.code !== 'number') reject(err);
      else resolve(performance.now() - start);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'kawatch-bench-lint-'));
try {
  const files = corpus();
  const pair = ([1, 2] as const).map((self) => {
    const file = join(dir, `lb${self}.conf`);
    writeFileSync(file, director(INSTANCES, self));
    return file;
  });
  const cases = [
    { name: 'node -e 0 (baseline)', command: 'node', argv: ['-e', '0'] },
    { name: `kawatch lint, corpus (${files.length} files)`, command: 'node', argv: [cli, 'lint', '--no-cross', ...files] },
    { name: `kawatch lint, pair of ${INSTANCES} instances`, command: 'node', argv: [cli, 'lint', ...pair] },
  ];
  const times = cases.map(() => [] as number[]);
  for (let r = 0; r < RUNS; r++) {
    for (const [i, c] of cases.entries()) (times[i] as number[]).push(await wall(c.command, c.argv));
  }
  const base = percentile(times[0] as number[], 50);
  process.stdout.write(`wall time over ${RUNS} runs each (interleaved)\n`);
  for (const [i, c] of cases.entries()) {
    const t = times[i] as number[];
    const p50 = percentile(t, 50);
    process.stdout.write(`  ${c.name.padEnd(40)} p50 ${formatMs(p50).padStart(10)}  p90 ${formatMs(percentile(t, 90)).padStart(10)}  ×${(p50 / base).toFixed(2)} baseline\n`);
  }
  process.stdout.write('in-process lintFiles (no start-up)\n');
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
    process.stdout.write(`  ${name.padEnd(40)} p50 ${formatMs(percentile(t, 50)).padStart(10)}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
