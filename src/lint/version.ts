import type { ConfNode, ParsedConf } from '../keepalived/conf/ast.js';
import { excerpt } from '../keepalived/conf/excerpt.js';
import { DEPRECATED, SECTIONS, childSection } from '../keepalived/conf/keywords.js';
import { VERSION_KEYWORDS, type VersionKeywords } from '../keepalived/conf/version-keywords.generated.js';
import { compareVersions, formatVersion, parseVersion, type KeepalivedVersion } from '../keepalived/capabilities.js';
import { finding, type Finding } from './finding.js';

/**
 * The configuration read against one keepalived release: the keywords its parser registers and
 * the ranges its handlers accept (version-keywords.generated.ts, from each release's sources), and
 * what that release does with a notify command.
 */

export interface VersionTable {
  /** The version linted for. */
  version: KeepalivedVersion;
  /** The release whose sources the table comes from: the same major.minor, else the nearest older one. */
  release: string;
  keywords: VersionKeywords;
}

const RELEASES = Object.keys(VERSION_KEYWORDS)
  .map((r) => ({ text: r, version: parseVersion(r)! }))
  .sort((a, b) => compareVersions(a.version, b.version));

export function versionTable(version: KeepalivedVersion): VersionTable {
  const sameMinor = RELEASES.filter((r) => r.version.major === version.major && r.version.minor === version.minor);
  const older = RELEASES.filter((r) => compareVersions(r.version, version) <= 0);
  // Before the oldest release known, its table: the closest there is.
  const pick = sameMinor.at(-1) ?? older.at(-1) ?? RELEASES[0]!;
  return { version, release: pick.text, keywords: VERSION_KEYWORDS[pick.text]! };
}

/** `include` and its variants are the parser's own (lib/parser.c), in every release. */
const isInclude = (keyword: string) => /^include[abmrw]?$/.test(keyword);

/** Whether the release reads `keyword` in the section at `path` ('' the top level). */
export function releaseAccepts(keywords: VersionKeywords, path: string, keyword: string): boolean {
  if (path === '') return isInclude(keyword) || keywords.roots.includes(keyword);
  const block = path.split('/')[0]!;
  return (keywords.blocks[block] ?? []).includes(keyword) || keywords.anywhere.includes(keyword);
}

/** Spellings of one setting across releases: a release that lacks one has the other. */
const SYNONYMS: readonly (readonly [string, string])[] = [
  ['track_file', 'vrrp_track_file'],
  ['lvs_sched', 'lb_algo'],
  ['lvs_method', 'lb_kind'],
  ['retry', 'nb_get_retry'],
  ['checker_process_name', 'lvs_process_name'],
];

function releasesWith(path: string, keyword: string): string[] {
  return RELEASES.filter((r) => releaseAccepts(VERSION_KEYWORDS[r.text]!, path, keyword)).map((r) => r.text);
}

function showSection(path: string): string {
  return path === '' ? 'at the top level' : `in ${path.split('/').pop()}`;
}

function missingKeyword(node: ConfNode, path: string, table: VersionTable): Finding {
  const { keywords, release } = table;
  const target = formatVersion(table.version);
  const synonym = SYNONYMS.flatMap(([a, b]) => (a === node.keyword ? [b] : b === node.keyword ? [a] : [])).find((s) => releaseAccepts(keywords, path, s));
  const having = releasesWith(path, node.keyword);
  const newer = having.filter((r) => compareVersions(parseVersion(r)!, parseVersion(release)!) > 0);
  let fix: string;
  if (synonym) fix = `write ${synonym}, the spelling keepalived ${target} reads`;
  else if ((node.keyword === 'track_file' || node.keyword === 'vrrp_track_file') && !keywords.roots.includes('vrrp_track_file')) {
    fix = `keepalived ${target} has no file tracking (vrrp_track_file came with 2.0): track the file with a vrrp_script that tests it, and track_script in the instance`;
  } else if (newer.length === having.length && newer.length > 0) {
    fix = `of the releases kawatch has the sources of, ${newer[0]} is the first to read it: remove it for ${target}, or upgrade keepalived`;
  } else if (having.length > 0) {
    const replacement = DEPRECATED[path]?.[node.keyword]?.replacement;
    fix = `keepalived ${target} no longer reads it (last in ${having.at(-1)})${replacement ? `: use ${replacement}` : ''}`;
  } else fix = `remove it: no keepalived from ${RELEASES[0]!.text} reads it ${showSection(path)}`;
  return finding('version-keyword', node, `${excerpt(node.keyword)} does not exist ${showSection(path)} in keepalived ${target} (it ignores the line)`, fix);
}

