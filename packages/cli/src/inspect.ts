import { Queue, type Job, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  ConfigError,
  drillKeys,
  parseDrillRecord,
  queueNames,
  redisConnectionOptions,
  type Config,
  type DrillRecord,
  type JobPayload,
  type JobProgress,
  type JobResult,
} from '@botbackup/core';
import { closeProducer, connectProducer, payloadIds, redisError, scanQueueNames, schedulerView, type SchedulerView } from '@botbackup/scheduler';

// The comparison of the config's schedules with Redis is the scheduler package's, shared with the dashboard.
export { compareSchedules, type ScheduleState, type ScheduleStatus, type SchedulerView } from '@botbackup/scheduler';

/*
 * What `botbackup status` and `botbackup jobs` read from Redis, and how the config's schedules
 * compare with it. It reads the jobs' payloads, results and progress by core's job contract
 * (JobPayload, JobResult, JobProgress), the one the worker writes them by. BullMQ and ioredis:
 * commands load this module with import() when they read Redis; the pure functions `status`
 * also needs without Redis are in status-model.ts.
 */

/** The job states `jobs` can list, as BullMQ names them. */
export const LISTED_STATES = ['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'] as const satisfies readonly JobState[];
export type ListedState = (typeof LISTED_STATES)[number];

/** Jobs per state of one queue (BullMQ's getJobCounts), and whether it is paused. */
export interface QueueSummary {
  name: string;
  /** Configured: the maintenance queue, or the backup queue of a configured source; else only found in Redis. */
  configured: boolean;
  paused: boolean;
  counts: Record<'waiting' | 'prioritized' | 'delayed' | 'active' | 'completed' | 'failed' | 'waiting-children', number>;
}

/** Progress as the worker reports it, reduced to what people read; null when the job reported none. */
export type ProgressView = { phase: string; subject: string | null; done: number; total: number | null; percent: number | null };

/** One job, as `jobs --json` prints it: ids and options only from its payload, never data or secrets. */
export interface JobView {
  id: string;
  queue: string;
  name: string;
  state: JobState | 'unknown';
  /** The payload's ids and options (type, sourceId, scheduleId, backup, deep); nothing else is copied. */
  payload: JobPayload;
  /** Attempts made so far (a failed attempt that is retried counts), and how many it may make. */
  attemptsMade: number;
  attempts: number;
  progress: ProgressView | null;
  /** ISO times: added to the queue, last started by a worker, finished (completed or failed for good). */
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** For a delayed job (a retry after backoff, a scheduled run, a busy source): when it becomes due. */
  dueAt: string | null;
  result: JobResult | null;
  /** Why the last attempt failed (also for a job that waits for its retry). */
  failedReason: string | null;
  /** The job's own log lines (`job.log`), oldest first; only when asked for. */
  logs?: string[] | undefined;
}

/** Everything `status` reads from Redis. */
export interface QueueInspection {
  queues: QueueSummary[];
  schedulers: SchedulerView[];
  /** Running jobs, longest-running first. */
  active: JobView[];
  /** The newest finished jobs of each queue (up to `finishedPerQueue` completed and as many failed), newest first. */
  finished: JobView[];
  /** The drill records of each configured source (by source id), as the worker keeps them (drillKeys). */
  drills: Record<string, SourceDrills>;
  /** The workers' connections to each queue, or why they could not be listed. */
  workers: WorkersRead;
}

/** One worker's connection to one queue, as CLIENT LIST shows it (BullMQ's Queue.getWorkers()). */
export interface WorkerConnection {
  queue: string;
  /** The name the worker gave itself (BullMQ's Worker `name`, botbackup's `worker --name`); null when it gave none. */
  name: string | null;
  /** The client's address as Redis sees it, `<ip>:<port>`. */
  addr: string;
  /** Seconds since it connected (CLIENT LIST `age`). */
  ageSeconds: number;
}

