import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { http } from '../../src/core/http.js';

const SRC = join(import.meta.dirname, '../../src');
/** Commands that run outside the daemon: they may use fetch and friends. */
const OUTSIDE_THE_DAEMON = ['lab', 'lint', 'doctor', 'dashboards', 'cli'];

function daemonSources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return relative(SRC, path).split('/').length === 1 && OUTSIDE_THE_DAEMON.includes(entry.name) ? [] : daemonSources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The code of a TypeScript file without its comments and string contents (good enough for these names). */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");
}

describe('node:http without loading undici', () => {
  it('is the node:http module itself', () => {
    const required = createRequire(import.meta.url)('node:http') as typeof http;
    expect(http.createServer).toBe(required.createServer);
    expect(http.request).toBe(required.request);
  });

  // On Node 22 and later, an ES import of node:http or a read of these globals loads Node's fetch
  // (undici) for good: several MB of the idle daemon's RSS (bench/memory.ts).
  it('is the only way the daemon takes values from node:http, and no daemon module reads the fetch globals', () => {
    const offenders: string[] = [];
    for (const file of daemonSources()) {
      const text = readFileSync(file, 'utf8');
      const name = relative(SRC, file);
      for (const m of text.matchAll(/^import\s+(?!type\b)([^;]*?)\s+from\s+'node:http'/gm)) {
        const valueNames = m[1]!.replace(/[{}]/g, '').split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('type '));
        if (valueNames.length) offenders.push(`${name}: imports ${valueNames.join(', ')} from node:http (use core/http.ts)`);
      }
      for (const m of code(text).matchAll(/(?<![\w.$'"])(fetch|Headers|Request|Response|FormData|WebSocket|EventSource|MessageEvent|CloseEvent)\b(?!\s*:)/g)) {
        const line = code(text).slice(0, m.index).split('\n').length;
        const before = code(text).slice(Math.max(0, m.index! - 40), m.index);
        // Type positions (`headers is Headers`, `: Headers`, `| Headers`) load nothing.
        if (/(?:\bis|:|\||<|\bimport type\b[^;]*|\btype)\s*$/.test(before)) continue;
        offenders.push(`${name}:${line}: reads the global ${m[1]}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
