import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '@botbackup/core';
import { runBackup, streamSource, type Keyring, type Logger, type StreamEvent } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import type { Redis } from 'ioredis';
import { acquireSourceLock } from './source-lock.js';

export interface StreamersOptions {
  config: Config;
  /** The sources this worker backs up; the continuous ones among them are streamed. */
  sources: readonly string[];
  stores: BackupStore[];
  keyring: Keyring;
  logger: Logger;
  redis: Redis;
  prefix: string;
  onEvent?: (sourceId: string, event: StreamEvent) => void;
}

/** How long a streamer that failed waits before it starts again. */
const RESTART_MS = 10_000;

/**
 * Continuous protection in distributed mode: the worker that serves a source's backup queue (the
 * one beside the bot, which sees its files) also streams its WAL when the source is continuous,
 * in this process, as `botbackup stream` does. A generation's first backup holds the source's
 * lock like a backup job, so it never runs beside one; when a job holds the lock, the streamer
 * tries again a minute later. A streamer that fails is started again after 10 s (a second streamer
 * of the same database on this host is refused by its follower, see FollowerProcess).
 */
export function startStreamers(options: StreamersOptions): { ids: string[]; stop(): Promise<void> } {
  const stop = new AbortController();
  const continuous = options.config.sources.filter((s) => options.sources.includes(s.id) && s.continuous);
  const running = continuous.map((source) => keepStreaming(options, source.id, stop.signal));
  return {
    ids: continuous.map((s) => s.id),
    async stop() {
      stop.abort();
      await Promise.all(running);
    },
  };
}

async function keepStreaming(options: StreamersOptions, sourceId: string, signal: AbortSignal): Promise<void> {
  const log = options.logger.child({ source: sourceId });
  while (!signal.aborted) {
    try {
      await streamSource({
        config: options.config,
        sourceId,
        stores: options.stores,
        keyring: options.keyring,
        logger: options.logger,
        signal,
        onEvent: (event) => options.onEvent?.(sourceId, event),
        makeBaseBackup: (generation, baseSignal) => lockedBaseBackup(options, sourceId, generation, baseSignal),
      });
    } catch (error) {
      if (signal.aborted) break;
      log.error({ err: (error as Error).message }, 'the streamer stopped; starting it again in 10 s');
      await sleep(RESTART_MS, undefined, { signal }).catch(() => undefined);
    }
  }
}

/** A generation's first backup, under the source's lock (so never beside a backup job). */
async function lockedBaseBackup(options: StreamersOptions, sourceId: string, generation: string, signal: AbortSignal): Promise<string> {
  const lock = await acquireSourceLock({
    redis: options.redis,
    prefix: options.prefix,
    sourceId,
    holder: `stream-${generation}`,
    leaseMs: options.config.worker.sourceLockLeaseMs,
  });
  if ('heldBy' in lock) throw new Error(`job ${lock.heldBy} holds the source's lock`);
  try {
    const result = await runBackup({
      config: options.config,
      sourceId,
      stores: options.stores,
      keyring: options.keyring,
      logger: options.logger,
      incremental: true,
      streamGeneration: generation,
      signal: AbortSignal.any([signal, lock.lost]),
      beforeCommit: () => lock.confirm(),
    });
    return result.manifest.id;
  } finally {
    await lock.release();
  }
}
