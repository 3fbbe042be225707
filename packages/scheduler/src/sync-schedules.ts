import { isDeepStrictEqual } from 'node:util';
import type { JobSchedulerJson, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AbortedError,
  jobName,
  jobOptions,
  parseJobPayload,
  queueFor,
  queueKeys,
  type Config,
  type JobPayload,
  type RedisConnectionOptions,
  type ScheduleConfig,
} from '@botbackup/core';
import { closeProducer, connectProducer, redisError } from './connect-redis.js';

/** What the scheduler logs through: a pino logger fits. */
export interface SchedulerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SyncSchedulesOptions {
  /** Its `schedules`, `redis.prefix` and `worker` (attempts, how long finished jobs are kept). */
  config: Config;
  connection: RedisConnectionOptions;
  logger?: SchedulerLogger | undefined;
  /** Aborting stops between two changes and drops the connection; the next sync completes the rest. */
  signal?: AbortSignal | undefined;
}

/** Schedule ids by what the sync did to them, each list sorted. */
export interface SyncSchedulesResult {
  /** New in Redis. */
  added: string[];
  /** Changed in Redis: cron, zone, job or its options, or moved to another queue (its job type changed). */
  updated: string[];
  /** Gone from Redis: no longer configured, or disabled. */
  removed: string[];
  /** Already as configured; left alone, so their next run stays where it was. */
  unchanged: string[];
}

/** What one schedule should look like in Redis. */
interface DesiredScheduler {
  id: string;
  queue: string;
  repeat: { pattern: string; tz: string };
  template: { name: string; data: JobPayload; opts: ReturnType<typeof jobOptions> };
}

/**
 * BullMQ's Queue, loaded on the first sync: this package's index also serves `connectProducer` to
 * commands that need only ioredis (`botbackup health`, a Docker health check run every few
 * seconds), and importing BullMQ costs more than the rest of such a command.
 */
async function loadQueue(): Promise<typeof Queue> {
  return (await import('bullmq')).Queue;
}

/** Key prefix when the config has no `redis` section (the config schema's default). */
const DEFAULT_PREFIX = 'botbackup';

/**
 * Makes Redis hold exactly the config's enabled schedules as BullMQ job schedulers: one per
 * schedule, with the schedule's id, in the queue of its job ({@link queueFor}), firing on its cron
 * expression in its time zone, each job carrying ids only ({@link JobPayload}). It adds missing
 * ones, updates changed ones (upsert), leaves equal ones alone, and removes every other job
 * scheduler under the prefix: schedules deleted or disabled, moved to another queue, or of
 * queues no longer configured (found by scanning Redis for queues, not from the config; see
 * {@link scanQueueNames}). Job schedulers are read, written and removed through BullMQ's public
 * API only (getJobSchedulers, upsertJobScheduler, removeJobScheduler).
 *
 * Idempotent and safe to run from several processes at once: `upsertJobScheduler` keys a
 * scheduler by its id, so concurrent syncs of one config leave one scheduler per schedule.
 * Fails fast with a {@link RedisUnavailableError} (redacted URL) when Redis cannot be used, and
 * closes its connection in every case.
 */
export async function syncSchedules(options: SyncSchedulesOptions): Promise<SyncSchedulesResult> {
  const { config, signal } = options;
  const prefix = config.redis?.prefix ?? DEFAULT_PREFIX;
  const url = config.redis?.url ?? `redis://${options.connection.host}:${options.connection.port}/${options.connection.db}`;
  const desired = new Map(config.schedules.filter((s) => s.enabled).map((s) => [s.id, desiredScheduler(s, config)]));
  const checkAborted = () => {
    if (signal?.aborted) throw new AbortedError('The scheduler was interrupted; the next sync completes the job schedulers in Redis.');
  };
  checkAborted();
  const QueueClass = await loadQueue();
  let client: Redis;
  try {
    client = await connectProducer(options.connection, url, signal);
  } catch (error) {
    checkAborted();
    throw error;
  }
  const queues = openQueues(QueueClass, client, prefix);
  const run: SyncRun = {
    queue: queues.get,
    checkAborted,
    logger: options.logger ?? silentLogger,
    result: { added: [], updated: [], removed: [], unchanged: [] },
    operation: 'list the job schedulers',
  };
  try {
    const existing = await readSchedulers(client, prefix, desired, run);
    // Add and update first, then remove: a sync cut short leaves a schedule twice rather than not at all.
    await writeDesired(run, desired, existing);
    await removeUnwanted(run, desired, existing);
  } catch (error) {
    checkAborted();
    throw redisError(error, url, run.operation, client);
  } finally {
    await queues.closeAll();
    await closeProducer(client);
  }
  return run.result;
}

