import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ConfigInput } from '../config/schema.js';
import { API_PORT, PEER_PORT, VRRP_AUTH_PASS, labPaths, nodePaths, type LabPlan, type LabPolicy, type NodePlan } from './plan.js';

/** The absolute path of the `kawatch` launcher (bin/kawatch), which keepalived runs as its hook. */
export interface NotifyCommand {
  launcher: string;
}

/** keepalived splits a script line on whitespace and treats quotes specially: such paths cannot be passed through it. */
export function checkScriptPath(path: string): string | undefined {
  return /^\/[^\s"'\\]*$/.test(path) ? undefined : `${JSON.stringify(path)} cannot appear in a keepalived script line (needs an absolute path without spaces, quotes or backslashes)`;
}

export function renderKeepalivedConf(plan: LabPlan, node: NodePlan, notify: NotifyCommand): string {
  const paths = nodePaths(node.dir);
  const hook = `${notify.launcher} notify --spool ${paths.spool}`;
  const lines = [
    `# keepalived for ${node.name} of kawatch lab "${plan.prefix}"; written by \`kawatch lab up\`.`,
    'global_defs {',
    `    router_id ${node.netns}`,
    // Without script_user keepalived looks for a "keepalived_script" user and refuses scripts when it is missing;
    // script security makes it refuse a hook that a non-root user could replace, as on a hardened director.
    '    script_user root',
    '    enable_script_security',
    `    vrrp_notify_fifo ${paths.notifyFifo}`,
    '}',
  ];
  // One track file per instance, owned by the daemon: writing 1 puts only that instance in FAULT (policy demote).
  for (const instance of plan.instances) {
    lines.push(
      '',
      `track_file kawatch_${instance.name} {`,
      `    file ${join(paths.trackDir, instance.name)}`,
      '    weight 0',
      '    init_file 0 overwrite',
      '}',
    );
  }
  for (const instance of plan.instances) {
    const priority = instance.priorities[node.name];
    if (priority === undefined) throw new Error(`instance ${instance.name} has no priority for ${node.name}`);
    lines.push(
      '',
      `vrrp_instance ${instance.name} {`,
      // BACKUP on both sides: the priorities alone elect the MASTER, as in a multi-master pair after a restart.
      '    state BACKUP',
      `    interface ${node.primary.ifname}`,
      `    virtual_router_id ${instance.vrid}`,
      `    priority ${priority}`,
      '    advert_int 1',
      '    authentication {',
      '        auth_type PASS',
      `        auth_pass ${VRRP_AUTH_PASS}`,
      '    }',
      '    virtual_ipaddress {',
      `        ${instance.vip}/${instance.vipPrefixLength}`,
      '    }',
      `    notify "${hook}"`,
      '    track_file {',
      `        kawatch_${instance.name}`,
      '    }',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `smtp`: HOST:PORT of the lab's mail recorder as this node reaches it; without it the daemon sends no mail.
 * `startCommand`: how the daemon starts this node's keepalived again (drills with mode stop); without it they are refused.
 */
export function renderKawatchConfig(plan: LabPlan, node: NodePlan, policy: LabPolicy = 'alert', smtp?: string, startCommand?: string[]): string {
  const paths = nodePaths(node.dir);
  const config: ConfigInput = {
    node_name: node.name,
    listen: `${node.management.address}:${API_PORT}`,
    keepalived: { pid_file: paths.keepalivedPid },
    sources: {
      hook: { spool_dir: paths.spool },
      fifo: { enabled: true, paths: [paths.notifyFifo] },
    },
    // The cross-check runs over the direct secondary link, not the primary segment a split cuts.
    peers: {
      listen: `${node.secondary.address}:${PEER_PORT}`,
      secret_file: labPaths(plan.dir).peerSecret,
      members: plan.nodes.filter((n) => n !== node).map((n) => ({ name: n.name, address: `${n.secondary.address}:${PEER_PORT}` })),
    },
    state_dir: paths.stateDir,
    // The lab's directors run VRRP only (no virtual_server), on a kernel that may lack IPVS.
    ipvs: { enabled: false },
    // The lab's keepalived.conf is not at keepalived.config_file's default: the observer is told its interface.
    vrrp_wire: { interfaces: [node.primary.ifname] },
    watchdog: {
      policy,
      track_dir: paths.trackDir,
      // policy stop: the lab's keepalived is no systemd unit; pkill reads its pid file (no shell).
      stop_command: ['pkill', '-TERM', '-F', paths.keepalivedPid],
      ...(startCommand ? { start_command: startCommand } : {}),
      // The switch answers pings on the primary segment: a director cut off from it is the isolated one.
      witness: { ping: plan.witness },
    },
    ...(smtp ? { mail: labMail(plan, node, smtp) } : {}),
  };
  return `# kawatch daemon for ${node.name} of lab "${plan.prefix}"; written by \`kawatch lab up\`.\n${stringify(config)}`;
}

/** Mail to the lab's recorder, grouped and retried on a lab's time scale rather than a pager's. */
function labMail(plan: LabPlan, node: NodePlan, smtp: string): NonNullable<ConfigInput['mail']> {
  const colon = smtp.lastIndexOf(':');
  return {
    smtp: { host: smtp.slice(0, colon), port: Number(smtp.slice(colon + 1)) },
    from: `kawatch@${node.name}.${plan.prefix}.test`,
    to: [`ops@${plan.prefix}.test`],
    group_window: '1s',
    retry: { initial: '500ms', max: '5s' },
  };
}

export const SPLIT_TABLE = 'kawatch_lab';

/**
 * Declaring the table before deleting it makes removal succeed whether or not it exists
 * (nftables 1.0.6 has no `destroy`); the whole script is applied atomically.
 */
export function renderHealRuleset(): string {
  return `table inet ${SPLIT_TABLE}\ndelete table inet ${SPLIT_TABLE}\n`;
}

export interface SplitRules {
  /** Interface on which VRRP (IP protocol 112) is dropped both ways: the primary segment. */
  dropVrrpOn?: string;
  /** Interfaces on which everything is dropped both ways: a cut link. */
  dropAllOn?: string[];
  /**
   * VRRP dropped as it arrives from these addresses only: a split between two directors, each
   * deaf to the other. Inbound only, as adverts go out to a multicast group, not to a director.
   */
  dropVrrpFrom?: { ifname: string; addresses: string[] };
  /** Everything to and from these addresses dropped on the interface: a link cut between two directors. */
  dropAllWith?: { ifname: string; addresses: string[] };
}

const addressSet = (addresses: readonly string[]) => (addresses.length === 1 ? addresses[0]! : `{ ${addresses.join(', ')} }`);

/** One node's split rules, replacing whatever it had: the node neither hears nor is heard there. */
export function renderSplitRuleset(rules: SplitRules): string {
  const input: string[] = [];
  const output: string[] = [];
  const bothWays = (ifname: string, what: string) => {
    input.push(`iifname "${ifname}"${what} drop`);
    output.push(`oifname "${ifname}"${what} drop`);
  };
  if (rules.dropVrrpOn) bothWays(rules.dropVrrpOn, ' meta l4proto vrrp');
  for (const ifname of rules.dropAllOn ?? []) bothWays(ifname, '');
  const from = rules.dropVrrpFrom;
  if (from?.addresses.length) input.push(`iifname "${from.ifname}" ip saddr ${addressSet(from.addresses)} meta l4proto vrrp drop`);
  const cut = rules.dropAllWith;
  if (cut?.addresses.length) {
    input.push(`iifname "${cut.ifname}" ip saddr ${addressSet(cut.addresses)} drop`);
    output.push(`oifname "${cut.ifname}" ip daddr ${addressSet(cut.addresses)} drop`);
  }
  const chain = (name: string, hook: string, lines: string[]) =>
    [`  chain ${name} {`, `    type filter hook ${hook} priority filter; policy accept;`, ...lines.map((l) => `    ${l}`), '  }'].join('\n');
  return `${renderHealRuleset()}table inet ${SPLIT_TABLE} {\n${chain('input', 'input', input)}\n${chain('output', 'output', output)}\n}\n`;
}
