import type { ParsedConf } from './ast.js';

/** keepalived's auth_type codes (vrrp.h VRRP_AUTH_PASS 1, VRRP_AUTH_AH 2), as its dumps print them. */
const AUTH_CODES: Record<string, number> = { PASS: 1, AH: 2 };
/** keepalived keeps the first 8 characters of auth_pass (vrrp_parser.c: sizeof vrrp->auth_data). */
const PASS_LENGTH = 8;

/**
 * Each vrrp_instance's authentication settings from keepalived.conf, in the form the dumps give
 * them (`TYPE:PASSWORD`), for keepalived 2.4 and later whose dumps print `********`: the material
 * of the keyed digest the directors compare, which never leaves the host itself.
 */
export function authMaterialByInstance(conf: ParsedConf): Map<string, string> {
  const out = new Map<string, string>();
  for (const node of conf.nodes) {
    const name = node.args[0];
    if (node.keyword !== 'vrrp_instance' || name === undefined || node.condition !== undefined) continue;
    const auth = node.children?.find((c) => c.keyword === 'authentication');
    const type = auth?.children?.find((c) => c.keyword === 'auth_type')?.args[0];
    const pass = auth?.children?.find((c) => c.keyword === 'auth_pass')?.args[0] ?? '';
    const code = type === undefined ? 0 : AUTH_CODES[type.toUpperCase()];
    // An auth_type keepalived refuses leaves the instance without authentication, as keepalived does.
    out.set(name, code === undefined || code === 0 ? '0:' : `${code}:${pass.slice(0, PASS_LENGTH)}`);
  }
  return out;
}