/** One sync, as its steps share it: its queues, its abort check and log, what it did so far, and what it is doing. */
interface SyncRun {
  /** The sync's Queue of that name, opened on first use. */
  queue(name: string): Queue;
  /** Throws an AbortedError once the sync's signal is aborted. */
  checkAborted(): void;
  logger: SchedulerLogger;
  result: SyncSchedulesResult;
  /** What the sync is doing now, named in the error if Redis fails meanwhile. */
  operation: string;
}

/** The job schedulers in Redis, by id: each with the queue it is in (one id may be in several queues). */
type ExistingSchedulers = Map<string, { queue: string; scheduler: JobSchedulerJson }[]>;

/**
 * BullMQ Queues on the shared connection, opened on first use; closeAll() closes them (never
 * failing). The shared connection fails fast (see connectProducer); BullMQ does not close it
 * with the queues.
 */
function openQueues(QueueClass: typeof Queue, client: Redis, prefix: string): { get(name: string): Queue; closeAll(): Promise<void> } {
  const queues = new Map<string, Queue>();
  return {
    get(name: string): Queue {
      let q = queues.get(name);
      if (!q) {
        q = new QueueClass(name, { connection: client, prefix });
        q.on('error', () => {});
        queues.set(name, q);
      }
      return q;
    },
    async closeAll() {
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => {})));
    },
  };
}

/**
 * The job schedulers of every queue to look in: the config's, and every queue Redis has under
 * the prefix. BullMQ lists the job schedulers of one queue, not which queues have some; a queue
 * that left the config (a source removed) may still hold schedulers we no longer want, and only
 * Redis knows it exists.
 */
async function readSchedulers(client: Redis, prefix: string, desired: ReadonlyMap<string, DesiredScheduler>, run: SyncRun): Promise<ExistingSchedulers> {
  const names = new Set([...(await scanQueueNames(client, prefix)), ...[...desired.values()].map((d) => d.queue)]);
  const existing: ExistingSchedulers = new Map();
  for (const name of [...names].sort()) {
    for (const scheduler of await run.queue(name).getJobSchedulers()) {
      const id = scheduler.key;
      existing.set(id, [...(existing.get(id) ?? []), { queue: name, scheduler }]);
    }
  }
  return existing;
}

/**
 * Upserts each wanted scheduler (by id) that is new or differs from its copy in its queue, and
 * records it as added, updated (changed, or found only in another queue) or unchanged.
 */
