import type { ParsedConf } from '../keepalived/conf/ast.js';

/** keepalived keeps the first 8 characters of auth_pass, as VRRPv2's authentication data holds. */
const PASS_LENGTH = 8;

/** What the observer takes from keepalived.conf: the interfaces its instances run on, and their simple passwords. */
export interface WireConf {
  interfaces: string[];
  /** `INTF|VRID` → the auth_pass of an `auth_type PASS` instance; stays in this process. */
  passwords: Map<string, Uint8Array>;
}

/** Pure over the parsed file: every vrrp_instance's `interface`, and the passwords by interface and VRID. */
export function wireConfOf(conf: ParsedConf): WireConf {
  const interfaces = new Set<string>();
  const passwords = new Map<string, Uint8Array>();
  for (const node of conf.nodes) {
    if (node.keyword !== 'vrrp_instance' || node.condition !== undefined) continue;
    const arg = (keyword: string) => node.children?.find((c) => c.keyword === keyword)?.args[0];
    const intf = arg('interface');
    if (intf === undefined || !/^[^\s/]{1,15}$/.test(intf)) continue;
    interfaces.add(intf);
    const vrid = Number(arg('virtual_router_id'));
    const auth = node.children?.find((c) => c.keyword === 'authentication');
    const type = auth?.children?.find((c) => c.keyword === 'auth_type')?.args[0];
    const pass = auth?.children?.find((c) => c.keyword === 'auth_pass')?.args[0];
    if (Number.isInteger(vrid) && type?.toUpperCase() === 'PASS' && pass !== undefined) passwords.set(`${intf}|${vrid}`, new TextEncoder().encode(pass.slice(0, PASS_LENGTH)));
  }
  return { interfaces: [...interfaces].sort(), passwords };
}
