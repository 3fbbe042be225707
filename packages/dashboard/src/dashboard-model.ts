import type { Config, DrillRecord } from '@botbackup/core';
import type { SchedulerView } from '@botbackup/scheduler';
import type { WorkerHeartbeat } from '@botbackup/core';
import type { LastDrills } from './drill-records.js';
import type { FreshnessBound } from './freshness-bound.js';
import type { QueueStats } from './queue-stats.js';
import type { RestoreContext } from './restore-help.js';
import type { SourceWal } from './rpo.js';
import { schedulesPanel, type ScheduleRow } from './schedules-view.js';
import { sourceHealth, type SourceHealth } from './source-health.js';
import type { BackupsSummary } from './summarize-backups.js';
import { buildTrends, type SourceTrends } from './trends.js';
import { configuredQueues, workersPanel, type WorkersPanel } from './workers-view.js';

/** What the dashboard read from Redis for one request. */
export interface RedisRead {
  queues: QueueStats[];
  /** The newest drill record of each configured source that has one (drillKeys.last). */
  drills: LastDrills;
  /** The job schedulers of the configured queues. */
  schedulers: SchedulerView[];
  heartbeats: WorkerHeartbeat[];
}

/** The config's parts the panels use. */
export type ModelConfig = Pick<Config, 'sources' | 'schedules' | 'notify' | 'drillPeriodMs'>;

export interface ModelInput {
  config: ModelConfig;
  summary: BackupsSummary;
  /** Undefined when Redis could not be read (in time). */
  redis: RedisRead | undefined;
  /** The newest drill `botbackup drill` recorded in the local catalog, per source. */
  localDrills: Record<string, DrillRecord | undefined>;
  /** Each source's freshness bound; a source without one (not in the config) gets notify.staleAfter. */
  bounds: ReadonlyMap<string, FreshnessBound>;
  restore: RestoreContext;
  /** Each continuous source's shipped commits, as the newest catalog sync listed them (none for another source). */
  wal?: ReadonlyMap<string, SourceWal> | undefined;
  now: Date;
}

/** Everything the home page and the `/api/*` routes show, computed for one request. */
export interface DashboardModel {
  generatedAt: string;
  summary: BackupsSummary;
  /** Undefined when Redis could not be read. */
  queues: QueueStats[] | undefined;
  /** The newest drill of each configured source, from Redis or the local catalog, whichever is newer; undefined when Redis could not be read. */
  drills: LastDrills | undefined;
  health: SourceHealth[];
  /** Undefined when Redis could not be read. */
  schedules: ScheduleRow[] | undefined;
  /** Undefined when Redis could not be read. */
  workers: WorkersPanel | undefined;
  /** Each source's trends (worked out at the first read). */
  readonly trends: SourceTrends[];
  restore: RestoreContext;
}

/**
 * The dashboard's model (pure): each source's health line and trends from the catalog's summary,
 * the schedules, workers and queues from Redis, and each source's newest drill from both. With
 * Redis unreadable, the parts it holds are undefined and the health lines say the drills are
 * unknown (unless the local catalog has one).
 */
export function buildModel(input: ModelInput): DashboardModel {
  const { config, summary, redis, now } = input;
  const configured = new Set(config.sources.map((s) => s.id));
  const drills = redis
    ? newestDrills(
        config.sources.map((s) => s.id),
        redis.drills,
        input.localDrills,
      )
    : undefined;
  const boundOf = (sourceId: string): FreshnessBound =>
    input.bounds.get(sourceId) ?? { ms: config.notify.staleAfterMs, from: 'staleAfter', scheduleIds: [], gapMs: undefined };
  const health = summary.sources.map((source) =>
    sourceHealth({
      source,
      bound: boundOf(source.sourceId),
      lastDrill: drills ? drills[source.sourceId] : input.localDrills[source.sourceId],
      // Drills are kept for configured sources only: another source found in storage has none to know of.
      drillsKnown: redis !== undefined || !configured.has(source.sourceId),
      drillPeriodMs: config.drillPeriodMs,
      catalogError: summary.error,
      wal: input.wal?.get(source.sourceId),
      now,
    }),
  );
  let trends: SourceTrends[] | undefined;
  return {
    generatedAt: summary.generatedAt,
    summary,
    queues: redis?.queues,
    drills,
    health,
    schedules: redis && schedulesPanel(config.schedules, redis.schedulers, redis.queues, now),
    workers: redis && workersPanel(redis.heartbeats, configuredQueues([...configured]), now),
    // Worked out only by the routes that show them (the page and /api/trends).
    get trends() {
      return (trends ??= summary.sources.map((s) => buildTrends(s.sourceId, s.backups, boundOf(s.sourceId).ms, now, undefined, input.wal?.get(s.sourceId))));
    },
    restore: input.restore,
  };
}

/** Per source, the newer of the Redis record and the local catalog's. */
function newestDrills(sourceIds: readonly string[], inRedis: LastDrills, local: Record<string, DrillRecord | undefined>): LastDrills {
  const out: LastDrills = {};
  for (const id of sourceIds) {
    const a = inRedis[id];
    const b = local[id];
    const newest = a && b ? (Date.parse(b.at) > Date.parse(a.at) ? b : a) : (a ?? b);
    if (newest) out[id] = newest;
  }
  return out;
}