/** The workers' connections to the queues read, or why Redis would not list them (a user without `CLIENT LIST`). */
export type WorkersRead = { connections: WorkerConnection[] } | { error: string };

/** What Redis holds of one source's restore drills; records that cannot be parsed are left out. */
export interface SourceDrills {
  /** The newest drill of the source (drillKeys.last), or undefined when none. */
  last: DrillRecord | undefined;
  /** The newest drill that read each copy (the values of drillKeys.copies), in no order. */
  copies: DrillRecord[];
}

export interface InspectOptions {
  config: Config;
  /** Completed and failed jobs read per queue and state, for the last result per source and the recent failures (default 50). */
  finishedPerQueue?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListJobsOptions {
  config: Config;
  /** States to list (default: all of {@link LISTED_STATES}). */
  states?: readonly ListedState[] | undefined;
  /** At most this many jobs in all (default 20), newest first. */
  limit?: number | undefined;
  /** Also read each job's log lines. */
  withLogs?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** Active jobs read per queue: a queue runs one at a time per worker, so this is plenty. */
const ACTIVE_PER_QUEUE = 100;
/** Log lines read per job by `jobs --json`. */
const LOG_LINES = 50;

/**
 * Reads every botbackup queue under `redis.prefix` (the maintenance queue, the backup queue of
 * each configured source, and any other queue found in Redis): job counts per state, running
 * jobs with their progress, the newest finished jobs, the job schedulers with their next run, and
 * the restore drill records of each configured source. Read-only. Fails fast with a {@link RedisUnavailableError} (redacted URL) when Redis cannot
 * be used.
 */
export async function inspectQueues(options: InspectOptions): Promise<QueueInspection> {
  const finishedPerQueue = options.finishedPerQueue ?? 50;
  return withQueues(options.config, options.signal, async ({ client, names, queue, jobsIn, step }) => {
    const summaries: QueueSummary[] = [];
    const schedulers: SchedulerView[] = [];
    const active: JobView[] = [];
    const finished: JobView[] = [];
    for (const { name, configured } of names) {
      const q = queue(name);
      step(`read the queue ${name}`);
      const [counts, paused] = await Promise.all([q.getJobCounts(...COUNTED_STATES), q.isPaused()]);
      summaries.push({ name, configured, paused, counts: Object.fromEntries(COUNTED_STATES.map((s) => [s, counts[s] ?? 0])) as QueueSummary['counts'] });
      for (const s of await q.getJobSchedulers()) schedulers.push(schedulerView(name, s));
      if (counts.active) active.push(...(await jobsIn(name, 'active', ACTIVE_PER_QUEUE)));
      if (counts.completed) finished.push(...(await jobsIn(name, 'completed', finishedPerQueue)));
      if (counts.failed) finished.push(...(await jobsIn(name, 'failed', finishedPerQueue)));
    }
    active.sort((a, b) => compareTimes(a.startedAt ?? a.createdAt, b.startedAt ?? b.createdAt));
    finished.sort((a, b) => compareTimes(b.finishedAt ?? b.createdAt, a.finishedAt ?? a.createdAt));
    schedulers.sort((a, b) => a.id.localeCompare(b.id) || a.queue.localeCompare(b.queue));
    step('read the drill records');
    const drills: Record<string, SourceDrills> = {};
    const prefix = options.config.redis!.prefix;
    for (const source of options.config.sources) {
      const [last, copies] = await Promise.all([client.get(drillKeys.last(prefix, source.id)), client.hgetall(drillKeys.copies(prefix, source.id))]);
      drills[source.id] = {
        last: last === null ? undefined : parseDrillRecord(last),
        copies: Object.values(copies).flatMap((text) => parseDrillRecord(text) ?? []),
      };
    }
    step('list the workers (CLIENT LIST)');
    const read = names.map((n) => queue(n.name));
    const workers = await readWorkers(read, prefix);
    return { queues: summaries, schedulers, active, finished, drills, workers };
  });
}

/**
 * The workers connected to each queue: BullMQ's Queue.getWorkers() reads CLIENT LIST and keeps
 * the connections named after the queue, `<prefix>:<base64 queue>` or, for a Worker given a
 * `name`, `<prefix>:<base64 queue>:w:<name>` (its blocking connection; `rawname` in the entry).
 * A Redis user without `CLIENT LIST` (docs/deploy.md's ACL takes it away with `-@dangerous`) gets
 * NOPERM: that is the `error`, not a failure of status. Other errors are Redis's and are thrown.
 */
async function readWorkers(queues: readonly Queue<JobPayload, JobResult>[], prefix: string): Promise<WorkersRead> {
  const connections: WorkerConnection[] = [];
  for (const q of queues) {
    let clients: Record<string, string>[];
    try {
      clients = await q.getWorkers();
    } catch (error) {
      if (/^NOPERM/.test((error as Error).message))
        return { error: 'the Redis user may not run CLIENT LIST; add "+client|list" to its ACL rules (docs/deploy.md)' };
      throw error;
    }
    for (const c of clients) {
      // Without CLIENT (a managed Redis that disabled it), BullMQ returns one entry with a name only.
      if (c.addr === undefined || c.rawname === undefined) return { error: 'this Redis does not offer CLIENT LIST' };
      // The base64 of the queue holds no ':', so the first ':' after the prefix starts `:w:<name>`.
      const rest = c.rawname.slice(prefix.length + 1);
      const at = rest.indexOf(':w:');
      connections.push({ queue: q.name, name: at === -1 ? null : rest.slice(at + 3), addr: c.addr, ageSeconds: Number(c.age) || 0 });
    }
  }
  return { connections };
}

/**
 * The jobs of every botbackup queue in the given states, newest first (by the time of their last
 * change: finished, started, or added), at most `limit`. Read-only; fails fast like
 * {@link inspectQueues}.
 */
export async function listJobs(options: ListJobsOptions): Promise<JobView[]> {
  const states = options.states ?? LISTED_STATES;
  const limit = options.limit ?? 20;
  return withQueues(options.config, options.signal, async ({ names, queue, jobsIn, step }) => {
    const found: JobView[] = [];
    for (const { name } of names) {
      step(`list the jobs of ${name}`);
      // The newest `limit` of each state and queue: enough to take the newest `limit` of all.
      for (const state of states) found.push(...(await jobsIn(name, state, limit)));
    }
    found.sort((a, b) => compareTimes(lastChange(b), lastChange(a)) || b.id.localeCompare(a.id));
    const newest = found.slice(0, limit);
    if (options.withLogs) {
      for (const job of newest) {
        step(`read the log of job ${job.id}`);
        job.logs = (await queue(job.queue).getJobLogs(job.id, 0, LOG_LINES - 1, true)).logs;
      }
    }
    return newest;
  });
}

/** States whose counts `status` shows (BullMQ 6 keeps paused jobs in `wait`; a paused queue is a flag). */
const COUNTED_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children'] as const;

interface QueueAccess {
  /** The one connection (for reads beside BullMQ's). */
  client: Redis;
  /** Queues to read: configured first (maintenance, then each source's), then those only found in Redis. */
  names: { name: string; configured: boolean }[];
  queue(name: string): Queue<JobPayload, JobResult>;
  /** The newest `count` jobs of one state of a queue, newest first. */
  jobsIn(name: string, state: ListedState, count: number): Promise<JobView[]>;
  /** Names what is being done, for the error message if Redis fails now. */
  step(operation: string): void;
}

/**
 * Opens one fail-fast producer connection (see connectProducer), runs `work` with queues on it,
 * and closes everything. Errors from Redis become one sentence naming the redacted URL.
 */
async function withQueues<T>(config: Config, signal: AbortSignal | undefined, work: (access: QueueAccess) => Promise<T>): Promise<T> {
  // Callers check first; should one not, the user still gets the config's sentence (exit 3), not a bug report.
  if (!config.redis)
    throw new ConfigError(config.file, 'redis', 'is missing; status and jobs read the queues from Redis (redis: { url: "redis://host:6379" })');
  const { url, prefix } = config.redis;
  const client = await connectProducer(redisConnectionOptions(config.redis, config.file), url, signal);
  const queues = new Map<string, Queue<JobPayload, JobResult>>();
  let operation = 'list the queues';
  const queue = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      // Every queue shares the one fail-fast connection; BullMQ does not close a connection it was given.
      q = new Queue<JobPayload, JobResult>(name, { connection: client, prefix });
      q.on('error', () => undefined);
      queues.set(name, q);
    }
    return q;
  };
  try {
    const configured = [queueNames.maintenance, ...config.sources.map((s) => queueNames.backup(s.id))];
    const others = (await scanQueueNames(client, prefix)).filter((n) => !configured.includes(n)).sort();
    const names = [...configured.map((name) => ({ name, configured: true })), ...others.map((name) => ({ name, configured: false }))];
    const jobsIn = (name: string, state: ListedState, count: number) => readJobs(client, queue(name), state, count);
    return await work({ client, names, queue, jobsIn, step: (op) => (operation = op) });
  } catch (error) {
    // Ctrl-C drops the connection: report the interruption, not a Redis failure.
    if (signal?.aborted) throw signal.reason ?? error;
    throw redisError(error, url, operation, client);
  } finally {
    await Promise.all([...queues.values()].map((q) => q.close().catch(() => undefined)));
    await closeProducer(client);
  }
}

