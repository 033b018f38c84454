import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ConfNode, ConfProblem, ParsedConf } from './ast.js';
import { excerpt } from './excerpt.js';

/** Paths are quoted longer than other words: /etc/keepalived/conf.d/… names are long. */
const PATH_CHARS = 240;

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
 *
 * keepalived trusts its configuration; kawatch lints files it is handed, so every expansion is
 * bounded and an input over a bound becomes a problem at its file:line, never a hang: lines are
 * read in keepalived's MAXBUF chunks, ~SEQ and multiline parameters have one budget of lines and
 * characters for the whole configuration, includes one of files and depth, globs one of brace
 * alternatives and directory entries, and glob segments are matched without backtracking.
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

/** The bounds on what one configuration may make kawatch do. */
export const LIMITS = {
  /** keepalived's MAXBUF (lib/parser.h): read_line() takes 1023 characters, the rest is the next line. */
  lineChars: 1023,
  /** Lines made by ~SEQ and multiline parameters, over the whole configuration. */
  expandedLines: 20_000,
  /** Characters of those lines, over the whole configuration. */
  expandedChars: 4 * 1024 * 1024,
  /** Files read, the entry file included (a diamond of includes reads a file many times). */
  files: 256,
  includeDepth: 16,
  /** Patterns one include's braces ({a,b}{c,d}…) expand to. */
  braceAlternatives: 256,
  /** Directory entries one include's glob may look at. */
  globEntries: 100_000,
  /** Bytes of one configuration file: `include /dev/zero` must not fill the memory. */
  fileBytes: 16 * 1024 * 1024,
  /** Nested blocks: deeper ones are skipped (kawatch's walk of the tree is recursive). */
  blockDepth: 64,
} as const;

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
  hex: boolean;
  start: number;
  step: number;
  /** How many values the sequence has (it is walked lazily: `~SEQ(i,1,1e15)` is one line to read). */
  count: number;
  rest: string;
}

/** keepalived keeps ~SEQ's numbers in a C long: beyond ±2^53 they are not exact here, so refused. */
const SEQ_NUMBER = /^[+-]?(?:0[xX][0-9a-fA-F]{1,13}|\d{1,15})$/;

function parseSeq(text: string): SeqSpec | string {
  // `[^]*`: a line may hold a lone CR, which `.` would not match (and `$` then backtrack over).
  const m = /^~SEQ(x?)\(([^)]*)\)[ \t]*([^]*)$/.exec(text);
  if (!m) return 'Invalid ~SEQ definition';
  const [, hex, inner, rest] = m as unknown as [string, string, string, string];
  const parts = inner.split(',').map((p) => p.trim());
  const variable = parts[0] ?? '';
  const numbers = parts.slice(1);
  if (!/^\w{1,64}$/.test(variable) || numbers.length < 1 || numbers.length > 3 || numbers.some((n) => !SEQ_NUMBER.test(n))) {
    return 'Invalid ~SEQ values';
  }
  const nums = numbers.map((n) => (/^[+-]?0[xX]/.test(n) ? (n.startsWith('-') ? -1 : 1) * parseInt(n.replace(/^[+-]/, ''), 16) : Number(n)));
  const end = nums[nums.length - 1] as number;
  const start = nums.length >= 2 ? (nums[0] as number) : end < 0 ? -1 : 1;
  const step = nums.length === 3 ? (nums[1] as number) : end >= start ? 1 : -1;
  if (step === 0 || (step > 0 && start > end) || (step < 0 && start < end)) return 'Invalid ~SEQ values';
  if (hex && (start < 0 || end < 0)) return '~SEQx is only valid for positive numbers';
  return { variable, hex: hex === 'x', start, step, count: Math.floor((end - start) / step) + 1, rest };
}

/** What ~SEQ and multiline parameters may still produce in one configuration. */
class ExpansionBudget {
  private lines = 0;
  private chars = 0;
  constructor(private readonly problems: ConfProblem[]) {}

