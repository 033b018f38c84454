import { parseScopedState, type Parsed } from './report.js';
import { type KeepalivedReport } from '../model/vrrp.js';

const MAX_LINE = 1024;
// keepalived's FMT_VS: "[addr]:proto:port", "[group]:port" or "FWM mark"; FMT_RS: "[addr]:proto:port".
const VS = String.raw`(\[[^\]\s]+\](?::[a-z?]+)?:\d{1,5}|FWM \d{1,10})`;
const RS = String.raw`(\[[^\]\s]+\]:[a-z?]+:\d{1,5})`;
const RS_LINE = new RegExp(`^RS ${RS} ${VS} (UP|DOWN)$`);
const VS_LINE = new RegExp(`^VS ${VS} (UP|DOWN)$`);
const STATE_LINE = /^(INSTANCE|GROUP) "([^"]*)" (\S+)(?: (\S+))?$/;

/** One line written by keepalived to notify_fifo / vrrp_notify_fifo / lvs_notify_fifo. */
export function parseFifoLine(line: string): Parsed<KeepalivedReport> {
  if (line.length > MAX_LINE) return { ok: false, error: `line longer than ${MAX_LINE} characters` };
  const state = STATE_LINE.exec(line);
  if (state) return parseScopedState(state[1]!, state[2]!, state[3]!, state[4]);
  const rs = RS_LINE.exec(line);
  if (rs) return { ok: true, value: { kind: 'checker', realServer: rs[1]!, virtualServer: rs[2]!, up: rs[3] === 'UP' } };
  const vs = VS_LINE.exec(line);
  if (vs) return { ok: true, value: { kind: 'checker', virtualServer: vs[1]!, up: vs[2] === 'UP' } };
  return {
    ok: false,
    error: `unrecognised line ${JSON.stringify(line.slice(0, 120))}, expected INSTANCE "NAME" STATE PRIORITY, GROUP "NAME" STATE, VS <vs> UP|DOWN or RS <rs> <vs> UP|DOWN`,
  };
}
