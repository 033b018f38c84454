#!/usr/bin/env node
// Builds src/keepalived/conf/keywords.generated.ts: every configuration keyword of the installed
// keepalived, per section, taken from its keepalived.conf(5) syntax blocks and then confirmed by
// keepalived itself — each candidate is fed to `keepalived -t` inside its section, and only those
// keepalived does not call "Unknown keyword" are kept. A section where an invented keyword draws
// no complaint holds free-form entries (addresses, interface names, …) and is marked as a list.
//
// Run as root on a machine with keepalived (Debian's): node scripts/extract-keepalived-keywords.mjs [OUT]
// keepalived -t needs the interfaces it is told about, so it runs in a private network namespace.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OUT = process.argv[2] ?? new URL('../src/keepalived/conf/keywords.generated.ts', import.meta.url);
const SENTINEL = 'kawatch_no_such_keyword';

// Arguments a section header needs for keepalived to open it.
const HEADER_ARGS = {
  vrrp_instance: 'VI_X',
  vrrp_script: 'chk_x',
  vrrp_sync_group: 'G_X',
  virtual_server_group: 'VSG_X',
  virtual_server: '10.0.0.1 80',
  real_server: '10.0.0.2 80',
  track_file: 'tf_x',
  vrrp_track_process: 'tp_x',
  bfd_instance: 'bfd_x',
  track_group: 'tg_x',
};
const CHECKERS = ['HTTP_GET', 'SSL_GET', 'TCP_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'MISC_CHECK', 'BFD_CHECK', 'PING_CHECK', 'UDP_CHECK', 'FILE_CHECK'];

function manText() {
  return execFileSync('sh', ['-c', 'MANWIDTH=400 man -P cat keepalived.conf | col -bx'], { encoding: 'utf8', maxBuffer: 1 << 24 });
}

/** section path ("virtual_server/real_server/TCP_CHECK") → candidate keywords, from the man page. */
function candidatesFromMan(text) {
  const sections = new Map();
  const add = (path, keyword, args = '') => {
    if (!sections.has(path)) sections.set(path, new Map());
    // The page's own arguments go along: keepalived stops at a keyword missing its parameter.
    if (keyword && !sections.get(path).has(keyword)) sections.get(path).set(keyword, args);
  };
  const stack = [];
  let continued = false;
  for (const raw of text.split('\n')) {
    if (/^ADVANCED CONFIGURATION/.test(raw)) break; // examples of the template syntax follow
    const line = raw.replace(/#.*/, '').trim();
    const wasContinued = continued;
    continued = line.endsWith('\\');
    if (wasContinued || line === '') continue;
    if (line === '}') {
      stack.pop();
      continue;
    }
    const header = /^([A-Za-z][\w|-]*)\b[^{}]*\{$/.exec(line);
    if (header) {
      const names = header[1].split('|').flatMap((n) => (n === 'CHECKER_TYPE' ? CHECKERS : [n]));
      const parents = stack.length ? stack[stack.length - 1] : [''];
      for (const p of parents) for (const n of names) add(p, n);
      const paths = parents.flatMap((p) => names.map((n) => (p ? `${p}/${n}` : n)));
      for (const p of paths) add(p);
      stack.push(paths);
      continue;
    }
    // Outside any block the page mixes top-level keywords with prose: keepalived sorts them out.
    const word = /^([A-Za-z][\w-]*)(\s|$)/.exec(line);
    if (word && word[1] !== 'or') for (const p of stack.length ? stack[stack.length - 1] : ['']) add(p, word[1], line.slice(word[1].length).trim());
  }
  return sections;
}

function headerLine(name) {
  return HEADER_ARGS[name] ? `${name} ${HEADER_ARGS[name]} {` : `${name} {`;
}

/** Which of `keywords` keepalived rejects as unknown inside `path`; lines map back to keywords. */
function unknownIn(dir, path, keywords, blockKeywords) {
  const parts = path ? path.split('/') : [];
  const lines = parts.map(headerLine);
  const at = new Map();
  // Sub-blocks are the page's own structure and are not fed back: keepalived 2.2.7 crashes on
  // some empty checker blocks.
  for (const [k, args] of [...keywords.filter(([k]) => !blockKeywords.has(k)), [SENTINEL, '']]) {
    at.set(lines.length + 1, k);
    // `{0..255}`-style ranges in the page's arguments would open blocks: pass a plain value.
    lines.push(`${k} ${args.replace(/\{[^}]*\}/g, '1')}`);
  }
  for (let i = 0; i < parts.length; i++) lines.push('}');
  const file = join(dir, `${path.replaceAll('/', '_') || 'root'}.conf`);
  writeFileSync(file, lines.join('\n') + '\n');
  const run = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link add eth0 type veth peer name eth1; exec keepalived -t -f "$1"', 'sh', file], {
    encoding: 'utf8',
  });
  const unknown = new Set();
  const output = `${run.stdout}${run.stderr}`;
  for (const m of output.matchAll(/Line (\d+)\) Unknown keyword '([^']*)'/g)) {
    if (at.get(Number(m[1])) === m[2]) unknown.add(m[2]);
  }
  return { unknown, output };
}

const sections = candidatesFromMan(manText());
const blockKeywords = new Set([...sections.keys()].map((p) => p.split('/').pop()));
const dir = mkdtempSync(join(tmpdir(), 'ka-keywords-'));
const result = {};
try {
  for (const [path, candidates] of [...sections.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const list = !unknownIn(dir, path, [], blockKeywords).unknown.has(SENTINEL);
    const { unknown, output } = unknownIn(dir, path, list ? [] : [...candidates], blockKeywords);
    if (!list && !unknown.has(SENTINEL)) {
      // keepalived gave up before the end of the section: its verdicts are incomplete.
      process.stderr.write(`${path}: keepalived stopped early:\n${output}\n`);
      process.exitCode = 1;
    }
    result[path] = list ? { list: true, keywords: [] } : { keywords: [...candidates.keys()].filter((k) => !unknown.has(k)).sort() };
  }
} finally {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
}
const version = spawnSync('keepalived', ['--version'], { encoding: 'utf8' }).stderr.split('\n')[0];

writeFileSync(
  OUT,
  `// Generated by scripts/extract-keepalived-keywords.mjs from keepalived.conf(5) of ${version},
// each keyword confirmed by \`keepalived -t\`. Do not edit: rerun the script.
// A section marked list holds free-form entries (addresses, names), not keywords.

export interface GeneratedSection {
  list?: true;
  keywords: readonly string[];
}

export const GENERATED_SECTIONS: Readonly<Record<string, GeneratedSection>> = {
${Object.entries(result)
  .map(([path, section]) => `  ${JSON.stringify(path)}: ${JSON.stringify(section)},`)
  .join('\n')}
};
`,
);
process.stdout.write(`${Object.keys(result).length} sections, ${Object.values(result).reduce((n, s) => n + s.keywords.length, 0)} keywords\n`);