async function writeDesired(run: SyncRun, desired: ReadonlyMap<string, DesiredScheduler>, existing: ExistingSchedulers): Promise<void> {
  for (const want of [...desired.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    const found = existing.get(want.id) ?? [];
    const here = found.find((f) => f.queue === want.queue);
    const changes = here ? differences(here.scheduler, want) : ['new'];
    if (changes.length === 0) {
      run.result.unchanged.push(want.id);
      continue;
    }
    run.checkAborted();
    run.operation = `write the job scheduler "${want.id}"`;
    await run.queue(want.queue).upsertJobScheduler(want.id, want.repeat, want.template);
    const moved = found.some((f) => f.queue !== want.queue);
    if (here || moved) {
      run.result.updated.push(want.id);
      run.logger.info({ schedule: want.id, queue: want.queue, changed: moved && !here ? ['queue'] : changes }, 'job scheduler updated');
    } else {
      run.result.added.push(want.id);
      run.logger.info({ schedule: want.id, queue: want.queue, cron: want.repeat.pattern, timezone: want.repeat.tz }, 'job scheduler added');
    }
  }
}

/**
 * Removes every job scheduler in Redis that is not wanted in its queue: not configured, disabled,
 * or left behind in an old queue; an id no longer wanted anywhere is recorded as removed.
 */
async function removeUnwanted(run: SyncRun, desired: ReadonlyMap<string, DesiredScheduler>, existing: ExistingSchedulers): Promise<void> {
  for (const [id, found] of [...existing].sort(([a], [b]) => a.localeCompare(b))) {
    const want = desired.get(id);
    for (const { queue: name } of found) {
      if (want?.queue === name) continue;
      run.checkAborted();
      run.operation = `remove the job scheduler "${id}"`;
      await run.queue(name).removeJobScheduler(id);
      run.logger.info({ schedule: id, queue: name }, want ? 'job scheduler removed from its old queue' : 'job scheduler removed');
    }
    if (!want) run.result.removed.push(id);
  }
}

function desiredScheduler(schedule: ScheduleConfig, config: Config): DesiredScheduler {
  // Checked against the job contract, as the worker will; parsed without undefined fields (JSON
  // drops them), so it compares equal to what Redis gives back.
  const data = parseJobPayload({ type: schedule.job, sourceId: schedule.source, scheduleId: schedule.id });
  return {
    id: schedule.id,
    queue: queueFor(schedule.job, schedule.source),
    repeat: { pattern: schedule.cron, tz: schedule.timezone },
    template: {
      name: jobName(data),
      data,
      // Retries with backoff and bounded retention, the same as one-off jobs.
      opts: jobOptions(config.worker),
    },
  };
}

/** What differs between a job scheduler in Redis and the wanted one (empty: equal). */
function differences(actual: JobSchedulerJson, want: DesiredScheduler): string[] {
  const changed: string[] = [];
  if (actual.pattern !== want.repeat.pattern || actual.every !== undefined) changed.push('cron');
  if ((actual.tz ?? 'UTC') !== want.repeat.tz) changed.push('timezone');
  if (actual.name !== want.template.name || !isDeepStrictEqual(actual.template?.data, want.template.data)) changed.push('job');
  const opts = (actual.template?.opts ?? {}) as Record<string, unknown>;
  if (Object.entries(want.template.opts).some(([key, value]) => !isDeepStrictEqual(opts[key], value))) changed.push('options');
  return changed;
}

/**
 * Every queue under `prefix` that Redis holds, by SCAN (not KEYS, so a large Redis is not
 * blocked) for each queue's meta hash (queueKeys). BullMQ writes `<prefix>:<queue>:meta` when a
 * Queue opens and again in the script that adds a job scheduler, so every queue that holds a job
 * scheduler has one; the meta hash also stays once a queue is empty, so this may name more queues
 * than hold schedulers, which only costs a getJobSchedulers call each. Why not BullMQ's
 * `:repeat` sorted set: that is how BullMQ stores the schedulers themselves, read and written
 * only through its API here; the meta hash marks that a queue exists, for any queue. Both keys
 * are BullMQ's layout, built by queueKeys, which the scheduler's test checks against BullMQ's
 * own (Queue.toKey).
 */
export async function scanQueueNames(client: Redis, prefix: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', queueKeys.pattern(prefix, 'meta'), 'COUNT', 1000, 'TYPE', 'hash');
    cursor = next;
    for (const key of keys) {
      // A job's key can match the pattern too; queueOf tells a queue's key from it.
      const name = queueKeys.queueOf(prefix, key, 'meta');
      if (name !== undefined) found.add(name);
    }
  } while (cursor !== '0');
  return [...found];
}

const silentLogger: SchedulerLogger = { info() {}, warn() {} };