  /** Takes one expanded line; false (and one problem at file:line) once the budget is spent. */
  take(text: string, file: string, line: number, what: string): boolean {
    this.lines++;
    this.chars += text.length;
    if (this.lines <= LIMITS.expandedLines && this.chars <= LIMITS.expandedChars) return true;
    if (!this.spentAt.has(`${file}:${line}`)) {
      this.spentAt.add(`${file}:${line}`);
      this.problems.push({
        file,
        line,
        message: `${what} expands past kawatch's bound of ${LIMITS.expandedLines} lines (${LIMITS.expandedChars / 1024 / 1024} MiB) for the whole configuration; the rest of it is not read`,
        fix: 'lint a configuration with fewer repeated lines, or split it per director',
      });
    }
    return false;
  }

  private readonly spentAt = new Set<string>();
}

/**
 * The line-level state keepalived keeps while reading: parameter definitions (shared across
 * included files, in reading order) and an unfinished multiline definition.
 */
class LineReader {
  private readonly defs = new Map<string, string>();
  private multiline?: { name: string; lines: string[] };
  private readonly budget: ExpansionBudget;

  constructor(
    private readonly configId: string | undefined,
    private readonly problems: ConfProblem[],
  ) {
    this.budget = new ExpansionBudget(problems);
  }

  /** Feeds one physical line, in keepalived's MAXBUF chunks; returns the logical lines it yields (none, one, or many). */
  feed(raw: string, file: string, line: number): LogicalLine[] {
    const out: LogicalLine[] = [];
    if (raw.length <= LIMITS.lineChars) {
      this.feedChunk(raw, file, line, out);
      return out;
    }
    this.problems.push({
      file,
      line,
      severity: 'warning',
      message: `line of ${raw.length} characters: keepalived reads at most ${LIMITS.lineChars} at a time and takes the rest as further lines`,
      fix: `break the line into lines of at most ${LIMITS.lineChars} characters`,
    });
    for (let at = 0; at < raw.length; at += LIMITS.lineChars) this.feedChunk(raw.slice(at, at + LIMITS.lineChars), file, line, out);
    return out;
  }

  private feedChunk(raw: string, file: string, line: number, out: LogicalLine[]): void {
    if (this.multiline) {
      const trimmed = raw.trim();
      const more = trimmed.endsWith('\\');
      this.multiline.lines.push(more ? trimmed.slice(0, -1) : trimmed);
      if (!more) {
        this.defs.set(this.multiline.name, this.multiline.lines.join('\n'));
        this.multiline = undefined;
      }
      return;
    }
    let text = raw.trim();
    let condition: string | undefined;
    const cond = /^@(\^?)(\S*)\s*([^]*)$/.exec(text);
    if (cond) {
      const [, negate, id, rest] = cond as unknown as [string, string, string, string];
      condition = `@${negate}${id}`;
      if (this.configId !== undefined) {
        if ((id === this.configId) === (negate === '^')) return;
        condition = undefined;
      }
      text = rest;
    }
    const def = /^\$(\w+)=([^]*)$/.exec(text);
    if (def) {
      const [, name, value] = def as unknown as [string, string, string];
      const v = value.trim();
      // A conditional definition only counts for the director it names; with no config-id
      // the first definition wins, which is enough to lint the lines that use it.
      if (v === '\\') this.multiline = { name, lines: [] };
      else if (condition === undefined || !this.defs.has(name)) this.defs.set(name, v);
      return;
    }
    if (text.startsWith('~SEQ')) {
      const seq = parseSeq(text);
      if (typeof seq === 'string') {
        // Only the ~SEQ(...) head is quoted: the rest of the line may be anything, a password too.
        const head = text.slice(0, Math.min(text.indexOf(')') < 0 ? 40 : text.indexOf(')') + 1, 80));
        this.problems.push({ file, line, message: `${seq} '${excerpt(head)}'`, fix: 'write ~SEQ(var, start, step, end) followed by the line to repeat' });
        return;
      }
      for (let k = 0; k < seq.count; k++) {
        const value = seq.start + k * seq.step;
        this.defs.set(seq.variable, seq.hex ? value.toString(16) : String(value));
        if (!this.expand(seq.rest, file, line, condition, out, '~SEQ')) return;
      }
      return;
    }
    this.expand(text, file, line, condition, out);
  }

