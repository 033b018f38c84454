import { finding, type Finding, type Place } from './finding.js';
import { first, type Director, type Instance, type VirtualServer } from './director.js';

/**
 * Findings across the directors of one VRRP group: the files given together are read as the
 * directors, and an instance (virtual_server) is matched by its name (address, port, protocol).
 */

export interface MasterMapRow {
  instance: string;
  vrid?: number;
  /** Per director: its name, declared state and priority. */
  directors: { director: string; state?: string; priority?: number }[];
  /** Where the instance is expected to run: the highest priority (keepalived's election). */
  master?: string;
}

interface Member<T> {
  director: Director;
  item: T;
}

function groupBy<T>(directors: Director[], items: (d: Director) => T[], key: (t: T) => string): Map<string, Member<T>[]> {
  const groups = new Map<string, Member<T>[]>();
  for (const director of directors) {
    for (const item of items(director)) {
      const k = key(item);
      const list = groups.get(k) ?? [];
      list.push({ director, item });
      groups.set(k, list);
    }
  }
  return groups;
}

const place = (m: Member<Instance | VirtualServer>, keyword?: string): Place => {
  const node = keyword ? (first(m.item.node, keyword) ?? m.item.node) : m.item.node;
  return { file: node.file, line: node.line };
};

function describe(members: Member<Instance>[], value: (i: Instance) => string): string {
  return members.map((m) => `${m.director.name}: ${value(m.item)}`).join(', ');
}

/** When members disagree on `value`, one finding at the first, naming the others. */
function mismatch(
  members: Member<Instance>[],
  value: (i: Instance) => string,
  emit: (at: Place, related: Place[], detail: string) => Finding,
  keyword: string,
): Finding[] {
  if (new Set(members.map((m) => value(m.item))).size <= 1) return [];
  const [head, ...rest] = members.map((m) => place(m, keyword));
  return [emit(head as Place, rest, describe(members, value))];
}

function instanceFindings(name: string, members: Member<Instance>[], all: number): Finding[] {
  const out: Finding[] = [];
  const places = members.map((m) => place(m));
  if (members.length < all) {
    const missing = all - members.length;
    out.push(finding('cross-instance-missing', places[0] as Place, `vrrp_instance ${name} is on ${members.length} of ${all} directors (${missing} without it)`, 'define the instance on every director of the group, or lint the directors of each group together', places.slice(1)));
  }
  if (members.length < 2) return out;
  out.push(
    ...mismatch(members, (i) => String(i.vrid ?? 'none'), (at, rel, d) => finding('cross-vrid-mismatch', at, `vrrp_instance ${name} has different virtual_router_id on the directors (${d}): each side elects itself MASTER — split brain`, 'use one virtual_router_id for the instance on every director', rel), 'virtual_router_id'),
    // Secrets stay out of messages: only say that they differ.
    ...mismatch(members, (i) => (i.auth ? `${i.auth.type}:${i.auth.pass}` : 'none'), (at, rel) => finding('cross-auth-mismatch', at, `vrrp_instance ${name} has different authentication on the directors: adverts are dropped — split brain`, 'use the same auth_type and auth_pass (first 8 characters) on every director, or none anywhere', rel), 'authentication'),
    ...mismatch(members, (i) => String(i.advertInt ?? 1), (at, rel, d) => finding('cross-advert-mismatch', at, `vrrp_instance ${name} has different advert_int on the directors (${d}): adverts are dropped — split brain`, 'use one advert_int for the instance on every director', rel), 'advert_int'),
    ...mismatch(members, (i) => i.vips.join(' ') || 'none', (at, rel, d) => finding('cross-vip-mismatch', at, `vrrp_instance ${name} has different VIP sets on the directors (${d})`, 'list the same virtual_ipaddress entries on every director', rel), 'virtual_ipaddress'),
  );
  out.push(...unicastFindings(name, members));
  const priorities = members.map((m) => m.item.priority ?? 100);
  if (new Set(priorities).size < priorities.length) {
    const [head, ...rest] = members.map((m) => place(m, 'priority'));
    out.push(finding('cross-equal-priority', head as Place, `vrrp_instance ${name} has equal priorities on the directors (${describe(members, (i) => String(i.priority ?? 100))}): the election falls to the highest IP address`, 'give every director of the instance a distinct priority (e.g. 150 and 100)', rest));
  }
  // All BACKUP with distinct priorities is a sound design (the priorities elect); several
  // state MASTER directors are not: each claims the VIPs at start until adverts settle it.
  const masters = members.filter((m) => m.item.state === 'MASTER');
  if (masters.length > 1) {
    const [head, ...rest] = masters.map((m) => place(m, 'state'));
    out.push(finding('cross-master-count', head as Place, `vrrp_instance ${name} has ${masters.length} directors with state MASTER (${describe(members, (i) => i.state ?? 'BACKUP')}): exactly one is intended`, 'state MASTER on the director with the highest priority, BACKUP on the others', rest));
  } else if (masters.length === 1) {
    const top = Math.max(...priorities);
    const master = masters[0] as Member<Instance>;
    if ((master.item.priority ?? 100) < top) {
      out.push(finding('cross-master-count', place(master, 'priority'), `vrrp_instance ${name}: the state MASTER director (${master.director.name}) does not have the highest priority; it loses the election`, 'give the intended MASTER the highest priority', members.filter((m) => m !== master).map((m) => place(m))));
    }
  }
  const withNotify = members.filter((m) => m.item.notify);
  if (withNotify.length > 0 && withNotify.length < members.length) {
    const without = members.filter((m) => !m.item.notify);
    const [head, ...rest] = [...without, ...withNotify].map((m) => place(m));
    out.push(finding('cross-notify-missing', head as Place, `vrrp_instance ${name} has notify hooks on ${withNotify.map((m) => m.director.name).join(', ')} but not on ${without.map((m) => m.director.name).join(', ')}: transitions there go unreported`, 'add the same notify (e.g. notify "/usr/bin/kawatch notify") on every director', rest));
  }
  return out;
}

