import type { JobSchedulerJson } from 'bullmq';
import { queueFor, type JobPayload, type JobType, type ScheduleConfig } from '@botbackup/core';
import { nextRuns } from './next-runs.js';

/*
 * How the config's schedules compare with the job schedulers Redis holds: the check behind
 * `botbackup status`'s Schedules and the dashboard's schedules panel, in one place so that both
 * say the same thing about the same Redis. Pure, apart from reading BullMQ's JSON shape.
 */

/** A job scheduler as Redis holds it. */
export interface SchedulerView {
  id: string;
  queue: string;
  /** The name of the jobs it makes (`incremental:bot`). */
  name: string;
  cron: string | null;
  timezone: string;
  /** ISO time of its next job, as BullMQ stores it. */
  next: string | null;
  payload: JobPayload | null;
}

/** How a configured schedule compares with Redis. */
export type ScheduleState =
  /** Enabled, and Redis holds it as configured. */
  | 'scheduled'
  /** Enabled, but Redis holds it with another cron expression, zone, job or queue: the scheduler has not synced this config. */
  | 'outdated'
  /** Enabled, but not in Redis: no scheduler runs with this config (or it has not synced yet). */
  | 'missing'
  /** Disabled in the config, and not in Redis. */
  | 'disabled'
  /** In Redis, but not an enabled schedule of the config: a scheduler with this config would remove it. */
  | 'unconfigured';

/** A schedule of the config, a job scheduler of Redis, or both, side by side. */
export interface ScheduleStatus {
  id: string;
  state: ScheduleState;
  job: string | null;
  source: string | null;
  /** The queue its jobs go to (Redis's, when Redis holds it). */
  queue: string | null;
  cron: string | null;
  timezone: string | null;
  /** ISO time of its next run: Redis's when Redis holds it, else computed from the config's cron (for `missing`). */
  next: string | null;
  nextFrom: 'redis' | 'cron' | null;
}

/**
 * Compares the config's schedules with the job schedulers in Redis (pure; `now` for the next run
 * of a schedule Redis lacks). Sorted by id.
 */
export function compareSchedules(schedules: readonly ScheduleConfig[], inRedis: readonly SchedulerView[], now: Date): ScheduleStatus[] {
  const byId = new Map<string, SchedulerView[]>();
  for (const s of inRedis) byId.set(s.id, [...(byId.get(s.id) ?? []), s]);
  const out: ScheduleStatus[] = [];
  for (const schedule of schedules) {
    const found = byId.get(schedule.id) ?? [];
    byId.delete(schedule.id);
    const queue = queueFor(schedule.job as JobType, schedule.source);
    const base = { id: schedule.id, job: schedule.job, source: schedule.source ?? null, cron: schedule.cron, timezone: schedule.timezone };
    if (!schedule.enabled) {
      out.push({ ...base, state: 'disabled', queue, next: null, nextFrom: null });
      for (const s of found) out.push(unconfigured(s));
      continue;
    }
    const here = found.find((s) => s.queue === queue);
    if (here) {
      const same =
        here.cron === schedule.cron && here.timezone === schedule.timezone && here.payload?.type === schedule.job && here.payload.sourceId === schedule.source;
      out.push({ ...base, state: same ? 'scheduled' : 'outdated', queue, next: here.next, nextFrom: here.next ? 'redis' : null });
      for (const s of found) if (s !== here) out.push(unconfigured(s));
    } else if (found.length > 0) {
      // In Redis, but in another queue (its job type changed): the scheduler has not synced this config.
      const [first, ...rest] = found;
      out.push({ ...base, state: 'outdated', queue: first!.queue, next: first!.next, nextFrom: first!.next ? 'redis' : null });
      for (const s of rest) out.push(unconfigured(s));
    } else {
      const next = nextRuns(schedule, now, 1)[0];
      out.push({ ...base, state: 'missing', queue, next: next?.toISOString() ?? null, nextFrom: next ? 'cron' : null });
    }
  }
  for (const rest of byId.values()) for (const s of rest) out.push(unconfigured(s));
  return out.sort((a, b) => a.id.localeCompare(b.id) || (a.queue ?? '').localeCompare(b.queue ?? ''));
}

/** A job scheduler of `queue` as BullMQ's getJobSchedulers() returns it, with only the payload's known ids ({@link payloadIds}). */
export function schedulerView(queue: string, s: JobSchedulerJson<JobPayload>): SchedulerView {
  return {
    id: s.key,
    queue,
    name: s.name,
    cron: s.pattern ?? null,
    timezone: s.tz ?? 'UTC',
    next: typeof s.next === 'number' && Number.isFinite(s.next) ? new Date(s.next).toISOString() : null,
    payload: s.template?.data ? payloadIds(s.template.data) : null,
  };
}

/**
 * Only a job payload's known ids and options (type, sourceId, scheduleId, backup, deep):
 * whatever else a job might carry is not shown. Read field by field, not with the contract's
 * schema, so that a job whose payload the worker will refuse is still listed (with what it
 * holds, its type `unknown` when it has none).
 */
export function payloadIds(data: JobPayload | undefined): JobPayload {
  const raw = data as Partial<Record<string, unknown>> | undefined;
  const out: Record<string, unknown> = { type: raw?.type ?? ('unknown' as JobType) };
  if (typeof raw?.sourceId === 'string') out.sourceId = raw.sourceId;
  if (typeof raw?.scheduleId === 'string') out.scheduleId = raw.scheduleId;
  if (typeof raw?.backup === 'string') out.backup = raw.backup;
  if (typeof raw?.deep === 'boolean') out.deep = raw.deep;
  return out as JobPayload;
}

function unconfigured(s: SchedulerView): ScheduleStatus {
  return {
    id: s.id,
    state: 'unconfigured',
    job: s.payload?.type ?? null,
    source: s.payload?.sourceId ?? null,
    queue: s.queue,
    cron: s.cron,
    timezone: s.timezone,
    next: s.next,
    nextFrom: s.next ? 'redis' : null,
  };
}
