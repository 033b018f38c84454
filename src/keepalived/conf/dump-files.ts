import { posix } from 'node:path';
import type { ConfNode, ParsedConf } from './ast.js';

/**
 * keepalived 2.3.3 added `state_dump_file`, `stats_dump_file` and `json_dump_file` to global_defs, but
 * only the first moves a dump: core/global_data.c open_dump_file() names keepalived.data from it, while
 * vrrp_print.c vrrp_print_stats() and vrrp_json.c vrrp_print_json() still call
 * make_tmp_filename("keepalived.stats"/"keepalived.json") (2.3.4 and 2.4.3 alike; the captures agree:
 * test/fixtures/keepalived/dumps/2.3.4-json/locations.txt).
 */

/** What keepalived.conf says of where keepalived.data goes; undefined: nothing (the tmp directory). */
export interface DataDumpSetting {
  /** state_dump_file's path as written: a trailing `/` names a directory, a relative one is under the tmp directory. */
  path: string;
  /** `data_use_instance`: the instance name and network namespace go into the file name. */
  useInstance: boolean;
  /** The top-level `instance NAME` (keepalived's -i/--instance overrides it: not known here). */
  instance?: string;
  /** The top-level `net_namespace NAME` (the first one: keepalived ignores the others). */
  netNamespace?: string;
}

// lib/parser.c check_true_false().
const TRUE_WORDS = new Set(['true', 'on', 'yes']);
const FALSE_WORDS = new Set(['false', 'off', 'no']);

/**
 * The settings that decide keepalived.data's path, as keepalived reads them: the last
 * state_dump_file wins (global_parser.c state_dump_file_handler() replaces it), the first
 * net_namespace does, a data_use_instance with a value keepalived refuses is ignored.
 */
export function dataDumpSetting(conf: ParsedConf): DataDumpSetting | undefined {
  let path: string | undefined;
  let useInstance = false;
  let instance: string | undefined;
  let netNamespace: string | undefined;
  const unconditional = (nodes: readonly ConfNode[] | undefined) => (nodes ?? []).filter((n) => n.condition === undefined);
  for (const node of unconditional(conf.nodes)) {
    if (node.keyword === 'instance' && node.args[0] !== undefined) instance = node.args[0];
    if (node.keyword === 'net_namespace' && node.args[0] !== undefined) netNamespace ??= node.args[0];
    if (node.keyword !== 'global_defs') continue;
    for (const child of unconditional(node.children)) {
      // keepalived refuses anything but exactly one non-empty path.
      if (child.keyword === 'state_dump_file' && child.args.length === 1 && child.args[0] !== '') path = child.args[0];
      if (child.keyword === 'data_use_instance') {
        const word = child.args[0]?.toLowerCase();
        if (word === undefined || TRUE_WORDS.has(word)) useInstance = true;
        else if (FALSE_WORDS.has(word)) useInstance = false;
      }
    }
  }
  return path === undefined ? undefined : { path, useInstance, instance, netNamespace };
}

/**
 * keepalived.data's path, as open_dump_file("") builds it: the directory of an absolute
 * state_dump_file (itself when it ends in `/`), else `tmpDir`; its file name (keepalived.data for a
 * directory), with `.NETNS_INSTANCE` before the extension under data_use_instance.
 */
export function dataDumpPath(setting: DataDumpSetting, tmpDir: string): string {
  const { path } = setting;
  // `.` and `..` name directories too: keepalived could open no file by them.
  const isDirectory = path.endsWith('/') || /(^|\/)\.\.?$/.test(path);
  const dir = !path.startsWith('/') ? tmpDir : isDirectory ? path.replace(/\/$/, '') : path.slice(0, path.lastIndexOf('/'));
  const fileName = isDirectory ? 'keepalived.data' : path.slice(path.lastIndexOf('/') + 1);
  const dot = fileName.lastIndexOf('.');
  const [stem, extension] = dot < 0 ? [fileName, ''] : [fileName.slice(0, dot), fileName.slice(dot)];
  const { instance, netNamespace } = setting;
  const suffix = setting.useInstance && (instance !== undefined || netNamespace !== undefined) ? `.${[netNamespace, instance].filter((p) => p !== undefined).join('_')}` : '';
  return posix.join(dir === '' ? '/' : dir, `${stem}${suffix}${extension}`);
}