  /** `expansion` names what made the line (~SEQ), whose output is counted against the budget. */
  private expand(text: string, file: string, line: number, condition: string | undefined, out: LogicalLine[], expansion?: string): boolean {
    const substituted = this.substitute(text);
    if (substituted === undefined) {
      this.problems.push({ file, line, message: `parameters expand this line past ${LIMITS.expandedChars / 1024 / 1024} MiB; it is not read`, fix: 'use shorter parameter values' });
      return false;
    }
    const pieces = substituted.split('\n');
    const what = expansion ?? (pieces.length > 1 ? 'a multiline parameter' : undefined);
    for (const piece of pieces) {
      if (what !== undefined && !this.budget.take(piece, file, line, what)) return false;
      if (piece.length > LIMITS.lineChars) {
        // keepalived: "Parameter substitution on line … would exceed maximum line length".
        this.problems.push({ file, line, message: `parameter substitution makes a line of ${piece.length} characters, past keepalived's ${LIMITS.lineChars}; keepalived does not substitute it`, fix: 'use shorter parameter values' });
        continue;
      }
      // An include's glob may hold csh braces ({a,b}): it is taken whole, not split into words.
      const include = /^(include[rmwba]?)\s+([^\s"#!]+)/.exec(piece.trim());
      const words = include ? [include[1] as string, include[2] as string] : splitWords(piece);
      if (words.length === 0) continue;
      out.push(condition === undefined ? { words, file, line } : { words, file, line, condition });
    }
    return true;
  }

  /** The text with its parameters replaced; undefined when that would pass the expansion budget. */
  private substitute(text: string): string | undefined {
    if (!text.includes('$')) return text;
    let length = text.length;
    // A bare name runs to the end of the word characters: $VAR_kw is not $VAR then _kw.
    const out = text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
      // A Map, not an object: `$__proto__` or `$constructor` is a name like any other.
      const value = this.defs.get(braced ?? (bare as string));
      if (value === undefined || length > LIMITS.expandedChars) return whole;
      length += value.length;
      return value;
    });
    return length > LIMITS.expandedChars ? undefined : out;
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
  /** Open braces of a block nested too deep, whose words are passed over. */
  let skipping = 0;
  const open = (node: ConfNode, l: LogicalLine) => {
    node.children = [];
    if (stack.length <= LIMITS.blockDepth) {
      stack.push({ node, children: node.children });
      return;
    }
    skipping = 1;
    problems.push({ file: l.file, line: l.line, message: `blocks nested deeper than ${LIMITS.blockDepth} levels; the contents of this one are not read`, fix: 'close the blocks left open above' });
  };

  for (const l of lines) {
    let i = 0;
    const words = l.words;
    while (i < words.length) {
      const w = words[i] as string;
      if (skipping > 0) {
        if (w === '{') skipping++;
        else if (w === '}') skipping--;
        i++;
        continue;
      }
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
          open(lastEnded, l);
        } else {
          problems.push({ file: l.file, line: l.line, message: "Unexpected '{'", fix: 'put a keyword before the {' });
          // keepalived skips to the matching brace: keep the structure balanced likewise.
          open({ keyword: '{', args: [], file: l.file, line: l.line }, l);
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
        open(node, l);
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
      message: `'${excerpt(node.keyword)}' block opened here is never closed ('}' missing)`,
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
  raw.forEach((r, index) => {
    for (const logical of reader.feed(r, file, index + 1)) lines.push(logical);
  });
  reader.finish(file, raw.length);
  return { nodes: buildTree(lines, problems), files: [file], problems };
}

/** An include whose glob would make kawatch do more than LIMITS allow. */
export class GlobLimitError extends Error {
  override name = 'GlobLimitError';
}

/**
 * Brace expansion as glob(3) with GLOB_BRACE does it: "{a,b}c" → ["ac", "bc"]. Each step yields at
 * least one pattern, so stopping at `limit` patterns bounds the work: `{a,b}{a,b}…` is no bomb.
 */
export function expandBraces(pattern: string, limit: number = LIMITS.braceAlternatives): string[] {
  const out: string[] = [];
  const expand = (p: string): void => {
    const open = p.indexOf('{');
    if (open < 0) {
      if (out.length >= limit) throw new GlobLimitError(`braces expand to more than ${limit} patterns`);
      out.push(p);
      return;
    }
    let depth = 0;
    const commas: number[] = [];
    let close = -1;
    for (let i = open; i < p.length; i++) {
      const c = p[i];
      if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        close = i;
        break;
      } else if (c === ',' && depth === 1) commas.push(i);
    }
    if (close < 0) {
      if (out.length >= limit) throw new GlobLimitError(`braces expand to more than ${limit} patterns`);
      out.push(p);
      return;
    }
    const head = p.slice(0, open);
    const tail = p.slice(close + 1);
    const bounds = [open, ...commas, close];
    for (let k = 0; k + 1 < bounds.length; k++) expand(head + p.slice((bounds[k] as number) + 1, bounds[k + 1]) + tail);
  };
  expand(pattern);
  return out;
}

/** One element of a glob segment: a literal character, `?`, `*`, or a `[…]` set. */
type GlobToken = { kind: 'char'; char: string } | { kind: 'any' } | { kind: 'star' } | { kind: 'set'; negated: boolean; ranges: [string, string][] };

function globTokens(segment: string): GlobToken[] {
  const tokens: GlobToken[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') {
      // Consecutive stars match what one does: collapsing them keeps the matcher linear in them.
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') tokens.push({ kind: 'any' });
    else if (c === '\\' && i + 1 < segment.length) tokens.push({ kind: 'char', char: segment[++i] as string });
    else if (c === '[') {
      let j = i + 1;
      const negated = segment[j] === '!' || segment[j] === '^';
      if (negated) j++;
      // A `]` right after `[` or `[!` is a member, not the end (fnmatch(3)).
      const end = segment.indexOf(']', j + 1);
      if (end < 0) {
        tokens.push({ kind: 'char', char: '[' });
        continue;
      }
      const ranges: [string, string][] = [];
      for (let k = j; k < end; k++) {
        const lo = segment[k] as string;
        if (segment[k + 1] === '-' && k + 2 < end) {
          ranges.push([lo, segment[k + 2] as string]);
          k += 2;
        } else ranges.push([lo, lo]);
      }
      tokens.push({ kind: 'set', negated, ranges });
      i = end;
    } else tokens.push({ kind: 'char', char: c });
  }
  return tokens;
}

function tokenMatches(token: GlobToken, c: string): boolean {
  if (token.kind === 'any') return c !== '/';
  if (token.kind === 'char') return token.char === c;
  if (token.kind === 'set') return token.ranges.some(([lo, hi]) => lo <= c && c <= hi) !== token.negated;
  return false;
}

/** Work counted by matchSegment: one step per (token, character) pair compared. */
export interface GlobWork {
  steps: number;
}

/**
 * Whether a file name matches one glob segment, as glob(3) decides it (a leading dot only by a
 * pattern starting with one). No regular expression: the greedy matcher with one backtrack point
 * takes at most pattern × name steps, however many stars (`*a*a*a*…b` is no hang).
 */
export function matchSegment(segment: string, name: string, work: GlobWork = { steps: 0 }): boolean {
  if (name.startsWith('.') && !segment.startsWith('.')) return false;
  const tokens = globTokens(segment);
  let t = 0;
  let n = 0;
  let starAt = -1;
  let starName = 0;
  while (n < name.length) {
    work.steps++;
    const token = tokens[t];
    if (token?.kind === 'star') {
      starAt = t++;
      starName = n;
    } else if (token !== undefined && tokenMatches(token, name[n] as string)) {
      t++;
      n++;
    } else if (starAt >= 0) {
      t = starAt + 1;
      n = ++starName;
    } else return false;
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}

/** Whether a segment needs a directory listing (holds `*`, `?` or `[`). */
const hasWildcard = (segment: string) => /[*?[]/.test(segment);

/** Reads a regular file only, of at most LIMITS.fileBytes: a FIFO or /dev/zero must not block or fill the memory. */
async function readConfFile(path: string): Promise<string> {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'not a regular file' });
    if (info.size > LIMITS.fileBytes) throw Object.assign(new Error(`${path} is larger than ${LIMITS.fileBytes} bytes`), { code: `larger than ${LIMITS.fileBytes / 1024 / 1024} MiB` });
    const buffer = Buffer.alloc(info.size);
    let read = 0;
    while (read < info.size) {
      const { bytesRead } = await handle.read(buffer, read, info.size - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The file system edge: bounded reads and a small glob(3) (`*`, `?`, `[…]`, `{a,b}`), bounded in work. */
export const fileSystemSource: ConfSource = {
  read: readConfFile,
  async glob(pattern) {
    const results = new Set<string>();
    let entries = 0;
    for (const alternative of expandBraces(pattern)) {
      let paths = ['/'];
      for (const segment of alternative.split('/').filter((s) => s !== '')) {
        const next: string[] = [];
        if (!hasWildcard(segment)) {
          for (const p of paths) next.push(join(p, segment));
        } else {
          for (const p of paths) {
            const names = await readdir(p).catch(() => [] as string[]);
            entries += names.length;
            if (entries > LIMITS.globEntries) throw new GlobLimitError(`the glob looks at more than ${LIMITS.globEntries} directory entries`);
            for (const e of names) if (matchSegment(segment, e)) next.push(join(p, e));
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

  let reads = 0;
  const readInto = async (file: string, text: string, chain: string[]): Promise<void> => {
    reads++;
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
    if (chain.length > LIMITS.includeDepth) {
      problems.push({ file: at.file, line: at.line, message: `includes nested deeper than ${LIMITS.includeDepth} levels (an include loop?)`, fix: 'break the include cycle' });
      return;
    }
    const absolute = isAbsolute(pattern) ? pattern : join(dir, pattern);
    let matches: string[];
    try {
      matches = /[*?[{]/.test(pattern) ? await source.glob(absolute) : [absolute];
    } catch (err) {
      if (!(err instanceof GlobLimitError)) throw err;
      problems.push({ file: at.file, line: at.line, message: `${keyword} ${excerpt(pattern, PATH_CHARS)}: ${err.message}, past kawatch's bound; nothing of it is read`, fix: 'name the included files with a simpler pattern (fewer braces, a narrower directory)' });
      return;
    }
    if (matches.length === 0) {
      // Plain `include` tolerates an empty glob (keepalived.conf(5)); the variants do not.
      if (keyword !== 'include' && keyword !== 'includer') {
        problems.push({ file: at.file, line: at.line, message: `${keyword} ${excerpt(pattern, PATH_CHARS)}: no file matches`, fix: 'check the path (relative paths are relative to this file)' });
      }
      return;
    }
    for (const match of matches) {
      if (reads >= LIMITS.files) {
        problems.push({ file: at.file, line: at.line, message: `${keyword} ${excerpt(pattern, PATH_CHARS)}: the configuration reads more than ${LIMITS.files} files, past kawatch's bound; the rest is not read`, fix: 'include fewer files, or each file once' });
        return;
      }
      if (chain.includes(match)) {
        problems.push({ file: at.file, line: at.line, message: `${excerpt(match, PATH_CHARS)} includes itself`, fix: 'remove the include cycle' });
        continue;
      }
      let text: string;
      try {
        text = await source.read(match);
      } catch (err) {
        const problem: ConfProblem = {
          file: at.file,
          line: at.line,
          message: `cannot read included file ${excerpt(match, PATH_CHARS)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
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
