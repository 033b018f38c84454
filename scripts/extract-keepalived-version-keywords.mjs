#!/usr/bin/env node
// Builds src/keepalived/conf/version-keywords.generated.ts: for each keepalived release in the
// source directory (keepalived-X.Y.Z.tar.gz, as ../shared/keepalived holds them), the keywords its
// configuration parser registers, read from the C sources themselves: install_keyword_root() opens
// a top-level block, install_keyword() / install_keyword_quoted() / install_keyword_conditional()
// add a keyword to the block last opened in that file. A file that registers keywords without
// opening a block (the checkers in check/check_*.c, helpers shared by several blocks) has them
// counted for every block of its program part, so a keyword is never refused for being
// registered through a helper.
//
// The numeric range of a keyword comes from its handler (the function install_keyword() names):
// the one read_unsigned_strvec / read_int_strvec / read_double_strvec / read_decimal_unsigned_strvec call on its first
// value, with the bounds evaluated from the sources' own #defines; a handler that reads its first
// value in any other way, or bounds that are not plain arithmetic, give no range. A keyword whose
// handlers disagree within one block gives none either.
//
// `include` and its variants are read by the parser itself (lib/parser.c), not registered.
//
// Usage: node scripts/extract-keepalived-version-keywords.mjs [SOURCE_DIR] [OUT]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const SOURCE_DIR = process.argv[2] ?? new URL('../../shared/keepalived/', import.meta.url).pathname;
const OUT = process.argv[3] ?? new URL('../src/keepalived/conf/version-keywords.generated.ts', import.meta.url).pathname;

// install_http_ssl_check_keyword("HTTP_GET") and its kind register their argument as the checker's keyword.
const REGISTRATION = /\binstall_(?:keyword(_root|_quoted|_conditional)?|\w+_check_keyword)\s*\(\s*"([^"]+)"(?:\s*,\s*&?(\w+))?/g;

function cFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...cFiles(path));
    else if (name.endsWith('.c')) out.push(path);
  }
  return out.sort();
}

/** The part of keepalived a source file belongs to: its blocks share the helpers of that part. */
function partOf(file) {
  const [top, sub] = file.split('/');
  return top === 'keepalived' ? sub : top;
}

const LIMITS = { UINT_MAX: 4294967295, INT_MAX: 2147483647, INT_MIN: -2147483648, USHRT_MAX: 65535, UINT16_MAX: 65535, UINT8_MAX: 255, UINT32_MAX: 4294967295 };

