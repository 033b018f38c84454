import { z } from 'zod';
import { canonicalIp } from '../core/ip.js';
import { VRRP_STAT_KEYS, type DumpInstance, type Vip, type VrrpScriptStatus, type VrrpStatKey, type VrrpStats, type VrrpState } from '../model/vrrp.js';
import { checkInterfaceName, checkName, isPlausibleEpochMs } from './report.js';

export class DumpError extends Error {
  override name = 'DumpError';
}

// keepalived's numeric states (vrrp.h): INIT 0, BACK 1, MAST 2, FAULT 3, DELETED 97, STOP 98.
const STATE_BY_CODE: Record<number, VrrpState> = { 0: 'INIT', 1: 'BACKUP', 2: 'MASTER', 3: 'FAULT', 97: 'DELETED', 98: 'STOP' };

/**
 * Every number is bounded where it enters, by what keepalived can hold: a counter is a
 * non-negative safe integer, priorities 0..255, a VRID 1..255, advert_int 0..255 s (keepalived's
 * vrrp_adv_handler), garp_delay up to UINT_MAX/TIMER_HZ s. A last_transition outside the plausible
 * window is not known rather than a date no formatter can print.
 */
const counter = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const stateCode = z.number().int().refine((n) => Object.hasOwn(STATE_BY_CODE, n), { message: 'unknown VRRP state code' });
const name = (what: string) => z.string().superRefine((text, ctx) => {
  const error = checkName(text, what);
  if (error) ctx.addIssue({ code: 'custom', message: error });
});
const interfaceName = z.string().superRefine((text, ctx) => {
  const error = text === '' ? undefined : checkInterfaceName(text);
  if (error) ctx.addIssue({ code: 'custom', message: error });
});
const epochSeconds = z.number().transform((s) => (isPlausibleEpochMs(s * 1000) ? s : undefined));
const VIP_MAX = 512;
const entrySchema = z.object({
  data: z.object({
    iname: name('instance'),
    vrid: z.number().int().min(1).max(255),
    ifp_ifname: interfaceName.optional(),
    state: stateCode,
    base_priority: z.number().int().min(0).max(255).optional(),
    effective_priority: z.number().int().min(0).max(255).optional(),
    last_transition: epochSeconds.optional(),
    adver_int: z.number().min(0).max(255).optional(),
    nopreempt: z.union([z.boolean(), z.number()]).optional(),
    auth_type: z.number().int().min(0).max(2).optional(),
    auth_data: z.string().max(1024).optional(),
    garp_delay: z.number().min(0).max(4_294_967).optional(),
    vips: z.array(z.string().max(VIP_MAX)).default([]),
    evips: z.array(z.string().max(VIP_MAX)).default([]),
    // The commands of the tracked vrrp_scripts, not their names nor verdicts: only whether there are any.
    track_script: z.array(z.string().max(4096)).max(4096).optional(),
  }),
  stats: z.object(Object.fromEntries(VRRP_STAT_KEYS.map((k) => [k, counter])) as Record<VrrpStatKey, typeof counter>).optional(),
});

/** "10.0.0.50/24 dev eth0 scope global set" → address, prefix, dev. */
export function parseVip(text: string): Vip | undefined {
  const [addr, ...rest] = text.trim().split(/\s+/);
  const m = addr ? /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(addr) : null;
  const address = m ? canonicalIp(m[1]!) : undefined;
  if (!m || !address) return undefined;
  const prefix = m[2] === undefined ? undefined : Number(m[2]);
  if (prefix !== undefined && prefix > (address.includes(':') ? 128 : 32)) return undefined;
  const devAt = rest.indexOf('dev');
  const dev = devAt >= 0 ? rest[devAt + 1] : undefined;
  if (dev !== undefined && checkInterfaceName(dev) !== undefined) return undefined;
  return { address, prefix, dev };
}

/**
 * Parse the text of `keepalived.json`: an array of entries, or `{"vrrp": [...]}` (json_version 2).
 * A broken entry fails the whole dump with its position: a half-applied snapshot would lie.
 * The password (`auth_data`) goes no further than `digestAuth`.
 */
