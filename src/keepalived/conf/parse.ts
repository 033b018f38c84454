import { readFile, readdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ConfNode, ConfProblem, ParsedConf } from './ast.js';

/**
 * keepalived.conf read the way keepalived 2.2.7 reads it (lib/parser.c, keepalived.conf(5)):
 *
 * - `!` and `#` start a comment anywhere outside double quotes, even glued to a word;
 * - `{` and `}` are words of their own wherever they appear outside quotes, so
 *   `global_defs{`, `auth_pass 1111}` and `} vrrp_instance X {` all work, and a `{` alone on
 *   the next line opens the block of the keyword before it;
 * - double quotes group words and are removed;
 * - `include` (and includer/includem/includew/includeb/includea) takes a glob; a relative
 *   pattern is relative to the directory of the file holding the include;
 * - `@ID line` / `@^ID line` keep the line only when the config-id is (is not) ID;
 * - `$NAME=value` defines a parameter, `$NAME`/`${NAME}` use it; `$NAME= \` starts a multiline
 *   definition continued by trailing backslashes — the only place keepalived 2.2.7 honours `\`;
 * - `~SEQ(var, start, step, end) line` repeats the line.
 */

/** Where included files come from: the real file system, or a map in tests. */
export interface ConfSource {
  read(path: string): Promise<string>;
  /** Absolute paths matching an absolute glob pattern, sorted; [] when none. */
  glob(pattern: string): Promise<string[]>;
}

export interface ParseOptions {
  /**
   * keepalived's config-id (its `-i` option, by default the short host name). Undefined keeps
   * every `@`-conditional line, marked with its condition, so one file can be linted for all
   * the directors it serves.
   */
  configId?: string;
  source?: ConfSource;
}

/** A line as keepalived sees it after comments, conditions and parameters: words and braces. */
interface LogicalLine {
  words: string[];
  file: string;
  line: number;
  condition?: string;
}

const INCLUDE_KEYWORDS = new Set(['include', 'includer', 'includem', 'includew', 'includeb', 'includea']);
const MAX_INCLUDE_DEPTH = 16;
const MAX_SEQ_LINES = 10_000;

/** Splits one raw line into words; quotes removed, comment cut, braces separate words. */
export function splitWords(raw: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const n = raw.length;
  while (i < n) {
    const c = raw.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const close = raw.indexOf('"', i + 1);
      const end = close < 0 ? n : close;
      word += raw.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === 0x21 /* ! */ || c === 0x23 /* # */) {
      break;
    } else if (c === 0x7b /* { */ || c === 0x7d /* } */ || c <= 0x20) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      if (c > 0x20) words.push(c === 0x7b ? '{' : '}');
      i++;
    } else {
      let j = i + 1;
      while (j < n) {
        const d = raw.charCodeAt(j);
        if (d <= 0x20 || d === 0x22 || d === 0x21 || d === 0x23 || d === 0x7b || d === 0x7d) break;
        j++;
      }
      word += raw.slice(i, j);
      inWord = true;
      i = j;
    }
  }
  if (inWord) words.push(word);
  return words;
}

interface SeqSpec {
  variable: string;
  values: string[];
  rest: string;
}

function parseSeq(text: string): SeqSpec | string {
  const m = /^~SEQ(x?)\(([^)]*)\)\s*(.*)$/.exec(text);
  if (!m) return 'Invalid ~SEQ definition';
  const [, hex, inner, rest] = m as unknown as [string, string, string, string];
  const parts = inner.split(',').map((p) => p.trim());
  const variable = parts[0] ?? '';
  const nums = parts.slice(1).map(Number);
  if (!/^\w+$/.test(variable) || nums.length < 1 || nums.length > 3 || nums.some((n) => !Number.isInteger(n))) {
    return 'Invalid ~SEQ values';
  }
  const end = nums[nums.length - 1] as number;
  const start = nums.length >= 2 ? (nums[0] as number) : end < 0 ? -1 : 1;
  const step = nums.length === 3 ? (nums[1] as number) : end >= start ? 1 : -1;
  if (step === 0 || (step > 0 && start > end) || (step < 0 && start < end)) return 'Invalid ~SEQ values';
  const values: string[] = [];
  for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
    if (values.length >= MAX_SEQ_LINES) break;
    values.push(hex ? v.toString(16) : String(v));
  }
  return { variable, values, rest };
}

