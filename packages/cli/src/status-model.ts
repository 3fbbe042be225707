import type { DrillCopy } from '@botbackup/core';
import { isGoodBackup, type CatalogBackup } from '@botbackup/engine';
import type { JobView } from './inspect.js';

// The pure functions of `status` over the catalog and the jobs read from Redis. Apart from
// inspect.ts, which reads Redis (BullMQ, ioredis), so that `status` without Redis loads neither.

/**
 * The copies of a source's backups a drill could read, per the catalog (pure): every copy a
 * target holds (verified, unverified or bad), and those of a target that cannot be read now but
 * held them at the last sync; not the `missing` ones.
 */
export function drillCopiesOf(backups: readonly CatalogBackup[], sourceId: string): DrillCopy[] {
  const out: DrillCopy[] = [];
  for (const b of backups) {
    if (b.sourceId !== sourceId) continue;
    for (const c of b.copies) {
      if (c.state === 'missing' || (c.state === 'unreachable' && c.at === undefined)) continue;
      out.push({ backupId: b.backupId, store: c.target });
    }
  }
  return out;
}

/** The newest good backup of a source among the catalog's (pure; "good": {@link isGoodBackup}). */
export function newestGoodBackup(backups: readonly CatalogBackup[], sourceId: string): CatalogBackup | undefined {
  let best: (CatalogBackup & { manifest: object & { completedAt: string } }) | undefined;
  for (const b of backups) {
    if (b.sourceId !== sourceId || !isGoodBackup(b)) continue;
    if (!best || b.manifest.completedAt > best.manifest.completedAt) best = b;
  }
  return best;
}

/** The newest finished job (completed or failed) of a source among `finished` (pure); undefined when none. */
export function lastJobOf(finished: readonly JobView[], sourceId: string): JobView | undefined {
  let last: JobView | undefined;
  for (const job of finished) {
    if (job.payload.sourceId !== sourceId || job.finishedAt === null) continue;
    if (!last || job.finishedAt > last.finishedAt!) last = job;
  }
  return last;
}
