import { z } from 'zod';
import { duration, ms, slug } from './fields.js';
import type { Problem } from './issues.js';

const keptJobs = (count: number, age: string) =>
  z
    .strictObject({ count: z.number().int().min(0).default(count), age: duration.default(age) })
    .transform((kept) => ({ count: kept.count, ageMs: ms(kept.age) }))
    .prefault({});

/** The `worker` section: settings of `botbackup worker`, its durations in milliseconds. */
export const workerSchema = z
  .strictObject({
    /** Sources whose backup jobs this worker runs (it must see their files). */
    sources: z.array(slug).default([]),
    /** Whether it also runs verify, prune, replicate and drill jobs (any host with storage access). */
    maintenance: z.boolean().default(true),
    /** How long a job's lock lasts without renewal: a crashed worker's job is taken over after about this long. */
    lockDuration: duration.default('30s'),
    /** How often workers look for jobs whose worker died. */
    stalledInterval: duration.default('15s'),
    /** A job whose worker died more often than this fails instead of running again. */
    maxStalledCount: z.number().int().min(0).max(10).default(1),
    /** Attempts of a job that fails with a transient error (storage unreachable...), with exponential backoff. */
    attempts: z.number().int().min(1).max(20).default(3),
    /** On SIGTERM, how long the running job may take to finish before it is aborted. */
    drainTimeout: duration.default('60s'),
    /** How long a source's lock is held without renewal (a backup never overlaps another of its source). */
    sourceLockLease: duration.default('60s'),
    /** Finished jobs kept in Redis for inspection: at most this many, and this long. */
    keepCompleted: keptJobs(1000, '7d'),
    keepFailed: keptJobs(5000, '30d'),
    /** Prometheus metrics and a health check over HTTP (`GET /metrics`, `GET /healthz`): off unless a port is set (`--metrics-port` overrides it). */
    metrics: z
      .strictObject({
        /** Address to listen on: loopback by default (no credentials are asked; 0.0.0.0 in a container whose port is not published). */
        host: z.string().min(1).default('127.0.0.1'),
        /** TCP port (0: any free one); unset, no metrics are served. */
        port: z.number().int().min(0).max(65535).optional(),
      })
      .prefault({}),
  })
  .transform((w) => ({
    sources: w.sources,
    maintenance: w.maintenance,
    lockDurationMs: ms(w.lockDuration),
    stalledIntervalMs: ms(w.stalledInterval),
    maxStalledCount: w.maxStalledCount,
    attempts: w.attempts,
    drainTimeoutMs: ms(w.drainTimeout),
    sourceLockLeaseMs: ms(w.sourceLockLease),
    keepCompleted: w.keepCompleted,
    keepFailed: w.keepFailed,
    // Every key present, an unset port as undefined: what the worker reads is the same with or without the section.
    metrics: { host: w.metrics.host, port: w.metrics.port },
  }));
export type WorkerConfig = z.output<typeof workerSchema>;
/** Worker settings when the config has no `worker` section. */
export const DEFAULT_WORKER: WorkerConfig = workerSchema.parse({});

/** A worker source that is not configured. */
export function workerProblems(worker: WorkerConfig, sourceIds: readonly string[]): Problem | undefined {
  const i = worker.sources.findIndex((id) => !sourceIds.includes(id));
  return i < 0 ? undefined : { path: ['worker', 'sources', i], message: `names the source "${worker.sources[i]}", which is not configured` };
}

/** The `notify` section: where notifications go (no webhook: none are sent). */
export const notifySchema = z
  .strictObject({
    /** A URL that receives a JSON POST per event (Slack and Telegram bots accept such webhooks); use ${VAR} for a token in it. May hold a token: never print it. */
    webhook: z.url('an http(s) URL').optional(),
    /** Extra headers of the POST (e.g. Authorization: Bearer ${TOKEN}). */
    headers: z.record(z.string(), z.string()).default({}),
    /** Events to send: a job failed, a failing schedule or source works again, the newest good backup is too old. */
    on: z.array(z.enum(['failure', 'recovery', 'stale'])).default(['failure', 'recovery', 'stale']),
    /** The newest good backup of a source older than this is "stale". */
    staleAfter: duration.default('26h'),
  })
  .transform((n) => ({ webhook: n.webhook, headers: n.headers, on: n.on, staleAfterMs: ms(n.staleAfter) }));
export type NotifyConfig = z.output<typeof notifySchema>;