/**
 * The line-level state keepalived keeps while reading: parameter definitions (shared across
 * included files, in reading order) and an unfinished multiline definition.
 */
class LineReader {
  private readonly defs = new Map<string, string>();
  private multiline?: { name: string; lines: string[] };

  constructor(
    private readonly configId: string | undefined,
    private readonly problems: ConfProblem[],
  ) {}

  /** Feeds one physical line; returns the logical lines it yields (none, one, or many). */
  feed(raw: string, file: string, line: number): LogicalLine[] {
    if (this.multiline) {
      const trimmed = raw.trim();
      const more = trimmed.endsWith('\\');
      this.multiline.lines.push(more ? trimmed.slice(0, -1) : trimmed);
      if (!more) {
        this.defs.set(this.multiline.name, this.multiline.lines.join('\n'));
        this.multiline = undefined;
      }
      return [];
    }
    let text = raw.trim();
    let condition: string | undefined;
    const cond = /^@(\^?)(\S*)\s*(.*)$/.exec(text);
    if (cond) {
      const [, negate, id, rest] = cond as unknown as [string, string, string, string];
      condition = `@${negate}${id}`;
      if (this.configId !== undefined) {
        if ((id === this.configId) === (negate === '^')) return [];
        condition = undefined;
      }
      text = rest;
    }
    const def = /^\$(\w+)=(.*)$/.exec(text);
    if (def) {
      const [, name, value] = def as unknown as [string, string, string];
      const v = value.trim();
      // A conditional definition only counts for the director it names; with no config-id
      // the first definition wins, which is enough to lint the lines that use it.
      if (v === '\\') this.multiline = { name, lines: [] };
      else if (condition === undefined || !this.defs.has(name)) this.defs.set(name, v);
      return [];
    }
    if (text.startsWith('~SEQ')) {
      const seq = parseSeq(text);
      if (typeof seq === 'string') {
        this.problems.push({ file, line, message: `${seq} '${text}'`, fix: 'write ~SEQ(var, start, step, end) followed by the line to repeat' });
        return [];
      }
      const out: LogicalLine[] = [];
      for (const value of seq.values) {
        this.defs.set(seq.variable, value);
        out.push(...this.expand(seq.rest, file, line, condition));
      }
      return out;
    }
    return this.expand(text, file, line, condition);
  }

  private expand(text: string, file: string, line: number, condition: string | undefined): LogicalLine[] {
    const substituted = this.substitute(text);
    const out: LogicalLine[] = [];
    for (const piece of substituted.split('\n')) {
      // An include's glob may hold csh braces ({a,b}): it is taken whole, not split into words.
      const include = /^(include[rmwba]?)\s+([^\s"#!]+)/.exec(piece.trim());
      const words = include ? [include[1] as string, include[2] as string] : splitWords(piece);
      if (words.length === 0) continue;
      out.push(condition === undefined ? { words, file, line } : { words, file, line, condition });
    }
    return out;
  }

  private substitute(text: string): string {
    if (!text.includes('$')) return text;
    // A bare name runs to the end of the word characters: $VAR_kw is not $VAR then _kw.
    return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
      if (braced !== undefined) return this.defs.get(braced) ?? whole;
      const name = bare as string;
      if (this.defs.has(name)) return this.defs.get(name) as string;
      return whole;
    });
  }

  finish(file: string, line: number): void {
    if (this.multiline) {
      this.problems.push({ file, line, message: `multiline definition $${this.multiline.name} is not finished at end of file`, fix: 'end its last line without a trailing \\' });
      this.multiline = undefined;
    }
  }
}

