import type { Redis } from 'ioredis';
import { parseWorkerHeartbeat, queueNames, redisKeys, type WorkerHeartbeat } from '@botbackup/core';

/** A worker as the Workers panel shows it: its heartbeat, and how old that is. */
export interface WorkerView extends WorkerHeartbeat {
  /** Seconds since its last heartbeat (never negative: a worker's clock may run ahead). */
  heartbeatAgeSeconds: number;
  /** Its heartbeat is older than two intervals: it may have stopped (its key expires after three). */
  late: boolean;
}

/** A configured queue that no live worker serves: its jobs wait. */
export interface UnservedQueue {
  queue: string;
  /** The source whose backups go to it; null for the maintenance queue. */
  sourceId: string | null;
}

/** The Workers panel: the workers seen in Redis, and the configured queues none of them serves. */
export interface WorkersPanel {
  workers: WorkerView[];
  unserved: UnservedQueue[];
}

/** The queues a config's jobs go to: maintenance, then each source's backup queue. */
export function configuredQueues(sourceIds: readonly string[]): UnservedQueue[] {
  return [{ queue: queueNames.maintenance, sourceId: null }, ...sourceIds.map((id) => ({ queue: queueNames.backup(id), sourceId: id }))];
}

/**
 * The Workers panel (pure): the workers by name, each with the age of its heartbeat, and which of
 * `configured` no worker serves. A late worker still counts as serving its queues until its
 * heartbeat expires.
 */
export function workersPanel(heartbeats: readonly WorkerHeartbeat[], configured: readonly UnservedQueue[], now: Date): WorkersPanel {
  const workers = heartbeats
    .map((h): WorkerView => {
      const ageMs = Math.max(0, now.getTime() - Date.parse(h.at));
      return { ...h, heartbeatAgeSeconds: ageMs / 1000, late: ageMs > 2 * h.intervalMs };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const served = new Set(workers.flatMap((w) => w.queues));
  return { workers, unserved: configured.filter((q) => !served.has(q.queue)) };
}

/** Keys SCAN looks at per call. */
const SCAN_COUNT = 500;

/**
 * The heartbeats of the workers running under `prefix` (redisKeys.workerHeartbeat): SCAN for their
 * keys, then one MGET. A key that expired meanwhile, or holds no valid heartbeat, is left out.
 */
export async function readHeartbeats(redis: Redis, prefix: string): Promise<WorkerHeartbeat[]> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', redisKeys.workerHeartbeats(prefix), 'COUNT', SCAN_COUNT);
    for (const key of found) keys.add(key);
    cursor = next;
  } while (cursor !== '0');
  if (keys.size === 0) return [];
  const texts = await redis.mget(...keys);
  return texts.flatMap((text) => (text === null ? [] : (parseWorkerHeartbeat(text) ?? [])));
}
