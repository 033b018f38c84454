import { z } from 'zod';
import { firstIssue } from '../core/persisted.js';
import { parseProbeTarget, type ProbeTarget } from '../core/probe-target.js';
import { PEER_NAME } from '../model/peer.js';
import type { DrillsRequest } from './drills.js';
import { DRILL_MODES, type DrillMode } from './plan.js';

/** A drill request as the API takes it (`POST /api/v1/drill`), from the CLI or a script. */
const nameSchema = z.string().regex(PEER_NAME, { message: 'expected an instance or node name (visible ASCII, no quotes)' });
const probeSchema = z.string().max(2048).transform((text, ctx): ProbeTarget => {
  const target = parseProbeTarget(text);
  if (typeof target === 'string') {
    ctx.addIssue({ code: 'custom', message: target });
    return z.NEVER;
  }
  return target;
});

export const drillRequestSchema = z.strictObject({
  instances: z.array(nameSchema).min(1).max(64),
  to: nameSchema.optional(),
  probe: probeSchema.optional(),
  mode: z.enum(DRILL_MODES).default('track'),
  stay: z.boolean().default(false),
  dry_run: z.boolean().default(false),
});

export const restoreRequestSchema = z.strictObject({ instance: nameSchema, mode: z.enum(DRILL_MODES).default('track') });

/** The request, or what is wrong with it (`field: why`). */
export function parseDrillRequest(body: unknown): DrillsRequest | string {
  const parsed = drillRequestSchema.safeParse(body);
  if (!parsed.success) return firstIssue(parsed.error);
  const { dry_run, ...rest } = parsed.data;
  return { ...rest, dryRun: dry_run };
}

export function parseRestoreRequest(body: unknown): { instance: string; mode: DrillMode } | string {
  const parsed = restoreRequestSchema.safeParse(body);
  return parsed.success ? parsed.data : firstIssue(parsed.error);
}
