import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BotbackupError,
  ExitCode,
  entryCount,
  ReplicateIncompleteError,
  StorageError,
  VerifyFailedError,
  exitCodeFor,
  parseJobPayload,
  type Config,
  type JobPayload,
  type JobResult,
} from '@botbackup/core';
import {
  drillError,
  findBackupByTrigger,
  pruneBackups,
  type Catalog,
  replicate,
  resolveBackupInStores,
  runBackup,
  runDrill,
  verifyCopies,
  verifyWal,
  worstExitCode,
  Keyring,
  type Logger,
  type ProgressEvent,
} from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import { redisDrillHistory } from './drill-history.js';
import { JobProgressReporter } from './job-progress.js';
import { acquireSourceLock, type SourceLock } from './source-lock.js';

/** What a processor needs besides the job: everything comes from the worker's own config and environment. */
export interface JobContext {
  config: Config;
  stores: BackupStore[];
  /** This host's catalog (a cache of manifests and copy states), when it could be opened. */
  catalog?: Catalog | undefined;
  /** A connection for the source locks. */
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** The repository's keys: the worker key signs; an identity (encryption.identityFile) only for deep verifies and drills. */
  keyring?: Keyring | undefined;
}

/** The payload of a job of these types. */
type PayloadOf<T extends JobPayload['type']> = Extract<JobPayload, { type: T }>;

/** How long a one-off backup waits before trying again when its source is locked. */
const LOCKED_RETRY_MS = 15_000;

/**
 * Runs one job: a thin processor over the engine functions (backup, verify, replicate, prune).
 * Its payload is checked against the job contract first (parseJobPayload). Backups and prunes
 * hold their source's lock; a retried backup job first looks for the backup an earlier attempt
 * committed (delivery is at least once). Configuration and validation errors, a payload that is
 * not a valid job among them, end the job at once (UnrecoverableError); others are retried with
 * backoff by BullMQ.
 */
export async function processJob(job: Job<JobPayload, JobResult>, token: string | undefined, signal: AbortSignal, ctx: JobContext): Promise<JobResult> {
  // Job<JobPayload> says what our producers write, not what Redis holds: an older version, a
  // hand-added job or another program may have put anything there, so nothing of it is trusted
  // before the check (even the log fields tolerate a payload that is not an object).
  const data = job.data as Partial<Record<string, unknown>> | null | undefined;
  const log = ctx.logger.child({ jobId: job.id, job: data?.type, source: data?.sourceId, attempt: job.attemptsMade + 1 });
  // Throttled while the job runs; its final value is stored before the job is marked finished.
  const progress = new JobProgressReporter(job);
  const onProgress = progress.report;
  try {
    // Inside the try: a bad payload fails like any other error of the job (its code and exit code
    // in the final progress), and its exit code (usage) makes it unrecoverable.
    const payload = parseJobPayload(job.data);
    const result = await runJob(job, payload, token, signal, ctx, log, onProgress);
    await progress.completed();
    return result;
  } catch (error) {
    if (error instanceof DelayedError) {
      progress.stop();
      throw error;
    }
    const reported = signal.aborted && !(error instanceof BotbackupError) ? signal.reason : error;
    const code = reported instanceof BotbackupError ? reported.code : 'INTERNAL';
    const exitCode = exitCodeFor(reported);
    await progress.failed(code, exitCode);
    const message = reported instanceof Error ? reported.message : String(reported);
    log.warn({ code, err: message }, 'job attempt failed');
    // Wrong settings, a bad request, a corrupt copy or a target path with a file in the way do not get better by retrying.
    if (
      error instanceof UnrecoverableError ||
      isMisplacedTarget(reported) ||
      [ExitCode.config, ExitCode.usage, ExitCode.notFound, ExitCode.integrity].some((c) => c === exitCode)
    ) {
      throw new UnrecoverableError(message);
    }
    throw reported instanceof Error ? reported : new Error(message);
  }
}

