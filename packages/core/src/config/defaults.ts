import { z } from 'zod';
import { duration, ms, pathIn, timeZoneProblem } from './fields.js';
import type { Problem } from './issues.js';
import { incrementalSchema, retentionSchema } from './policies.js';

/** The `defaults` section: what sources fall back on, and settings of every run. */
export function defaultsSchema(baseDir: string) {
  return z
    .strictObject({
      /** Where snapshots are staged before they are packed; the system temp folder by default. */
      tmpDir: pathIn(baseDir).optional(),
      /** Window for `log` file sets without their own maxAge. */
      logMaxAge: duration.default('7d'),
      /** CPU nice value for backup and verify work, so the bot always wins a core (0: leave as is). */
      nice: z.number().int().min(0).max(19).default(10),
      /** Chain limits of incremental backups, for sources that set none of their own. */
      incremental: incrementalSchema.optional(),
      /** Objects of a backup with no manifest in any target, older than this, are leftovers that replicate removes. */
      orphanGrace: duration.default('6h'),
      /** Retention of sources that set none (or only some fields) of their own. */
      retention: retentionSchema.optional(),
    })
    .transform(({ orphanGrace, ...defaults }) => ({ ...defaults, orphanGraceMs: ms(orphanGrace) }))
    .prefault({});
}
export type Defaults = z.output<ReturnType<typeof defaultsSchema>>;

export function defaultsProblem(defaults: Defaults): Problem | undefined {
  const zone = timeZoneProblem(defaults.retention?.timezone);
  return zone ? { path: ['defaults', 'retention', 'timezone'], message: zone } : undefined;
}
