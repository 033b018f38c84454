import fc from 'fast-check';
import { describe, it } from 'vitest';
import { PROPERTIES } from './properties.js';

/**
 * Every parser's property with the suite's fixed seed (test/support/seed.ts), so a failure here is
 * the same failure on every machine; bench/fuzz.ts runs the same properties with random seeds for
 * as long as asked.
 */

describe('parsers on generated input (fast-check, fixed seed)', () => {
  for (const property of PROPERTIES) {
    it(property.name, async () => {
      await fc.assert(
        fc.asyncProperty(property.arbitrary, async (input) => {
          await property.check(input);
        }),
        { numRuns: 300 },
      );
    });
  }
});