/** Builds the block tree from logical lines, the way keepalived pairs keywords and braces. */
function buildTree(lines: LogicalLine[], problems: ConfProblem[]): ConfNode[] {
  const root: ConfNode[] = [];
  const stack: { node: ConfNode | undefined; children: ConfNode[] }[] = [{ node: undefined, children: root }];
  const top = () => stack[stack.length - 1] as { node: ConfNode | undefined; children: ConfNode[] };
  /** The statement just finished at the end of the previous line, which a lone `{` may open. */
  let lastEnded: ConfNode | undefined;

  for (const l of lines) {
    let i = 0;
    const words = l.words;
    while (i < words.length) {
      const w = words[i] as string;
      if (w === '}') {
        if (stack.length === 1) {
          problems.push({ file: l.file, line: l.line, message: "Extra '}' found", fix: 'remove it, or open the block it closes' });
        } else {
          stack.pop();
        }
        lastEnded = undefined;
        i++;
        continue;
      }
      if (w === '{') {
        if (i === 0 && lastEnded && lastEnded.children === undefined) {
          lastEnded.children = [];
          stack.push({ node: lastEnded, children: lastEnded.children });
        } else {
          problems.push({ file: l.file, line: l.line, message: "Unexpected '{'", fix: 'put a keyword before the {' });
          // keepalived skips to the matching brace: keep the structure balanced likewise.
          const orphan: ConfNode = { keyword: '{', args: [], children: [], file: l.file, line: l.line };
          stack.push({ node: orphan, children: orphan.children as ConfNode[] });
        }
        lastEnded = undefined;
        i++;
        continue;
      }
      let j = i + 1;
      while (j < words.length && words[j] !== '{' && words[j] !== '}') j++;
      const node: ConfNode = { keyword: w, args: words.slice(i + 1, j), file: l.file, line: l.line };
      if (l.condition !== undefined) node.condition = l.condition;
      top().children.push(node);
      if (words[j] === '{') {
        node.children = [];
        stack.push({ node, children: node.children });
        j++;
        lastEnded = undefined;
      } else {
        lastEnded = j >= words.length ? node : undefined;
      }
      i = j;
    }
  }
  for (const open of stack.slice(1)) {
    const node = open.node as ConfNode;
    problems.push({
      file: node.file,
      line: node.line,
      message: `'${node.keyword}' block opened here is never closed ('}' missing)`,
      fix: "add the missing '}'",
    });
  }
  return root;
}

/** Parses one text with no include resolution: `include` lines stay as nodes. Pure. */
export function parseText(text: string, file: string, options: Pick<ParseOptions, 'configId'> = {}): ParsedConf {
  const problems: ConfProblem[] = [];
  const reader = new LineReader(options.configId, problems);
  const lines: LogicalLine[] = [];
  const raw = text.split(/\r?\n/);
  raw.forEach((r, index) => lines.push(...reader.feed(r, file, index + 1)));
  reader.finish(file, raw.length);
  return { nodes: buildTree(lines, problems), files: [file], problems };
}

/** Brace expansion as glob(3) with GLOB_BRACE does it: "{a,b}c" → ["ac", "bc"]. */
export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf('{');
  if (open < 0) return [pattern];
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      close = i;
      break;
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  if (close < 0) return [pattern];
  const head = pattern.slice(0, open);
  const tail = pattern.slice(close + 1);
  const bounds = [open, ...commas, close];
  const out: string[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const alt = pattern.slice((bounds[k] as number) + 1, bounds[k + 1]);
    for (const expanded of expandBraces(head + alt + tail)) out.push(expanded);
  }
  return out;
}

function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = segment.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^$()|\\{}]/g, '\\$&');
  }
  // Like glob(3): a leading dot is only matched by a pattern that starts with one.
  return new RegExp(`^${segment.startsWith('.') ? '' : '(?!\\.)'}${re}$`);
}