/** `#define NAME expression` of every header and source file. */
function definesOf(files) {
  const defines = new Map(Object.entries(LIMITS).map(([k, v]) => [k, String(v)]));
  for (const path of files) {
    for (const m of readFileSync(path, 'utf8').matchAll(/^#define[ \t]+([A-Z_][A-Z0-9_]*)[ \t]+([^\n]*?)[ \t]*(?:\/\*.*)?$/gm)) {
      if (!defines.has(m[1])) defines.set(m[1], m[2]);
    }
  }
  return defines;
}

/** A C bound as a number: macros expanded, casts and suffixes dropped; undefined unless plain arithmetic. */
function evaluate(expression, defines, depth = 0) {
  if (depth > 8) return undefined;
  let text = expression
    .replace(/\((?:unsigned|int|long|uint32_t|uint64_t|double|float)(?: int| long)?\)/g, '')
    .replace(/(\d+(?:\.\d+)?)[FfUuLl]+\b/g, '$1');
  let unknown = false;
  text = text.replace(/[A-Za-z_]\w*/g, (word) => {
    const value = defines.get(word);
    const n = value === undefined ? undefined : evaluate(value, defines, depth + 1);
    if (n === undefined) unknown = true;
    return `(${n})`;
  });
  if (unknown) return undefined;
  if (!/^[\d\s.+\-*/()]+$/.test(text)) return undefined;
  const n = Function(`"use strict"; return (${text});`)();
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Splits a call's argument list at top-level commas. */
function argumentsOf(text) {
  const args = [];
  let depth = 0;
  let current = '';
  for (const c of text) {
    if (c === ',' && depth === 0) {
      args.push(current.trim());
      current = '';
      continue;
    }
    if (c === '(') depth++;
    if (c === ')') depth--;
    current += c;
  }
  args.push(current.trim());
  return args;
}

const READ_CALL = /\bread_(unsigned|int|decimal_unsigned|double)_strvec\s*\(((?:[^()]|\([^()]*\))*)\)/g;

/** handler name → [min, max] of its first value, in the unit the operator writes; null: no range. */
function rangesOf(text, defines) {
  const ranges = new Map();
  for (const m of text.matchAll(/^(\w+)\s*\((?:const\s+)?vector_t\s*\*\s*\w+\)\s*\{([\s\S]*?)^\}/gm)) {
    const [, handler, body] = m;
    ranges.set(handler, null);
    const calls = [...body.matchAll(READ_CALL)].map((c) => ({ kind: c[1], args: argumentsOf(c[2]) })).filter((c) => c.args[1] === '1');
    if (calls.length !== 1) continue;
    const { kind, args } = calls[0];
    const min = evaluate(args[3] ?? '', defines);
    const max = evaluate(args[4] ?? '', defines);
    // A decimal is read as an integer scaled by 10^digits: the bounds are in that unit.
    const digits = kind === 'decimal_unsigned' ? evaluate(args[5] ?? '', defines) : 0;
    if (min === undefined || max === undefined || digits === undefined) continue;
    ranges.set(handler, [min / 10 ** digits, max / 10 ** digits]);
  }
  return ranges;
}

function keywordsOf(tree) {
  const roots = new Set();
  /** block → keywords registered after it, in its files */
  const blocks = new Map();
  /** part → keywords registered outside any block of a file */
  const loose = new Map();
  /** part → blocks its files open */
  const partBlocks = new Map();
  /** "block/keyword" → ranges its handlers give */
  const found = new Map();
  const files = cFiles(tree);
  const headers = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.h')) headers.push(path);
    }
  };
  walk(tree);
  const defines = definesOf([...headers, ...files]);
  // Handlers are static functions: a name means the one in the registering file, or else the
  // only one of that name in the tree.
  const rangesByFile = new Map(files.map((path) => [path, rangesOf(readFileSync(path, 'utf8'), defines)]));
  const definitions = new Map();
  for (const ranges of rangesByFile.values()) for (const [h, r] of ranges) definitions.set(h, definitions.has(h) ? null : r);
  // null entries are handlers without a range; they stay null through the lookups below.
  for (const path of files) {
    const file = relative(tree, path);
    const part = partOf(file);
    // Comments out: the sources quote keywords in comments too.
    const text = readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    let block;
    for (const m of text.matchAll(REGISTRATION)) {
      const [, kind, keyword, handler] = m;
      const local = rangesByFile.get(path);
      const range = handler === undefined ? undefined : ((local.has(handler) ? local.get(handler) : definitions.get(handler)) ?? undefined);
      if (range && block && kind !== '_root') {
        const key = `${block}/${keyword}`;
        if (!found.has(key)) found.set(key, []);
        found.get(key).push(range);
      }
      if (kind === '_root') {
        block = keyword;
        roots.add(keyword);
        if (!blocks.has(block)) blocks.set(block, new Set());
        if (!partBlocks.has(part)) partBlocks.set(part, new Set());
        partBlocks.get(part).add(block);
      } else if (block) blocks.get(block).add(keyword);
      else {
        if (!loose.has(part)) loose.set(part, new Set());
        loose.get(part).add(keyword);
      }
    }
  }
  for (const [part, words] of loose) {
    for (const block of partBlocks.get(part) ?? []) for (const w of words) blocks.get(block).add(w);
  }
  // Keywords registered outside any block in a part that opens none (lib/, trackers/ helpers).
  const anywhere = new Set();
  for (const [part, words] of loose) if (!partBlocks.has(part)) for (const w of words) anywhere.add(w);
  const ranges = {};
  for (const [key, list] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
    if (list.every((r) => r[0] === list[0][0] && r[1] === list[0][1])) ranges[key] = list[0];
  }
  return {
    roots: [...roots].sort(),
    ranges,
    blocks: Object.fromEntries([...blocks].sort(([a], [b]) => a.localeCompare(b)).map(([b, s]) => [b, [...s].sort()])),
    anywhere: [...anywhere].sort(),
  };
}

const tarballs = readdirSync(SOURCE_DIR)
  .map((name) => /^keepalived-(\d+\.\d+\.\d+)\.tar\.gz$/.exec(name))
  .filter(Boolean)
  .sort((a, b) => a[1].localeCompare(b[1], undefined, { numeric: true }));
if (tarballs.length === 0) throw new Error(`${SOURCE_DIR}: no keepalived-X.Y.Z.tar.gz`);

const work = mkdtempSync(join(tmpdir(), 'ka-version-keywords-'));
const result = {};
try {
  for (const [name, version] of tarballs) {
    execFileSync('tar', ['-xzf', join(SOURCE_DIR, name), '-C', work]);
    result[version] = keywordsOf(join(work, `keepalived-${version}`));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

writeFileSync(
  OUT,
  `// Generated by scripts/extract-keepalived-version-keywords.mjs from the sources of each keepalived
// release (${tarballs.map((t) => t[1]).join(', ')}): the keywords each one's parser registers
// (install_keyword_root and install_keyword calls). Do not edit: rerun the script.

export interface VersionKeywords {
  /** Top-level blocks and keywords (install_keyword_root). */
  roots: readonly string[];
  /** Per top-level block, every keyword registered inside it, at any depth. */
  blocks: Readonly<Record<string, readonly string[]>>;
  /** Keywords registered by shared helpers, outside any block: accepted in every block. */
  anywhere: readonly string[];
  /** "block/keyword" → the range keepalived accepts for its first value, in the unit written. */
  ranges: Readonly<Record<string, readonly [number, number]>>;
}

export const VERSION_KEYWORDS: Readonly<Record<string, VersionKeywords>> = ${JSON.stringify(result, null, 0)};
`,
);
process.stdout.write(
  `${Object.entries(result)
    .map(([v, k]) => `${v}: ${k.roots.length} blocks, ${Object.values(k.blocks).reduce((n, b) => n + b.length, 0)} keywords, ${Object.keys(k.ranges).length} ranges`)
    .join('\n')}\n`,
);
