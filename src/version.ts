import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function readPackage(dir: string): { name?: string; version?: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
  } catch {
    return undefined;
  }
}

/** The kawatch package directory, found by walking up from this file (works from src/ and from dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (readPackage(dir)?.name !== 'kawatch') {
    if (dirname(dir) === dir) throw new Error('cannot find the kawatch package directory');
    dir = dirname(dir);
  }
  return dir;
}

export const VERSION = readPackage(packageRoot())?.version ?? '0.0.0-unknown';
