import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { expect } from 'vitest';

/**
 * Compares `actual` with a checked-in golden file. A golden is reviewed and committed, never made by
 * the run that checks it: a missing one fails, and only a developer's `UPDATE_GOLDEN=1` writes one,
 * never under CI=true.
 */
export function expectGolden(file: string, actual: string, regenerate: string): void {
  const name = relative(process.cwd(), file);
  if (process.env.UPDATE_GOLDEN === '1') {
    if (process.env.CI === 'true') throw new Error(`UPDATE_GOLDEN=1 under CI=true would rewrite ${name}; goldens are regenerated on a developer machine and committed`);
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) throw new Error(`${name} is missing: regenerate it with \`UPDATE_GOLDEN=1 ${regenerate}\`, review it and commit it`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