export function parseDump(
  text: string,
  file = 'keepalived.json',
  digestAuth?: (material: string) => string,
  /** Per instance, the settings from keepalived.conf (conf/auth.ts), for a dump that masks the password (2.4+). */
  confAuth?: ReadonlyMap<string, string>,
): DumpInstance[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new DumpError(`${file}: not valid JSON (${(err as Error).message}); an incomplete write is retried, a persistent one is a keepalived problem`);
  }
  const entries = Array.isArray(doc) ? doc : isVrrpObject(doc) ? doc.vrrp : undefined;
  if (!entries) throw new DumpError(`${file}: expected an array of VRRP instances or an object with a "vrrp" array`);
  return entries.map((entry, index) => {
    const parsed = entrySchema.safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new DumpError(`${file}: entry ${index} (${issue.path.join('.') || 'entry'}): ${issue.message}`);
    }
    const { data, stats } = parsed.data;
    const withDev = (list: string[]) =>
      list
        .map((v) => parseVip(v))
        .filter((v): v is Vip => v !== undefined)
        .map((v) => ({ ...v, dev: v.dev ?? data.ifp_ifname }));
    return {
      name: data.iname,
      vrid: data.vrid,
      interface: data.ifp_ifname || undefined,
      state: STATE_BY_CODE[data.state]!,
      basePriority: data.base_priority,
      effectivePriority: data.effective_priority,
      lastTransition: data.last_transition,
      advertInterval: data.adver_int,
      nopreempt: data.nopreempt === undefined ? undefined : Boolean(data.nopreempt),
      authType: data.auth_type,
      authDigest: digestOf(digestAuth, `${data.auth_type ?? 0}:${data.auth_data ?? ''}`, confAuth?.get(data.iname)),
      garpDelay: data.garp_delay,
      vips: withDev(data.vips),
      excludedVips: withDev(data.evips),
      stats: stats as VrrpStats | undefined,
      // Their verdicts are in keepalived.data only (withTextDetails): known to be tracked, not yet how they fare.
      ...(data.track_script && data.track_script.length > 0 ? { scripts: [] } : {}),
    };
  });
}

/**
 * The JSON dump's instances with what only keepalived.data tells of those that track scripts
 * (parseTextDump): the `vrrp_script` verdicts, and how many have not answered yet.
 */
export function withTextDetails(instances: DumpInstance[], beside: readonly DumpInstance[]): DumpInstance[] {
  const byName = new Map(beside.map((i) => [i.name, i]));
  return instances.map((i) => {
    if (i.scripts === undefined) return i;
    const text = byName.get(i.name);
    return { ...i, scripts: text?.scripts ?? [], ...(text?.scriptsAwaited === undefined ? {} : { scriptsAwaited: text.scriptsAwaited }) };
  });
}

/** Whether two dumps (the JSON and keepalived.data) are of one moment: the same state for every instance both show. */
export function sameStates(a: readonly DumpInstance[], b: readonly DumpInstance[]): boolean {
  const states = new Map(a.map((i) => [i.name, i.state]));
  return b.every((i) => !states.has(i.name) || states.get(i.name) === i.state);
}

/** 2.4.0 and later print this instead of the password, in the JSON and the text dump alike. */
export const MASKED_PASSWORD = '********';

/**
 * The digest of an instance's authentication settings: from the dump, or, where the dump masks the
 * password, from keepalived.conf; none rather than a digest of the mask, which every director shares.
 */
export function digestOf(digestAuth: ((material: string) => string) | undefined, dumped: string, fromConf: string | undefined): string | undefined {
  if (!digestAuth) return undefined;
  if (!dumped.endsWith(`:${MASKED_PASSWORD}`)) return digestAuth(dumped);
  return fromConf === undefined ? undefined : digestAuth(fromConf);
}

function isVrrpObject(doc: unknown): doc is { vrrp: unknown[] } {
  return typeof doc === 'object' && doc !== null && Array.isArray((doc as { vrrp?: unknown }).vrrp);
}