function outOfRange(node: ConfNode, range: readonly [number, number], table: VersionTable): Finding | undefined {
  const text = node.args[0];
  if (text === undefined || !/^-?\d+(\.\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  if (n >= range[0] && n <= range[1]) return undefined;
  const [min, max] = range;
  return finding(
    'version-range',
    node,
    `${node.keyword} ${excerpt(text)}: keepalived ${formatVersion(table.version)} accepts ${min} to ${max} (it refuses the value: number outside range)`,
    `give ${node.keyword} a value from ${min} to ${max}`,
  );
}

const NOTIFY_KEYWORDS = new Set(['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop']);

/**
 * Before 2.0 keepalived looks the whole notify string up as one file name (lib/notify.c of 1.3.5):
 * `notify "/usr/bin/kawatch notify"` is "not found" and the script is disabled.
 */
function notifyWithArguments(node: ConfNode, path: string, table: VersionTable): Finding | undefined {
  if (table.version.major >= 2 || !NOTIFY_KEYWORDS.has(node.keyword)) return undefined;
  if (path !== 'vrrp_instance' && path !== 'vrrp_sync_group') return undefined;
  const command = node.args.join(' ');
  if (!/\s/.test(command.trim())) return undefined;
  return finding(
    'version-notify-arguments',
    node,
    `${node.keyword} "${excerpt(command)}": keepalived ${formatVersion(table.version)} takes the whole string as one file name, finds none ("since not found") and disables the script`,
    `put the command in a script without arguments, e.g. /usr/local/sbin/kawatch-notify with the lines '#!/bin/sh' and 'exec /usr/bin/kawatch notify "$@"' (mode 0755), and write ${node.keyword} /usr/local/sbin/kawatch-notify`,
  );
}

function walk(nodes: ConfNode[], path: string, table: VersionTable, out: Finding[]): void {
  for (const node of nodes) {
    if (node.keyword === '{') continue;
    if (!releaseAccepts(table.keywords, path, node.keyword)) {
      // A word no release reads is a typo: the unknown-keyword rule has it, with its nearest keyword.
      if (releasesWith(path, node.keyword).length > 0 || SECTIONS.get(path)?.keywords.has(node.keyword)) out.push(missingKeyword(node, path, table));
      continue;
    }
    const block = path === '' ? node.keyword : path.split('/')[0]!;
    const range = path === '' ? undefined : table.keywords.ranges[`${block}/${node.keyword}`];
    const problem = (range && outOfRange(node, range, table)) ?? notifyWithArguments(node, path, table);
    if (problem) out.push(problem);
    const child = childSection(path, node.keyword);
    // Free-form lists (addresses, names) hold no keywords.
    if (node.children && SECTIONS.get(child)?.list !== true) walk(node.children, child, table, out);
  }
}

const TRACK_FILE_BLOCKS = ['track_file', 'vrrp_track_file'];

/**
 * An instance's `track_file { NAME }` whose NAME is defined only by a block this version does
 * not read: keepalived says "track file NAME not found, ignoring" and the instance tracks nothing.
 */
function unreadTrackFiles(conf: ParsedConf, table: VersionTable, out: Finding[]): void {
  const defined = new Map<string, ConfNode>();
  const unread = new Map<string, ConfNode>();
  for (const node of conf.nodes) {
    if (!TRACK_FILE_BLOCKS.includes(node.keyword) || node.args[0] === undefined) continue;
    (releaseAccepts(table.keywords, '', node.keyword) ? defined : unread).set(node.args[0], node);
  }
  for (const block of conf.nodes) {
    if (block.keyword !== 'vrrp_instance' && block.keyword !== 'vrrp_sync_group') continue;
    for (const entry of (block.children ?? []).filter((c) => c.keyword === 'track_file').flatMap((c) => c.children ?? [])) {
      const definition = unread.get(entry.keyword);
      if (!definition || defined.has(entry.keyword)) continue;
      out.push(
        finding(
          'version-keyword',
          entry,
          `${block.keyword} ${excerpt(block.args[0] ?? '')} tracks ${excerpt(entry.keyword)}, defined by ${definition.keyword} (${definition.file}:${definition.line}), which keepalived ${formatVersion(table.version)} does not read: it tracks nothing ("track file not found, ignoring")`,
          `define ${excerpt(entry.keyword)} the way keepalived ${formatVersion(table.version)} reads (the finding at ${definition.file}:${definition.line})`,
        ),
      );
    }
  }
}

export function versionFindings(conf: ParsedConf, table: VersionTable): Finding[] {
  const out: Finding[] = [];
  walk(conf.nodes, '', table, out);
  unreadTrackFiles(conf, table, out);
  return out;
}
