import { z } from 'zod';
import { canonicalIp } from '../core/ip.js';
import { VRRP_STAT_KEYS, type DumpInstance, type Vip, type VrrpStatKey, type VrrpStats, type VrrpState } from '../model/vrrp.js';

export class DumpError extends Error {
  override name = 'DumpError';
}

// keepalived's numeric states (vrrp.h): INIT 0, BACK 1, MAST 2, FAULT 3, DELETED 97, STOP 98.
const STATE_BY_CODE: Record<number, VrrpState> = { 0: 'INIT', 1: 'BACKUP', 2: 'MASTER', 3: 'FAULT', 97: 'DELETED', 98: 'STOP' };

const counter = z.number().int().nonnegative();
const stateCode = z.number().int().refine((n) => n in STATE_BY_CODE, { message: 'unknown VRRP state code' });
const entrySchema = z.object({
  data: z.object({
    iname: z.string().min(1),
    vrid: z.number().int().min(1).max(255),
    ifp_ifname: z.string().optional(),
    state: stateCode,
    base_priority: z.number().int().min(0).max(255).optional(),
    effective_priority: z.number().int().min(0).max(255).optional(),
    last_transition: z.number().nonnegative().optional(),
    adver_int: z.number().nonnegative().optional(),
    nopreempt: z.union([z.boolean(), z.number()]).optional(),
    auth_type: z.number().int().optional(),
    auth_data: z.string().optional(),
    garp_delay: z.number().nonnegative().optional(),
    vips: z.array(z.string()).default([]),
  }),
  stats: z.object(Object.fromEntries(VRRP_STAT_KEYS.map((k) => [k, counter])) as Record<VrrpStatKey, typeof counter>).optional(),
});

/** "10.0.0.50/24 dev eth0 scope global set" → address, prefix, dev. */
export function parseVip(text: string): Vip | undefined {
  const [addr, ...rest] = text.trim().split(/\s+/);
  const m = addr ? /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(addr) : null;
  const address = m ? canonicalIp(m[1]!) : undefined;
  if (!m || !address) return undefined;
  const devAt = rest.indexOf('dev');
  return {
    address,
    prefix: m[2] === undefined ? undefined : Number(m[2]),
    dev: devAt >= 0 ? rest[devAt + 1] : undefined,
  };
}

/**
 * Parse the text of `keepalived.json`: an array of entries, or `{"vrrp": [...]}` (json_version 2).
 * A broken entry fails the whole dump with its position: a half-applied snapshot would lie.
 * The password (`auth_data`) goes no further than `digestAuth`.
 */
export function parseDump(text: string, file = 'keepalived.json', digestAuth?: (material: string) => string): DumpInstance[] {
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
    const vips = data.vips.map((v) => parseVip(v)).filter((v): v is Vip => v !== undefined);
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
      authDigest: digestAuth?.(`${data.auth_type ?? 0}:${data.auth_data ?? ''}`),
      garpDelay: data.garp_delay,
      vips: vips.map((v) => ({ ...v, dev: v.dev ?? data.ifp_ifname })),
      stats: stats as VrrpStats | undefined,
    };
  });
}

function isVrrpObject(doc: unknown): doc is { vrrp: unknown[] } {
  return typeof doc === 'object' && doc !== null && Array.isArray((doc as { vrrp?: unknown }).vrrp);
}
