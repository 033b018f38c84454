import fc from 'fast-check';

/**
 * Every run of the suite draws the same inputs for its properties, so that it passes or fails on
 * the code alone. KAWATCH_FC_SEED=random (or another number) draws others; `node dist/bench/fuzz.js`
 * runs the parsers' properties over random seeds for longer. A failure prints its seed and path.
 */
const FIXED_SEED = 20261201;
const chosen = process.env.KAWATCH_FC_SEED;
if (chosen !== undefined && chosen !== 'random' && !/^-?\d{1,10}$/.test(chosen)) {
  throw new Error(`KAWATCH_FC_SEED: expected "random" or an integer, got ${JSON.stringify(chosen)}`);
}
if (chosen !== 'random') fc.configureGlobal({ seed: chosen === undefined ? FIXED_SEED : Number(chosen) });