/** The file system edge: real reads and a small glob(3) (`*`, `?`, `[…]`, `{a,b}`). */
export const fileSystemSource: ConfSource = {
  read: (path) => readFile(path, 'utf8'),
  async glob(pattern) {
    const results = new Set<string>();
    for (const alternative of expandBraces(pattern)) {
      let paths = ['/'];
      for (const segment of alternative.split('/').filter((s) => s !== '')) {
        const next: string[] = [];
        if (!/[*?[]/.test(segment)) {
          for (const p of paths) next.push(join(p, segment));
        } else {
          const re = segmentRegExp(segment);
          for (const p of paths) {
            const entries = await readdir(p).catch(() => [] as string[]);
            for (const e of entries) if (re.test(e)) next.push(join(p, e));
          }
        }
        paths = next;
      }
      for (const p of paths) results.add(p);
    }
    return [...results].sort();
  },
};

/**
 * Reads a keepalived.conf with its includes spliced in, as keepalived would. Unreadable files
 * become problems, never exceptions — except the entry file itself, whose error is thrown so
 * the caller can tell "cannot read" from "read and found wanting".
 */
export async function parseKeepalivedConf(path: string, options: ParseOptions = {}): Promise<ParsedConf> {
  const source = options.source ?? fileSystemSource;
  const entry = resolve(path);
  const problems: ConfProblem[] = [];
  const files: string[] = [];
  const reader = new LineReader(options.configId, problems);
  const lines: LogicalLine[] = [];
  const shown = (p: string) => (p === entry ? path : p);

  const readInto = async (file: string, text: string, chain: string[]): Promise<void> => {
    files.push(shown(file));
    const raw = text.split(/\r?\n/);
    for (let index = 0; index < raw.length; index++) {
      for (const logical of reader.feed(raw[index] as string, shown(file), index + 1)) {
        const keyword = logical.words[0] as string;
        if (!INCLUDE_KEYWORDS.has(keyword)) {
          lines.push(logical);
          continue;
        }
        await include(logical, keyword, dirname(file), [...chain, file]);
      }
    }
    reader.finish(shown(file), raw.length);
  };

  const include = async (at: LogicalLine, keyword: string, dir: string, chain: string[]): Promise<void> => {
    const pattern = at.words[1];
    if (pattern === undefined) {
      problems.push({ file: at.file, line: at.line, message: `${keyword} without a file name`, fix: `${keyword} /etc/keepalived/conf.d/*.conf` });
      return;
    }
    if (chain.length > MAX_INCLUDE_DEPTH) {
      problems.push({ file: at.file, line: at.line, message: `includes nested deeper than ${MAX_INCLUDE_DEPTH} levels (an include loop?)`, fix: 'break the include cycle' });
      return;
    }
    const absolute = isAbsolute(pattern) ? pattern : join(dir, pattern);
    const matches = /[*?[{]/.test(pattern) ? await source.glob(absolute) : [absolute];
    if (matches.length === 0) {
      // Plain `include` tolerates an empty glob (keepalived.conf(5)); the variants do not.
      if (keyword !== 'include' && keyword !== 'includer') {
        problems.push({ file: at.file, line: at.line, message: `${keyword} ${pattern}: no file matches`, fix: 'check the path (relative paths are relative to this file)' });
      }
      return;
    }
    for (const match of matches) {
      if (chain.includes(match)) {
        problems.push({ file: at.file, line: at.line, message: `${match} includes itself`, fix: 'remove the include cycle' });
        continue;
      }
      let text: string;
      try {
        text = await source.read(match);
      } catch (err) {
        const problem: ConfProblem = {
          file: at.file,
          line: at.line,
          message: `cannot read included file ${match}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          fix: 'check the path (relative paths are relative to this file) and its permissions',
        };
        // keepalived reports a missing plain include and carries on; the variants are strict.
        if (keyword === 'include' || keyword === 'includer') problem.severity = 'warning';
        problems.push(problem);
        continue;
      }
      await readInto(match, text, chain);
    }
  };

  await readInto(entry, await source.read(entry), []);
  return { nodes: buildTree(lines, problems), files, problems };
}
