#!/usr/bin/env node
// Extracts the keepalived.conf files quoted in the operators' documents (test/fixtures/seeds/*.txt)
// into test/fixtures/keepalived-conf/seeds/, typos and all. Which lines hold which director's
// file is listed below by hand (the documents are prose around the configs). Configs that a web
// page flattened onto one line are reflowed: a line break before each keyword-looking word, after
// each `{`, around each `}`; a `#`/`!` comment ends where the next keyword-looking word starts.
// Nothing is corrected. Usage: node scripts/extract-seed-configs.mjs [SEEDS_DIR [OUT_DIR]]
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SEEDS = process.argv[2] ?? new URL('../test/fixtures/seeds/', import.meta.url).pathname;
const OUT = process.argv[3] ?? new URL('../test/fixtures/keepalived-conf/seeds/', import.meta.url).pathname;

/** [seed file prefix, line ranges (1-based, inclusive), fixture name, reflow]. */
const EXTRACTS = [
  ['000_', [[7, 25], [27, 45]], 'multi-master-lb1.conf', false],
  ['000_', [[47, 65], [67, 85]], 'multi-master-lb2.conf', false],
  ['000_', [[92, 111]], 'virtual-server-template.conf', false],
  ['000_', [[113, 140]], 'lvs-dr-example.conf', false],
  ['002_', [[17, 17]], 'lvs-dr-master.conf', true],
  ['002_', [[19, 19]], 'lvs-dr-backup.conf', true],
  ['003_', [[22, 38]], 'annotated-master.conf', false],
  ['004_', [[27, 27]], 'web-db-lb.conf', true],
];

const KEYWORD_WORDS = new Set(['state', 'interface', 'priority', 'weight', 'protocol', 'nopreempt', 'preempt', 'path', 'script', 'interval', 'fall', 'rise', 'timeout', 'user', 'notify', 'group', 'url', 'digest', 'authentication', 'SSL']);
const looksLikeKeyword = (w) => KEYWORD_WORDS.has(w) || /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/.test(w) || /^[A-Z]+_(CHECK|GET)$/.test(w);

function reflow(line) {
  const words = line.match(/"[^"]*"|\S+/g) ?? [];
  const out = [];
  let current = [];
  let inComment = false;
  const flush = () => {
    if (current.length) out.push(current.join(' '));
    current = [];
  };
  for (const w of words) {
    if (inComment && !looksLikeKeyword(w) && w !== '}') {
      current.push(w);
      continue;
    }
    if (inComment) flush();
    inComment = false;
    if (w.startsWith('#') || w.startsWith('!')) {
      flush();
      inComment = true;
      current.push(w);
    } else if (w === '}') {
      flush();
      out.push('}');
    } else if (w === '{') {
      current.push(w);
      flush();
    } else {
      if (looksLikeKeyword(w)) flush();
      current.push(w);
    }
  }
  flush();
  return out;
}

mkdirSync(OUT, { recursive: true });
const files = readdirSync(SEEDS);
for (const [prefix, ranges, name, flattened] of EXTRACTS) {
  const seed = files.find((f) => f.startsWith(prefix));
  if (!seed) throw new Error(`no seed ${prefix}* in ${SEEDS}`);
  const all = readFileSync(join(SEEDS, seed), 'utf8').split('\n');
  const lines = ranges.flatMap(([from, to]) => all.slice(from - 1, to));
  const body = flattened ? lines.flatMap(reflow) : lines;
  const where = ranges.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(', ');
  const header = `! ${name}: seeds/${seed} lines ${where}${flattened ? ' (one line on the page, reflowed)' : ''}`;
  writeFileSync(join(OUT, name), `${[header, ...body].join('\n')}\n`);
  process.stdout.write(`${name}: ${body.length} lines\n`);
}
