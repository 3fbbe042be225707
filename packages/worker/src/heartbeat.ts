import os from 'node:os';
import type { Redis } from 'ioredis';
import { WORKER_HEARTBEAT_INTERVAL_MS, WORKER_HEARTBEAT_TTL_MS, queueNames, redisKeys, type WorkerHeartbeat } from '@botbackup/core';
import { TOOL_VERSION, type Logger } from '@botbackup/engine';

export interface HeartbeatOptions {
  redis: Redis;
  prefix: string;
  /** The worker's name in Redis. */
  name: string;
  queues: readonly string[];
  concurrency: number;
  logger: Logger;
  /** Default {@link WORKER_HEARTBEAT_INTERVAL_MS}; the key lives three intervals. */
  intervalMs?: number | undefined;
}

/** How long stop() waits for Redis to delete the key. */
const STOP_WAIT_MS = 2_000;

/** A running heartbeat: stop() ends the refreshes and deletes the key (so the worker leaves the dashboard at once). */
export interface Heartbeat {
  stop(): Promise<void>;
}

/**
 * Writes the worker's heartbeat (core's WorkerHeartbeat: its name, host, pid, version, queues,
 * sources, concurrency, times) to `redisKeys.workerHeartbeat` now and every interval, with a TTL of
 * three intervals: a worker killed without a word (SIGKILL, power) leaves the dashboard within
 * that. A refresh is skipped while the previous one waits for Redis (during an outage the
 * connection queues commands), and a failure is logged at debug: the worker's jobs never wait
 * for it.
 */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const { redis, prefix, name, logger } = options;
  const intervalMs = options.intervalMs ?? WORKER_HEARTBEAT_INTERVAL_MS;
  const ttlMs = options.intervalMs === undefined ? WORKER_HEARTBEAT_TTL_MS : 3 * intervalMs;
  const key = redisKeys.workerHeartbeat(prefix, name);
  const startedAt = new Date().toISOString();
  const record = (): WorkerHeartbeat => ({
    name,
    host: os.hostname(),
    pid: process.pid,
    version: TOOL_VERSION,
    queues: [...options.queues],
    sources: options.queues.flatMap((q) => queueNames.sourceOf(q) ?? []),
    concurrency: options.concurrency,
    startedAt,
    at: new Date().toISOString(),
    intervalMs,
  });
  let pending: Promise<unknown> | undefined;
  const beat = () => {
    if (pending) return;
    pending = redis
      .set(key, JSON.stringify(record()), 'PX', ttlMs)
      .catch((error: unknown) => logger.debug({ err: (error as Error).message }, 'could not write the worker heartbeat'))
      .finally(() => (pending = undefined));
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      // Only while Redis answers, and for at most STOP_WAIT_MS: a shutdown during an outage, or
      // with a Redis that hangs (connected, never answering), must not wait for it; the TTL
      // clears the key then.
      if (redis.status !== 'ready') return;
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        (async () => {
          await pending;
          await redis.del(key);
        })().catch(() => undefined),
        new Promise((resolve) => (timeout = setTimeout(resolve, STOP_WAIT_MS))),
      ]);
      clearTimeout(timeout);
    },
  };
}
