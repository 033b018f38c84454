import { readdirSync, readFileSync } from 'node:fs';
import type { Runner } from '../../src/keepalived/capabilities.js';

const versionsDir = new URL('../fixtures/keepalived/versions/', import.meta.url);

/** The flavours of the matrix whose answers were captured (scripts/capture-keepalived-versions.sh). */
export const capturedFlavours = readdirSync(versionsDir).sort();

/**
 * Plays back what a keepalived of the matrix printed, file by file, so detectCapabilities reads
 * exactly what the real binary said.
 */
export function replay(flavour: string): Runner {
  return async (_file, args) => {
    const name = args[0] === '-v' ? 'v' : `signum-${args[0]!.slice('--signum='.length)}`;
    const read = (stream: string) => readFileSync(new URL(`${flavour}/${name}.${stream}`, versionsDir), 'utf8');
    return { stdout: read('stdout'), stderr: read('stderr') };
  };
}
