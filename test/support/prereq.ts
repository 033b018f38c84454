import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

/** Why the machine cannot run a test that needs real parts, or undefined when it can. */
export function missing(needs: { root?: boolean; commands?: string[]; files?: string[] }): string | undefined {
  if (needs.root && process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const file of needs.files ?? []) if (!existsSync(file)) return `needs ${file} (run npm run build)`;
  for (const cmd of needs.commands ?? []) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
    } catch {
      return `needs ${cmd} (see README: npm test installs it)`;
    }
  }
  return undefined;
}

/**
 * A suite that needs real parts: skipped with its reason on a developer machine that lacks
 * them, but failing under CI=true, where a skip would hide a broken install step.
 */
export function describeWithPrereqs(name: string, needs: Parameters<typeof missing>[0], body: () => void): void {
  const reason = missing(needs);
  if (reason && process.env.CI === 'true') {
    describe(name, () => {
      it('has its prerequisites', () => {
        throw new Error(`missing prerequisite under CI: ${reason}`);
      });
    });
    return;
  }
  describe.skipIf(reason !== undefined)(reason ? `${name} (skipped: ${reason})` : name, body);
}
