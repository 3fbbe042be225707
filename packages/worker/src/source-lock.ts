import type { Redis } from 'ioredis';
import { redisKeys } from '@botbackup/core';

// Lua, so that each step is atomic on the server. The lock's value is the id of the job that
// holds it: a job that another worker takes over after a crash has the same id, so it gets the
// lock its dead worker held instead of waiting for the lease to run out.
const ACQUIRE = `local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** A held source lock: `lost` aborts when it can no longer be renewed; release() gives it back. */
export interface SourceLock {
  readonly lost: AbortSignal;
  /** Checks with Redis, now, that the lock is still this job's; throws (and aborts `lost`) if not. */
  confirm(): Promise<void>;
  release(): Promise<void>;
}

export interface SourceLockOptions {
  redis: Redis;
  prefix: string;
  sourceId: string;
  /** The job that holds it. */
  holder: string;
  /** How long the lock lives without renewal; renewed every third of it. */
  leaseMs: number;
}

/**
 * Takes the lock of a source, so that no two jobs work on one source at once (two backups, or a
 * backup and a prune). Returns undefined when another job holds it, with that job's id in
 * `heldBy`. While held it is renewed in the background; if a renewal finds it gone (taken over
 * after this process stalled) or Redis stays unreachable until the lease has run out, `lost`
 * aborts, and the work must stop: another worker may hold it by then.
 */
export async function acquireSourceLock(options: SourceLockOptions): Promise<SourceLock | { heldBy: string }> {
  const { redis, holder, leaseMs } = options;
  const key = redisKeys.sourceLock(options.prefix, options.sourceId);
  const got = (await redis.eval(ACQUIRE, 1, key, holder, String(leaseMs))) as number;
  if (got !== 1) return { heldBy: (await redis.get(key)) ?? 'another job' };
  const lost = new AbortController();
  let renewedAt = Date.now();
  let stopped = false;
  const timer = setInterval(
    () => {
      redis.eval(RENEW, 1, key, holder, String(leaseMs)).then(
        (ok) => {
          if (stopped) return;
          if (ok === 1) renewedAt = Date.now();
          else lost.abort(new Error(`the lock of source "${options.sourceId}" was lost (another worker took it over)`));
        },
        () => {
          // Redis is unreachable: the lock is still ours until its lease runs out.
          if (!stopped && Date.now() - renewedAt >= leaseMs)
            lost.abort(new Error(`the lock of source "${options.sourceId}" expired while Redis was unreachable`));
        },
      );
    },
    Math.max(100, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return {
    lost: lost.signal,
    async confirm() {
      const value = await redis.get(key);
      if (value !== holder) {
        const error = new Error(`the lock of source "${options.sourceId}" was lost (another worker took it over)`);
        lost.abort(error);
        throw error;
      }
    },
    async release() {
      stopped = true;
      clearInterval(timer);
      await redis.eval(RELEASE, 1, key, holder).catch(() => undefined);
    },
  };
}
