import type { Redis } from 'ioredis';
import { drillKeys, parseDrillRecord, type DrillRecord } from '@botbackup/core';

/** The newest drill of each source that has one, by source id. */
export type LastDrills = Record<string, DrillRecord>;

/**
 * Reads the newest drill record of each source (`drillKeys.last`) from Redis, one GET per
 * source. A source without a record, or whose record cannot be parsed, is left out.
 */
export async function readLastDrills(redis: Redis, prefix: string, sourceIds: readonly string[]): Promise<LastDrills> {
  const texts = await Promise.all(sourceIds.map((id) => redis.get(drillKeys.last(prefix, id))));
  const out: LastDrills = {};
  sourceIds.forEach((id, i) => {
    const record = texts[i] == null ? undefined : parseDrillRecord(texts[i]!);
    if (record) out[id] = record;
  });
  return out;
}
