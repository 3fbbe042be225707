import { z } from 'zod';
import type { JobType } from './config/index.js';
import { BotbackupError, ExitCode } from './errors.js';

/*
 * The job contract of distributed mode: what a job carries (its payload), what a finished job
 * returns (its result) and the progress it reports, one discriminated union on `type` each,
 * shared by the scheduler and the CLI (which write jobs), the worker (which runs them) and the
 * CLI and dashboard (which read them back). The schemas are the definition; the types are
 * inferred from them, so what the worker checks and what the others compile against cannot
 * drift apart. A job carries ids and options only, never data or secrets: a worker reads its
 * config, credentials included, from its own environment.
 */

/** The schedule that produced a job, if any (a one-off job has none). */
const scheduleId = z.string().optional();

/** full and incremental backups: for one source, on that source's own queue. */
const backupPayload = z.object({ type: z.enum(['full', 'incremental']), sourceId: z.string(), scheduleId });

/** verify: a backup (an id, a prefix, `latest`; default latest), of a source or of any. */
const verifyPayload = z.object({
  type: z.literal('verify'),
  sourceId: z.string().optional(),
  scheduleId,
  backup: z.string().optional(),
  /** Also restore it and run integrity_check. */
  deep: z.boolean().optional(),
});

/** prune: one source's backups, by its retention policy. */
const prunePayload = z.object({ type: z.literal('prune'), sourceId: z.string(), scheduleId });

/** replicate: one source's backups, or every source's when it names none. */
const replicatePayload = z.object({ type: z.literal('replicate'), sourceId: z.string().optional(), scheduleId });

/** drill: one source; `backup` instead of the rotation's pick, `store` to read only that target's copy. */
const drillPayload = z.object({ type: z.literal('drill'), sourceId: z.string(), scheduleId, backup: z.string().optional(), store: z.string().optional() });

/** A job's payload, by job type. */
export const jobPayloadSchema = z.discriminatedUnion('type', [backupPayload, verifyPayload, prunePayload, replicatePayload, drillPayload]);
export type JobPayload = z.infer<typeof jobPayloadSchema>;

/** A payload that is not one of {@link jobPayloadSchema}'s: the job cannot run, and retrying does not help. */
export class JobPayloadError extends BotbackupError {
  constructor(problem: string) {
    super('JOB_INVALID', `The job's payload is not a valid botbackup job (${problem}); it was not run.`, ExitCode.usage);
  }
}

/**
 * Checks a payload against the contract: the payload with only its known fields, and without
 * undefined ones (as JSON, so it compares equal to what BullMQ gives back), or a
 * {@link JobPayloadError} that names every problem.
 */
export function parseJobPayload(value: unknown): JobPayload {
  const parsed = jobPayloadSchema.safeParse(value);
  if (!parsed.success) {
    throw new JobPayloadError(
      parsed.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; '),
    );
  }
  return Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as JobPayload;
}

/** full and incremental. `skipped`: why the job did nothing (another job held the source). */
const backupResult = z.object({
  type: z.enum(['full', 'incremental']),
  sourceId: z.string(),
  /** The backup made; for a retried job, the one an earlier attempt committed. */
  backupId: z.string().optional(),
  /** True when an earlier attempt of this job had already committed the backup. */
  reused: z.boolean().optional(),
  skipped: z.string().optional(),
  /** Storage targets the backup did not reach (it is committed, degraded). */
  failedTargets: z.array(z.string()).optional(),
});

const verifyResult = z.object({
  type: z.literal('verify'),
  sourceId: z.string(),
  backupId: z.string(),
  verdicts: z.array(z.object({ store: z.string(), ok: z.boolean(), error: z.string().optional() })),
  /** A continuous source's shipped WAL, per target (its first problem when it failed). */
  wal: z.array(z.object({ store: z.string(), ok: z.boolean(), segments: z.number(), error: z.string().optional() })).optional(),
});

/** `deleted`: backups deleted; `removed`: leftover objects removed. `skipped` as for backups. */
const pruneResult = z.object({
  type: z.literal('prune'),
  sourceId: z.string(),
  deleted: z.number().optional(),
  removed: z.number().optional(),
  skipped: z.string().optional(),
});

/** `copied`: copies made; `removed`: leftover objects of failed uploads removed. */
const replicateResult = z.object({ type: z.literal('replicate'), sourceId: z.string().optional(), copied: z.number(), removed: z.number() });

/** A passed drill's outcome (a failed drill fails its job, with the record's error). */
const drillResult = z.object({
  type: z.literal('drill'),
  sourceId: z.string(),
  backupId: z.string(),
  drill: z.object({ store: z.string(), ok: z.boolean(), restoreMs: z.number(), dataAgeMs: z.number(), read: z.number(), checks: z.number() }),
});

/** What a finished job returns (BullMQ stores it as the job's return value; ids and numbers only), by job type. */
export const jobResultSchema = z.discriminatedUnion('type', [backupResult, verifyResult, pruneResult, replicateResult, drillResult]);
export type JobResult = z.infer<typeof jobResultSchema>;

/** The engine's phases (the engine's ProgressEvent; the worker's reporter checks that they agree). */
const phaseProgressSchema = z.object({
  phase: z.enum(['snapshot', 'pack', 'read', 'verify', 'integrity', 'copy']),
  /** Bytes (or pages for `snapshot`) done in this phase. */
  done: z.number(),
  /** Total for this phase, when known (absent once stored as JSON when unknown). */
  total: z.number().optional(),
  /** What is being worked on, e.g. a database name. */
  subject: z.string().optional(),
  percent: z.number().optional(),
});
/** An engine phase as a job reports it. */
export type PhaseProgress = z.infer<typeof phaseProgressSchema>;

/**
 * The progress a job reports: the engine's phase while it runs, and at the end of a completed
 * job its last phase complete (`done` = `total`, 100%). A failed attempt ends with its error's
 * code and exit code, and `last`: the last phase it really reported (absent when none).
 */
export const jobProgressSchema = z.discriminatedUnion('phase', [
  phaseProgressSchema,
  z.object({ phase: z.literal('failed'), code: z.string(), exitCode: z.number(), last: phaseProgressSchema.optional() }),
]);
export type JobProgress = z.infer<typeof jobProgressSchema>;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time: every job type of the config (JOB_TYPES) has a payload and a result, and no other type does. */
const everyJobType: Same<JobType, JobPayload['type']> & Same<JobType, JobResult['type']> = true;
void everyJobType;
