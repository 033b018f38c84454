import type { ConfNode, ParsedConf } from '../keepalived/conf/ast.js';
import type { KeepalivedWiring } from './facts.js';

const NOTIFY_KEYWORDS = new Set(['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify_deleted', 'notify_master_rx_lower_pri']);
const FIFO_KEYWORDS = new Set(['notify_fifo', 'vrrp_notify_fifo', 'lvs_notify_fifo']);
const TRACK_FILE_BLOCKS = new Set(['track_file', 'vrrp_track_file']);

const where = (node: ConfNode) => `${node.file}:${node.line}`;
const children = (node: ConfNode) => node.children ?? [];

/** What keepalived.conf says about its wiring to kawatch and about LVS: pure, from the parsed file. */
export function wiringOf(file: string, conf: ParsedConf): KeepalivedWiring {
  const wiring: KeepalivedWiring = { file, notifyScripts: [], fifos: [], trackFiles: [], instances: [], virtualServers: [] };
  for (const node of conf.nodes) {
    const name = node.args[0] ?? '';
    if (node.keyword === 'global_defs') {
      for (const child of children(node)) {
        if (FIFO_KEYWORDS.has(child.keyword) && child.args[0]) wiring.fifos.push({ keyword: child.keyword, path: child.args[0], where: where(child) });
      }
    } else if (TRACK_FILE_BLOCKS.has(node.keyword) && node.children) {
      const file = children(node).find((c) => c.keyword === 'file')?.args[0];
      if (file) wiring.trackFiles.push({ name, file, where: where(node) });
    } else if (node.keyword === 'vrrp_instance' || node.keyword === 'vrrp_sync_group') {
      for (const child of children(node)) {
        if (NOTIFY_KEYWORDS.has(child.keyword) && child.args.length > 0) {
          wiring.notifyScripts.push({ owner: name, keyword: child.keyword, script: child.args.join(' '), where: where(child) });
        }
      }
      if (node.keyword === 'vrrp_instance') {
        const tracked = children(node)
          .filter((c) => c.keyword === 'track_file')
          .flatMap((c) => children(c).map((t) => t.keyword));
        wiring.instances.push({ name, trackFiles: tracked, where: where(node) });
      }
    } else if (node.keyword === 'virtual_server') {
      const method = children(node).find((c) => c.keyword === 'lb_kind' || c.keyword === 'lvs_method')?.args[0]?.toUpperCase() ?? '';
      wiring.virtualServers.push({ name: node.args.join(' '), method, where: where(node) });
    }
  }
  return wiring;
}

/** `kawatch notify …` as a keepalived script line: the arguments after `notify`, or undefined for another script. */
export function kawatchNotifyArgs(script: string): string[] | undefined {
  const [program, command, ...rest] = script.trim().split(/\s+/);
  if (!program || !/(^|\/)kawatch$/.test(program) || command !== 'notify') return undefined;
  return rest;
}
