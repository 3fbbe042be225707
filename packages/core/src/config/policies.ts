import { z } from 'zod';
import { DEFAULT_RETENTION, type RetentionPolicy } from '../retention.js';
import { duration, ms } from './fields.js';

/** A source's or the defaults' chain limits: each unset one falls back to defaults, then to {@link DEFAULT_INCREMENTAL_LIMITS}. */
export const incrementalSchema = z.strictObject({
  /** Incrementals after a full backup before the next backup is full again. */
  maxChainLength: z.number().int().min(0).max(1000).optional(),
  /** An incremental larger than this share of a full backup (uncompressed) is made full instead. */
  maxDeltaRatio: z.number().min(0).max(1).optional(),
});
type IncrementalSettings = z.output<typeof incrementalSchema>;
/** When an incremental backup is made full instead: every limit of {@link incrementalSchema}, set. */
export type IncrementalLimits = Required<IncrementalSettings>;
export const DEFAULT_INCREMENTAL_LIMITS: IncrementalLimits = { maxChainLength: 14, maxDeltaRatio: 0.5 };

const keepCount = z.number().int().min(0).max(100_000);
/** Which backups prune keeps (docs/retention.md); every field falls back to defaults.retention, then to the seed's policy. */
export const retentionSchema = z.strictObject({
  keepLast: keepCount.optional(),
  daily: keepCount.optional(),
  weekly: keepCount.optional(),
  monthly: keepCount.optional(),
  yearly: keepCount.optional(),
  keepWithin: duration.optional(),
  /** IANA time zone the days, weeks, months and years are counted in. */
  timezone: z.string().min(1).optional(),
  /** Backups younger than this are always kept. */
  grace: duration.optional(),
});
type RetentionSettings = z.output<typeof retentionSchema>;

/** A source's chain limits: each from the source, else from defaults, else {@link DEFAULT_INCREMENTAL_LIMITS}. */
export function incrementalLimits(source: IncrementalSettings | undefined, defaults: IncrementalSettings | undefined): IncrementalLimits {
  const pick = <K extends keyof IncrementalLimits>(key: K) => source?.[key] ?? defaults?.[key] ?? DEFAULT_INCREMENTAL_LIMITS[key];
  return { maxChainLength: pick('maxChainLength'), maxDeltaRatio: pick('maxDeltaRatio') };
}

/** A source's retention: each field from the source, else from defaults, else the seed's policy. */
export function retentionPolicy(
  source: RetentionSettings | undefined,
  defaults: RetentionSettings | undefined,
  scheduleKeepWithinMs: Record<string, number>,
): RetentionPolicy {
  const pick = <K extends keyof RetentionSettings>(key: K) => source?.[key] ?? defaults?.[key];
  const keepWithin = pick('keepWithin');
  const grace = pick('grace');
  return {
    keepLast: pick('keepLast') ?? DEFAULT_RETENTION.keepLast,
    daily: pick('daily') ?? DEFAULT_RETENTION.daily,
    weekly: pick('weekly') ?? DEFAULT_RETENTION.weekly,
    monthly: pick('monthly') ?? DEFAULT_RETENTION.monthly,
    yearly: pick('yearly') ?? DEFAULT_RETENTION.yearly,
    keepWithinMs: keepWithin === undefined ? DEFAULT_RETENTION.keepWithinMs : ms(keepWithin),
    timezone: pick('timezone') ?? DEFAULT_RETENTION.timezone,
    graceMs: grace === undefined ? DEFAULT_RETENTION.graceMs : ms(grace),
    scheduleKeepWithinMs,
  };
}
