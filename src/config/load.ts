import { readFile } from 'node:fs/promises';
import { isNode, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { configSchema, type Config } from './schema.js';

export interface ConfigProblem {
  file: string;
  line: number;
  message: string;
}

/** Every problem of a config file at once, each as `file:line: message`. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Values given on the command line; they win over the file. */
export interface ConfigOverrides {
  listen?: string;
  procfs?: string;
}

function lineOf(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number {
  // Walk up until a node of the path exists: a missing key is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return 1;
}

function describeIssue(issue: { message: string; path: PropertyKey[]; code: string; keys?: string[] }): string {
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; see README "Configuration" for the keys this section takes`;
  }
  return `${where}: ${issue.message}`;
}

/** How many nodes aliases may stand for in all: a config needs a few; "billion laughs" needs billions. */
const MAX_ALIAS_COUNT = 100;

/** The first alias of the document that `matches`, for a line to report; the document's start without one. */
function aliasLine(doc: Document, lines: LineCounter, matches: (source: string) => boolean): number {
  let line = 1;
  visit(doc, {
    Alias(_key, node) {
      if (!matches(node.source) || !node.range) return undefined;
      line = lines.linePos(node.range[0]).line;
      return visit.BREAK;
    },
  });
  return line;
}

/**
 * The document as plain data, or the problem that kept it from being one: an alias without its
 * anchor, or aliases that would expand beyond MAX_ALIAS_COUNT nodes (the yaml package throws
 * for both).
 */
function toData(doc: Document, lines: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const unresolved = /^Unresolved alias.*: (.*)$/.exec((err as Error).message)?.[1];
    if (unresolved !== undefined) {
      const line = aliasLine(doc, lines, (source) => source === unresolved);
      throw new ConfigError([{ file, line, message: `YAML: alias *${unresolved} names no anchor before it: expected &${unresolved} on an earlier value` }]);
    }
    const line = aliasLine(doc, lines, () => true);
    throw new ConfigError([{ file, line, message: `YAML: the aliases would expand to too many values (more than ${MAX_ALIAS_COUNT} alias expansions): expected the values written out, or fewer aliases` }]);
  }
}

/** Parse and validate YAML text; pure, so tests and `kawatch run --check` share it. Every failure is a ConfigError. */
export function parseConfig(text: string, file: string, overrides: ConfigOverrides = {}): Config {
  const lines = new LineCounter();
  // logLevel 'error': the yaml library's own warnings (a collection as a key) would go to the process's stderr; kawatch reports what it refuses itself.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  const problems: ConfigProblem[] = [];
  for (const err of [...doc.errors, ...doc.warnings]) {
    const line = err.linePos?.[0]?.line ?? lines.linePos(err.pos[0]).line;
    problems.push({ file, line, message: `YAML: ${err.message.split('\n')[0]}` });
  }
  if (problems.length) throw new ConfigError(problems);

  const raw = (toData(doc, lines, file) ?? {}) as Record<string, unknown>;
  // A mapping, not a list, a scalar, or a !!set (which the yaml package makes a Set).
  if (Object.prototype.toString.call(raw) !== '[object Object]') {
    throw new ConfigError([{ file, line: 1, message: 'expected a mapping of keys (see examples/kawatch.yml)' }]);
  }
  const merged = { ...raw, ...definedOnly(overrides) };
  const result = configSchema().safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        file,
        // An unknown key is reported on its own line, not on its section's.
        line: lineOf(doc, lines, issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path),
        message: describeIssue(issue as Parameters<typeof describeIssue>[0]),
      })),
    );
  }
  return result.data;
}

function definedOnly(o: ConfigOverrides): ConfigOverrides {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export async function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): Promise<Config> {
  if (file === undefined) return parseConfig('{}', '(flags)', overrides);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, line: 0, message: `cannot read: ${(err as Error).message}` }]);
  }
  return parseConfig(text, file, overrides);
}