/** A storage target whose path cannot be a folder (a file is in the way: ENOTDIR, EEXIST): the config's to fix, not transient. */
function isMisplacedTarget(error: unknown): boolean {
  return error instanceof StorageError && ['ENOTDIR', 'EEXIST'].includes((error.cause as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** The processor proper: one engine operation per job type. */
async function runJob(
  job: Job<JobPayload, JobResult>,
  payload: JobPayload,
  token: string | undefined,
  signal: AbortSignal,
  ctx: JobContext,
  log: Logger,
  onProgress: (event: ProgressEvent) => void,
): Promise<JobResult> {
  switch (payload.type) {
    case 'full':
    case 'incremental':
      return await processBackup(job, payload, token, signal, ctx, log, onProgress);
    case 'verify':
      return await processVerify(job, payload, signal, ctx, onProgress);
    case 'replicate': {
      const result = await replicate({
        stores: ctx.stores,
        sourceId: payload.sourceId,
        orphanGraceMs: ctx.config.orphanGraceMs,
        // Shipped WAL objects are copied only with a signature the repository trusts.
        policy: ctx.keyring?.policy,
        logger: log,
        onProgress,
        signal,
      });
      await job.log(`copied ${result.copied.length}, failed ${result.failed.length}, removed ${result.removed.length} leftover object(s)`);
      if (result.failed.length > 0 || result.unreachable.length > 0) {
        const first = result.failed[0]?.error ?? result.unreachable[0]!.error;
        throw new ReplicateIncompleteError(`Replication is incomplete: ${first}`, ExitCode.storage);
      }
      return { type: 'replicate', sourceId: payload.sourceId, copied: result.copied.length, removed: result.removed.length };
    }
    case 'prune': {
      const sourceId = payload.sourceId;
      return await withSourceLock(job, payload, token, ctx, log, async (lock) => {
        // The worker's catalog: manifests read once, and what this host's verify jobs found.
        const result = await pruneBackups({
          config: ctx.config,
          stores: ctx.stores,
          sourceId,
          catalog: ctx.catalog,
          logger: log,
          signal: AbortSignal.any([signal, lock.lost]),
        });
        const deleted = result.backups.filter((b) => b.deleted);
        await job.log(
          `kept ${result.backups.length - deleted.length}, deleted ${deleted.length} backup(s), removed ${result.leftovers.length} leftover object(s)`,
        );
        return { type: 'prune', sourceId, deleted: deleted.length, removed: result.leftovers.length };
      });
    }
    case 'drill':
      return await processDrill(job, payload, signal, ctx, log, onProgress);
  }
}

async function processBackup(
  job: Job<JobPayload, JobResult>,
  payload: PayloadOf<'full' | 'incremental'>,
  token: string | undefined,
  signal: AbortSignal,
  ctx: JobContext,
  log: Logger,
  onProgress: (event: ProgressEvent) => void,
): Promise<JobResult> {
  const { type, sourceId, scheduleId } = payload;
  const base = { type, sourceId };
  // At least once: a retry of a job whose earlier attempt committed must not make a second backup.
  const earlier = await findBackupByTrigger(ctx.stores, sourceId, job.id!, new Date(job.timestamp), signal);
  if (earlier) {
    await job.log(`backup ${earlier.manifest.id} was already committed by an earlier attempt of this job`);
    return { ...base, backupId: earlier.manifest.id, reused: true };
  }
  return withSourceLock(job, payload, token, ctx, log, async (lock) => {
    await job.log(`${type} backup of "${sourceId}" started`);
    const result = await runBackup({
      config: ctx.config,
      sourceId,
      stores: ctx.stores,
      incremental: type === 'incremental',
      trigger: { jobId: job.id!, scheduleId: scheduleId ?? null, queuedAt: new Date(job.timestamp).toISOString() },
      // The renewal notices a lost lock within a third of its lease; this makes sure at the commit.
      beforeCommit: () => lock.confirm(),
      keyring: ctx.keyring,
      logger: log,
      onProgress,
      signal: AbortSignal.any([signal, lock.lost]),
    });
    const m = result.manifest;
    await job.log(`committed ${m.type} backup ${m.id}: ${entryCount(m)} entries, ${m.stats.storedBytes} bytes stored`);
    for (const f of result.failed) await job.log(`NOT stored in "${f.store}": ${f.error}`);
    for (const s of result.stored) ctx.catalog?.recordCopy(s.store, m, 'unverified', new Date());
    return { ...base, backupId: m.id, failedTargets: result.failed.map((f) => f.store) };
  });
}

/**
 * Runs `work` holding the source's lock (no two jobs on one source at once: two backups, or a
 * backup and a prune). When another job holds it, a scheduled run is skipped (the running job
 * stands for that slot) and says which job holds it; a one-off run is delayed and tried again.
 */
async function withSourceLock(
  job: Job<JobPayload, JobResult>,
  payload: PayloadOf<'full' | 'incremental' | 'prune'>,
  token: string | undefined,
  ctx: JobContext,
  log: Logger,
  work: (lock: SourceLock) => Promise<JobResult>,
): Promise<JobResult> {
  const { sourceId } = payload;
  const lock = await acquireSourceLock({ redis: ctx.redis, prefix: ctx.prefix, sourceId, holder: job.id!, leaseMs: ctx.config.worker.sourceLockLeaseMs });
  if ('heldBy' in lock) {
    if (payload.scheduleId !== undefined) {
      const skipped = `another job (${lock.heldBy}) is working on source "${sourceId}"; this scheduled run was skipped`;
      await job.log(skipped);
      log.info({ heldBy: lock.heldBy }, 'scheduled job skipped: its source is busy');
      return { type: payload.type, sourceId, skipped };
    }
    await job.log(`source "${sourceId}" is busy (job ${lock.heldBy}); trying again in ${LOCKED_RETRY_MS / 1000} s`);
    await job.moveToDelayed(Date.now() + LOCKED_RETRY_MS, token);
    throw new DelayedError();
  }
  try {
    return await work(lock);
  } finally {
    await lock.release();
  }
}

async function processVerify(
  job: Job<JobPayload, JobResult>,
  payload: PayloadOf<'verify'>,
  signal: AbortSignal,
  ctx: JobContext,
  onProgress: (event: ProgressEvent) => void,
): Promise<JobResult> {
  const { manifest } = await resolveBackupInStores(ctx.stores, payload.backup ?? 'latest', payload.sourceId, signal);
  const verdicts = await verifyCopies({
    stores: ctx.stores,
    backup: { sourceId: manifest.source.id, backupId: manifest.id },
    deep: payload.deep ?? false,
    tmpDir: ctx.config.tmpDir,
    keyring: ctx.keyring,
    onProgress,
    signal,
  });
  for (const v of verdicts) {
    await job.log(v.ok ? `ok ${v.id} in "${v.store}"` : `FAILED ${v.id} in "${v.store}": ${v.error}`);
    if (v.ok) ctx.catalog?.recordCopy(v.store, manifest, 'verified', new Date());
    else if (v.exitCode === ExitCode.integrity && !v.code?.startsWith('STORAGE_')) ctx.catalog?.recordBadCopy(v.store, v.source, v.id, v.error!, new Date());
  }
  const wal = await verifyShippedWal(job, manifest.source.id, signal, ctx, onProgress);
  const failed = verdicts.filter((v) => !v.ok);
  const walFailed = wal.filter((v) => !v.ok);
  if (failed.length > 0 || walFailed.length > 0) {
    const message =
      failed.length === 0
        ? `The shipped WAL of "${manifest.source.id}" failed verification in ${walFailed.map((v) => `"${v.store}"`).join(', ')}: ${walFailed[0]!.problems[0]?.error}`
        : failed.length === 1
          ? failed[0]!.error!
          : `${failed.length} of ${verdicts.length} copies of ${manifest.id} failed verification.`;
    const codes = [...failed.map((v) => v.exitCode ?? ExitCode.integrity), ...walFailed.flatMap((v) => v.problems.map((p) => p.exitCode))];
    throw new VerifyFailedError(message, worstExitCode(codes));
  }
  return {
    type: 'verify',
    sourceId: manifest.source.id,
    backupId: manifest.id,
    verdicts: verdicts.map((v) => ({ store: v.store, ok: v.ok, error: v.error })),
    ...(wal.length > 0 && { wal: wal.map((v) => ({ store: v.store, ok: v.ok, segments: v.segments, error: v.problems[0]?.error })) }),
  };
}

/**
 * A continuous source's backups and its shipped WAL are one chain (`restore --at` reads both),
 * so its verify job also checks the WAL on every target, as `verify --all` does: every object
 * signed and whole, no gap in the numbers, each target holding what the others hold.
 */
async function verifyShippedWal(
  job: Job<JobPayload, JobResult>,
  sourceId: string,
  signal: AbortSignal,
  ctx: JobContext,
  onProgress: (event: ProgressEvent) => void,
) {
  if (!ctx.config.sources.find((s) => s.id === sourceId)?.continuous) return [];
  const policy = (ctx.keyring ?? new Keyring({ config: ctx.config })).policy;
  const wal = await verifyWal({ stores: ctx.stores, sourceId, policy, onProgress, signal });
  for (const v of wal) {
    await job.log(
      v.ok
        ? `ok WAL of "${sourceId}" in "${v.store}": ${v.generations} generation(s), ${v.segments} segment(s)`
        : `FAILED WAL of "${sourceId}" in "${v.store}": ${v.problems.map((p) => p.error).join('; ')}`,
    );
  }
  return wal;
}

/**
 * A restore drill (no source lock: it only reads the repository, into a scratch folder). The
 * record goes to Redis (drillKeys) whether it passed or not; a failed drill then fails the job
 * (6 for integrity and check failures, 11 for a missing identity), which sends the failure
 * notification.
 */
async function processDrill(
  job: Job<JobPayload, JobResult>,
  payload: PayloadOf<'drill'>,
  signal: AbortSignal,
  ctx: JobContext,
  log: Logger,
  onProgress: (event: ProgressEvent) => void,
): Promise<JobResult> {
  const { sourceId } = payload;
  const record = await runDrill({
    config: ctx.config,
    sourceId,
    stores: ctx.stores,
    keyring: ctx.keyring,
    history: redisDrillHistory(ctx.redis, ctx.prefix),
    backup: payload.backup,
    store: payload.store,
    logger: log,
    onProgress,
    signal,
  });
  const checks = record.checks.map((c) => `${c.name} ${c.ok ? 'ok' : 'FAILED'}`).join(', ');
  await job.log(
    record.ok
      ? `drill passed: backup ${record.backupId} from "${record.store}" restored and checked in ${record.restoreMs} ms${checks ? `; checks: ${checks}` : ''}`
      : `drill FAILED: backup ${record.backupId} from "${record.store}": ${record.error}`,
  );
  if (!record.ok) throw drillError(record);
  return {
    type: 'drill',
    sourceId,
    backupId: record.backupId,
    drill: {
      store: record.store,
      ok: record.ok,
      restoreMs: record.restoreMs,
      dataAgeMs: record.dataAgeMs,
      read: record.read.length,
      checks: record.checks.length,
    },
  };
}
