/**
 * What parsing keepalived's text dumps costs as they grow, to show it stays linear.
 *
 *   npm run build && node dist/bench/text-dump.js [--runs N]
 *
 * Inputs: the real 2.2.8 dump pair (test/fixtures/keepalived/dumps) with its instances repeated 1, 10,
 * 100 and 1000 times under new names, and hostile text of the same sizes (one endless line, endless
 * "Key = value" lines, a VIP list without end). Printed: the median time of each and its cost per
 * input byte; a linear parser keeps the per-byte cost flat as the size grows.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseTextDump, TextDumpError } from '../src/keepalived/text-dump.js';
import { checkOptions, countOption, formatMs, percentile } from './support.js';

const RUNS = countOption('--runs', 5);
checkOptions();
const fixture = (file: string) => readFileSync(new URL(`../../test/fixtures/keepalived/dumps/2.2.8-json/${file}`, import.meta.url), 'utf8');

const data = fixture('keepalived.data');
const stats = fixture('keepalived.stats');
const topology = data.slice(data.indexOf('------< VRRP Topology >------'));
const instances = topology.slice(topology.indexOf('\n') + 1).split(/^(?=------<)/m)[0]!;

function scaled(times: number): [string, string] {
  const copies = Array.from({ length: times }, (_, i) => [instances.replaceAll('VI_', `VI_${i}_`), stats.replaceAll('VI_', `VI_${i}_`)]);
  return [`------< VRRP Topology >------\n${copies.map((c) => c[0]).join('')}`, copies.map((c) => c[1]).join('')];
}

function timed(input: [string, string | undefined]): number {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    try {
      parseTextDump(input[0], input[1]);
    } catch (err) {
      if (!(err instanceof TextDumpError)) throw err;
    }
    samples.push(performance.now() - started);
  }
  return percentile(samples, 50);
}

const cases: Array<[string, (times: number) => [string, string | undefined]]> = [
  ['real instances', scaled],
  ['one endless line', (t) => [`------< VRRP Topology >------\n VRRP Instance = X\n   ${' '.repeat(t * data.length)}`, undefined]],
  ['"K = v" lines', (t) => [`------< VRRP Topology >------\n VRRP Instance = X\n${'   K = = = v\n'.repeat((t * data.length) / 13)}`, undefined]],
  ['endless VIP list', (t) => [`------< VRRP Topology >------\n VRRP Instance = X\n   Virtual IP :\n${'     10.0.0.1/24 dev eth0\n'.repeat((t * data.length) / 25)}`, undefined]],
];

console.log(`parseTextDump, median of ${RUNS} runs`);
for (const [name, make] of cases) {
  for (const times of [1, 10, 100, 1000]) {
    const input = make(times);
    const bytes = input[0].length + (input[1]?.length ?? 0);
    const ms = timed(input);
    console.log(`${name.padEnd(18)} ${String(times).padStart(5)}x ${(bytes / 1e6).toFixed(2).padStart(7)} MB ${formatMs(ms).padStart(11)} ${((ms * 1e6) / bytes).toFixed(1).padStart(6)} ns/byte`);
  }
}
