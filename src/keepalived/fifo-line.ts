import { canonicalIp } from '../core/ip.js';
import { checkName, parseScopedState, type Parsed } from './report.js';
import { type KeepalivedReport } from '../model/vrrp.js';

const MAX_LINE = 1024;
// keepalived's FMT_VS: "[addr]:proto:port", "[group]:port" or "FWM mark"; FMT_RS: "[addr]:proto:port".
// Each part is a bounded run of one character class next to a literal: no backtracking to speak of.
const VS = String.raw`(\[[^\]\s]{1,128}\](?::[a-z?]{1,8})?:\d{1,5}|FWM \d{1,10})`;
const RS = String.raw`(\[[^\]\s]{1,128}\]:[a-z?]{1,8}:\d{1,5})`;
const RS_LINE = new RegExp(`^RS ${RS} ${VS} (UP|DOWN)$`);
const VS_LINE = new RegExp(`^VS ${VS} (UP|DOWN)$`);
const STATE_LINE = /^(INSTANCE|GROUP) "([^"]*)" (\S+)(?: (\S+))?$/;
const BRACKETED = /^\[([^\]]+)\](?::([a-z?]+))?:(\d+)$/;

/**
 * What is inside keepalived's brackets must be what keepalived prints there: an address as
 * inet_ntop writes it (never with a zone id), or — for a virtual server without a protocol — a
 * virtual_server_group name. Ports fit 16 bits, marks 32.
 */
function checkEndpoint(text: string, what: 'real server' | 'virtual server'): string | undefined {
  if (text.startsWith('FWM ')) {
    const mark = Number(text.slice(4));
    return mark <= 0xffffffff ? undefined : `${what} firewall mark ${text.slice(4)} is larger than 32 bits`;
  }
  const m = BRACKETED.exec(text)!;
  const [, inside, protocol, port] = m as unknown as [string, string, string | undefined, string];
  if (Number(port) > 65535) return `${what} port ${port} is larger than 65535`;
  if (protocol === undefined) {
    const nameError = checkName(inside, 'virtual_server_group');
    return nameError === undefined ? undefined : `${what} ${nameError}`;
  }
  if (canonicalIp(inside) !== undefined) return undefined;
  return inside.includes('%')
    ? `${what} address ${JSON.stringify(inside)} carries a zone id, which keepalived never prints (inet_ntop)`
    : `${what} address ${JSON.stringify(inside)} is not an IPv4 or IPv6 address`;
}

/** One line written by keepalived to notify_fifo / vrrp_notify_fifo / lvs_notify_fifo. */
export function parseFifoLine(line: string): Parsed<KeepalivedReport> {
  if (line.length > MAX_LINE) return { ok: false, error: `line longer than ${MAX_LINE} characters` };
  const state = STATE_LINE.exec(line);
  if (state) return parseScopedState(state[1]!, state[2]!, state[3]!, state[4]);
  const rs = RS_LINE.exec(line);
  if (rs) {
    const error = checkEndpoint(rs[1]!, 'real server') ?? checkEndpoint(rs[2]!, 'virtual server');
    if (error) return { ok: false, error: `${error} in ${JSON.stringify(line.slice(0, 120))}` };
    return { ok: true, value: { kind: 'checker', realServer: rs[1]!, virtualServer: rs[2]!, up: rs[3] === 'UP' } };
  }
  const vs = VS_LINE.exec(line);
  if (vs) {
    const error = checkEndpoint(vs[1]!, 'virtual server');
    if (error) return { ok: false, error: `${error} in ${JSON.stringify(line.slice(0, 120))}` };
    return { ok: true, value: { kind: 'checker', virtualServer: vs[1]!, up: vs[2] === 'UP' } };
  }
  return {
    ok: false,
    error: `unrecognised line ${JSON.stringify(line.slice(0, 120))}, expected INSTANCE "NAME" STATE PRIORITY, INSTANCE "NAME" MASTER_PRIORITY|BACKUP_PRIORITY PRIORITY, GROUP "NAME" STATE, VS <vs> UP|DOWN or RS <rs> <vs> UP|DOWN`,
  };
}
