import { checkName, checkState, parseScopedState, type Parsed } from './report.js';
import { type KeepalivedReport } from '../model/vrrp.js';

export const NOTIFY_USAGE = [
  'usage: kawatch notify INSTANCE|GROUP NAME STATE [PRIORITY]   (keepalived: notify "/usr/bin/kawatch notify")',
  '       kawatch notify master|backup|fault|stop [NAME]        (keepalived: notify_master "/usr/bin/kawatch notify master VI_1")',
].join('\n');

/**
 * The arguments keepalived passes to `kawatch notify`: either the four words it appends to a
 * generic `notify` script, or the state word of a per-state hook with an optional instance name.
 */
export function parseNotifyArgs(args: readonly string[]): Parsed<KeepalivedReport> {
  const fail = (why: string): Parsed<KeepalivedReport> => ({ ok: false, error: `${why}\n${NOTIFY_USAGE}` });
  const [first, ...rest] = args;
  if (first === undefined) return fail('no arguments');
  if (first === 'INSTANCE' || first === 'GROUP') {
    if (rest.length < 2 || rest.length > 3) return fail(`${first} takes NAME STATE [PRIORITY], got ${rest.length} argument(s)`);
    const parsed = parseScopedState(first, rest[0]!, rest[1]!, rest[2]);
    return parsed.ok ? parsed : fail(parsed.error);
  }
  if (!/^(master|backup|fault|stop)$/i.test(first)) {
    return fail(`unknown first argument ${JSON.stringify(first)}`);
  }
  if (rest.length > 1) return fail(`a per-state hook takes at most one instance name, got ${rest.length}`);
  const state = checkState(first);
  if (!state.ok) return fail(state.error);
  const name = rest[0];
  if (name !== undefined) {
    const nameError = checkName(name, 'instance');
    if (nameError) return fail(nameError);
  }
  return { ok: true, value: { kind: 'state', scope: 'instance', name, state: state.value } };
}