/** Unicast adverts reach only the listed peers: every director must list every other one. */
function unicastFindings(name: string, members: Member<Instance>[]): Finding[] {
  const unicast = members.filter((m) => m.item.unicastPeers !== undefined);
  if (unicast.length === 0) return [];
  const multicast = members.filter((m) => m.item.unicastPeers === undefined);
  if (multicast.length > 0) {
    const [head, ...rest] = [...multicast, ...unicast].map((m) => place(m));
    return [finding('cross-unicast-mismatch', head as Place, `vrrp_instance ${name} uses multicast on ${multicast.map((m) => m.director.name).join(', ')} but unicast on ${unicast.map((m) => m.director.name).join(', ')}: neither hears the other — split brain`, 'give every director of the instance a unicast_peer block listing the others (or none anywhere)', rest)];
  }
  const out: Finding[] = [];
  for (const m of unicast) {
    const src = m.item.unicastSrc;
    if (src === undefined) continue;
    for (const other of unicast) {
      if (other === m || other.item.unicastPeers?.includes(src)) continue;
      out.push(finding('cross-unicast-mismatch', place(other, 'unicast_peer'), `vrrp_instance ${name} on ${other.director.name} does not list ${src} (unicast_src_ip of ${m.director.name}) in unicast_peer: its adverts are not sent there — split brain`, `add ${src} to unicast_peer on ${other.director.name}`, [place(m, 'unicast_src_ip')]));
    }
  }
  return out;
}

function vridCollisions(directors: Director[]): Finding[] {
  const out: Finding[] = [];
  const byVrid = groupBy(directors, (d) => d.instances.filter((i) => i.vrid !== undefined), (i) => `${i.interface ?? ''}/${i.vrid}`);
  for (const members of byVrid.values()) {
    const names = [...new Set(members.map((m) => m.item.name))];
    if (names.length < 2) continue;
    const [head, ...rest] = members.map((m) => place(m, 'virtual_router_id'));
    out.push(finding('cross-vrid-collision', head as Place, `virtual_router_id ${members[0]?.item.vrid} on ${members[0]?.item.interface ?? 'one interface'} is used by different instances across the directors (${names.join(', ')}): they elect against each other`, 'give each instance its own virtual_router_id, the same on all its directors', rest));
  }
  return out;
}

function poolFindings(key: string, members: Member<VirtualServer>[], all: number): Finding[] {
  const places = members.map((m) => place(m));
  if (members.length < all) {
    return [finding('cross-instance-missing', places[0] as Place, `virtual_server ${key} is on ${members.length} of ${all} directors`, 'define the virtual_server on every director, so a failover keeps the service', places.slice(1))];
  }
  const shape = (vs: VirtualServer) => `${vs.scheduler ?? 'wlc'} ${vs.method ?? 'NAT'} [${vs.realServers.join(', ')}]`;
  if (new Set(members.map((m) => shape(m.item))).size <= 1) return [];
  return [finding('cross-pool-mismatch', places[0] as Place, `virtual_server ${key} differs between the directors (${members.map((m) => `${m.director.name}: ${shape(m.item)}`).join('; ')})`, 'use the same scheduler, forwarding method and real servers on every director', places.slice(1))];
}

export function crossFindings(directors: Director[]): Finding[] {
  if (directors.length < 2) return [];
  const out: Finding[] = [];
  const instances = groupBy(directors, (d) => d.instances, (i) => i.name);
  for (const [name, members] of instances) out.push(...instanceFindings(name, members, directors.length));
  out.push(...vridCollisions(directors));
  const pools = groupBy(directors, (d) => d.virtualServers, (v) => v.key);
  for (const [key, members] of pools) out.push(...poolFindings(key, members, directors.length));
  return out;
}

/** Which director each instance is meant to run on: the multi-master map. */
export function masterMap(directors: Director[]): MasterMapRow[] {
  const rows: MasterMapRow[] = [];
  for (const [name, members] of groupBy(directors, (d) => d.instances, (i) => i.name)) {
    const row: MasterMapRow = {
      instance: name,
      directors: members.map((m) => {
        const d: MasterMapRow['directors'][number] = { director: m.director.name };
        if (m.item.state !== undefined) d.state = m.item.state;
        if (m.item.priority !== undefined) d.priority = m.item.priority;
        return d;
      }),
    };
    const vrid = members[0]?.item.vrid;
    if (vrid !== undefined) row.vrid = vrid;
    const top = Math.max(...members.map((m) => m.item.priority ?? 100));
    const leaders = members.filter((m) => (m.item.priority ?? 100) === top);
    if (leaders.length === 1) row.master = (leaders[0] as Member<Instance>).director.name;
    rows.push(row);
  }
  return rows;
}
