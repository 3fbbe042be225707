import type { Redis } from 'ioredis';
import { drillKeys, parseDrillRecord, type DrillRecord } from '@botbackup/core';
import type { DrillHistory } from '@botbackup/engine';

/**
 * Drill records in Redis, under the queues' prefix (see drillKeys): a hash per source whose field
 * `<store>/<backupId>` holds the newest record that read that copy (every backup of an
 * incremental's chain is marked), and the source's newest record as a string. Any worker reads
 * the hash to pick the next copy; the dashboard and status read both.
 */
export function redisDrillHistory(redis: Redis, prefix: string): DrillHistory {
  return {
    async list(sourceId: string): Promise<DrillRecord[]> {
      const values = await redis.hvals(drillKeys.copies(prefix, sourceId));
      // A damaged value only makes its copy look never drilled: it is drilled again.
      return [...new Set(values)].flatMap((value) => parseDrillRecord(value) ?? []);
    },
    async record(record: DrillRecord): Promise<void> {
      const json = JSON.stringify(record);
      const fields: Record<string, string> = {};
      for (const backupId of new Set([record.backupId, ...record.read])) fields[drillKeys.field(record.store, backupId)] = json;
      const results = await redis.multi().hset(drillKeys.copies(prefix, record.sourceId), fields).set(drillKeys.last(prefix, record.sourceId), json).exec();
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error('Redis discarded the drill record (MULTI aborted).');
    },
  };
}
