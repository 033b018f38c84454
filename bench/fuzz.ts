/**
 * The parsers' properties (test/fuzz/properties.ts) run with random seeds, for a while.
 *
 *   npm run build && node dist/bench/fuzz.js [--minutes N] [--only NAME]
 *
 * The time is shared equally among the parsers. Printed per parser: inputs checked, inputs per
 * second, and its growth: the time of its hostile input of size 8n over the time of size n
 * (about 8 for a linear parser; a backtracking one shows 64, 512, …). Any input that breaks a
 * property is printed with the seed and path that reproduce it:
 *   fc.assert(property, { seed: SEED, path: 'PATH' })   (see test/fuzz/parsers.test.ts).
 * Exit 1 when a property failed or a growth passed GROWTH_LIMIT.
 */
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import { PROPERTIES, type ParserProperty } from '../test/fuzz/properties.js';
import { checkOptions, option } from './support.js';

const MINUTES = Number(option('--minutes', '1'));
const ONLY = option('--only', '');
checkOptions();
/** 8× the input may cost 8× the time; 32× leaves room for caches and the collector. */
const GROWTH_LIMIT = 32;
const GROWTH_BASE = 4_000;
const BATCH = 50;

/** Time per run of `check` on the hostile input of size n, over enough runs to rise above the timer's grain. */
async function timeOf(property: ParserProperty<unknown>, n: number): Promise<number> {
  const input = property.grow(n);
  let runs = 0;
  const start = performance.now();
  while (runs < 3 || performance.now() - start < 200) {
    try {
      await property.check(input);
    } catch {
      // The growth is measured whatever the verdict: a property failure shows in the fuzzing.
    }
    runs++;
  }
  return (performance.now() - start) / runs;
}

interface Outcome {
  name: string;
  inputs: number;
  perSecond: number;
  growth: number;
  failures: string[];
}

async function fuzz(property: ParserProperty<unknown>, budgetMs: number): Promise<Outcome> {
  const failures: string[] = [];
  let inputs = 0;
  const start = performance.now();
  while (performance.now() - start < budgetMs && failures.length < 3) {
    const seed = (Math.random() * 2 ** 31) | 0;
    const details = await fc.check(
      fc.asyncProperty(property.arbitrary, async (input) => {
        await property.check(input);
      }),
      { seed, numRuns: BATCH },
    );
    inputs += details.numRuns;
    if (details.failed) {
      failures.push(`seed ${seed} path '${details.counterexamplePath}': ${fc.stringify(details.counterexample)}\n      ${String((details.errorInstance as Error | undefined)?.message ?? details.errorInstance)}`);
    }
  }
  const elapsed = (performance.now() - start) / 1000;
  const small = await timeOf(property, GROWTH_BASE);
  const large = await timeOf(property, GROWTH_BASE * 8);
  return { name: property.name, inputs, perSecond: inputs / elapsed, growth: large / Math.max(small, 0.001), failures };
}

const chosen = PROPERTIES.filter((p) => ONLY === '' || p.name.includes(ONLY));
const budgetMs = (MINUTES * 60_000) / Math.max(chosen.length, 1);
let bad = false;
console.log(`fuzzing ${chosen.length} parser(s) for ${MINUTES} min, random seeds; growth = time(8n) / time(n), n = ${GROWTH_BASE}`);
for (const property of chosen) {
  const outcome = await fuzz(property, budgetMs);
  const verdict = outcome.failures.length > 0 ? 'FAILED' : outcome.growth > GROWTH_LIMIT ? 'SUPERLINEAR' : 'ok';
  if (verdict !== 'ok') bad = true;
  console.log(`${outcome.name.padEnd(34)} ${String(outcome.inputs).padStart(8)} inputs  ${outcome.perSecond.toFixed(0).padStart(7)}/s  growth ×${outcome.growth.toFixed(1).padStart(5)}  ${verdict}`);
  for (const failure of outcome.failures) console.log(`    ${failure}`);
}
process.exitCode = bad ? 1 : 0;