/** The newest `count` jobs of one state of a queue (BullMQ's getJobs, newest first). */
async function readJobs(client: Redis, queue: Queue<JobPayload, JobResult>, state: ListedState, count: number): Promise<JobView[]> {
  if (count <= 0) return [];
  const jobs = await queue.getJobs([state], 0, count - 1, false);
  let due: (string | null)[] = [];
  if (state === 'delayed' && jobs.length > 0) {
    // BullMQ scores a delayed job by when it is due, times 0x1000 plus a counter (addDelayedJob's
    // getDelayedScore); the job's own `delay` is relative to a time it does not keep for retries.
    due = await client.zmscore(queue.keys.delayed!, ...jobs.map((j) => j.id!));
  }
  return jobs.map((job, i) => jobView(queue.name, state, job, due[i] ? Math.floor(Number(due[i]) / 0x1000) : undefined));
}

function jobView(queue: string, state: JobState, job: Job<JobPayload, JobResult>, dueAt: number | undefined): JobView {
  return {
    id: job.id ?? '',
    queue,
    name: job.name,
    state,
    payload: payloadIds(job.data),
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
    progress: progressView(job.progress),
    createdAt: new Date(job.timestamp).toISOString(),
    startedAt: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    finishedAt: job.finishedOn && (state === 'completed' || state === 'failed') ? new Date(job.finishedOn).toISOString() : null,
    dueAt: dueAt === undefined ? null : new Date(dueAt).toISOString(),
    result: state === 'completed' && job.returnvalue && typeof job.returnvalue === 'object' ? job.returnvalue : null,
    failedReason: job.failedReason || null,
  };
}

/**
 * The worker reports {@link JobProgress} objects; BullMQ's own default is the number 0. A failed
 * attempt's progress shows the last phase it reached.
 */
function progressView(progress: unknown): ProgressView | null {
  if (typeof progress !== 'object' || progress === null || !('phase' in progress)) return null;
  const reported = progress as JobProgress;
  const p = reported.phase === 'failed' ? reported.last : reported;
  if (p === undefined) return null;
  return { phase: p.phase, subject: p.subject ?? null, done: p.done, total: p.total ?? null, percent: p.percent ?? null };
}

function lastChange(job: JobView): string {
  return job.finishedAt ?? job.startedAt ?? job.createdAt;
}

function compareTimes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
