import { Gauge, Registry } from 'prom-client';
import type { LastDrills } from './drill-records.js';
import type { QueueStats } from './queue-stats.js';
import type { BackupsSummary } from './summarize-backups.js';

/** What `/metrics` reports: the backups summary, and the queues unless Redis could not be read. */
export interface MetricsInput {
  summary: BackupsSummary;
  /** Undefined when Redis could not be read (then `botbackup_redis_up` is 0 and no queue metric is given). */
  queues: QueueStats[] | undefined;
  /** The newest drill of each source that has one; undefined when Redis could not be read (then no drill metric is given). */
  drills: LastDrills | undefined;
}

type Labels = Record<string, string>;

/** One gauge of `/metrics` with this scrape's samples. */
export interface MetricFamily {
  name: string;
  help: string;
  /** Every label its samples carry, in the order they are shown. */
  labelNames: readonly string[];
  samples: { labels: Labels; value: number }[];
}

/** The content type of {@link renderMetrics}' text: Prometheus's text format 0.0.4. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Copy states, each always reported per target (0 when none) so that a rate or an alert has a series to read. */
const COPY_STATES = ['verified', 'unverified', 'bad', 'missing', 'unreachable'] as const;

/**
 * The dashboard's metrics with this scrape's values, in the order they are shown (docs/deploy.md
 * lists them). Pure. Every metric is a gauge: they are read from the catalog and from Redis at
 * scrape time, not counted by this process (which may restart at any time). The queue families
 * are left out when Redis could not be read.
 */
export function metricFamilies(input: MetricsInput): MetricFamily[] {
  const { summary, queues, drills } = input;
  const families: MetricFamily[] = [];
  const family: AddFamily = (name, help, labelNames = []) => {
    const f: MetricFamily = { name, help, labelNames, samples: [] };
    families.push(f);
    return f.samples;
  };

  family('botbackup_catalog_up', 'Whether the last catalog sync could list at least one storage target (1) or none (0).').push({
    labels: {},
    value: summary.error === undefined ? 1 : 0,
  });
  const reachable = family('botbackup_target_reachable', 'Whether the last catalog sync could list the storage target.', ['target']);
  for (const t of summary.targets) reachable.push({ labels: { target: t.name }, value: t.reachable ? 1 : 0 });
  addSourceMetrics(family, summary);
  addCopyMetrics(family, summary);
  family('botbackup_redis_up', 'Whether the queues and drill records could be read from Redis for this scrape.').push({ labels: {}, value: queues ? 1 : 0 });
  if (queues) addQueueMetrics(family, queues);
  addDrillMetrics(family, summary, drills);
  return families;
}

/**
 * Renders {@link metricFamilies} in the Prometheus text format (0.0.4) through a prom-client
 * Registry of this scrape's own: a gauge per family, set to its values, so that prom-client
 * writes the text (escaping, number format) and a family absent from this scrape (the queues
 * without Redis) is absent from the text, not shown empty. Nothing is kept between scrapes, so
 * concurrent scrapes cannot mix their values. No process metrics: the dashboard's /metrics
 * describes the backups and the queues, not the dashboard process (docs/deploy.md).
 */
export async function renderMetrics(input: MetricsInput): Promise<string> {
  const registry = new Registry();
  for (const f of metricFamilies(input)) {
    const gauge = new Gauge({ name: f.name, help: f.help, labelNames: f.labelNames, registers: [registry] });
    for (const sample of f.samples) gauge.set(sample.labels, sample.value);
  }
  return registry.metrics();
}

/** Adds a metric family (shown in the order added) with its label names, and returns its samples to push to. */
type AddFamily = (name: string, help: string, labelNames?: readonly string[]) => MetricFamily['samples'];

/**
 * Per source: the newest good backup's age and time, each schedule's newest good backup's age, the
 * newest backup's duration and stored bytes, and the backups by whether they are degraded. No
 * sample when the catalog could not be synced.
 */
function addSourceMetrics(family: AddFamily, summary: BackupsSummary): void {
  const age = family('botbackup_newest_backup_age_seconds', 'Age of the newest good backup of the source (manifest readable, a readable copy, no bad copy).', [
    'source',
  ]);
  const stamp = family('botbackup_newest_backup_timestamp_seconds', 'Completion time (Unix seconds) of the newest good backup of the source.', ['source']);
  const scheduleAge = family(
    'botbackup_schedule_newest_backup_age_seconds',
    'Age of the newest good backup made by a job of the schedule (from the manifest trigger).',
    ['schedule', 'source'],
  );
  const duration = family('botbackup_backup_last_duration_seconds', 'How long the newest backup of the source took.', ['source']);
  const stored = family(
    'botbackup_backup_last_stored_bytes',
    'Bytes the newest backup of the source takes in a storage target: its own objects as stored (the STORED of botbackup list).',
    ['source'],
  );
  const backups = family('botbackup_backups', 'Backups of the source in the storage targets, by whether they are degraded (a target lacks a good copy).', [
    'source',
    'degraded',
  ]);
  const now = Date.parse(summary.generatedAt);
  // When the catalog could not be synced nothing is known of the backups: no series, rather than zeros.
  const known = summary.error === undefined ? summary.sources : [];
  for (const source of known) {
    const labels = { source: source.sourceId };
    if (source.newestGood) {
      age.push({ labels, value: round(source.newestGood.ageSeconds) });
      stamp.push({ labels, value: round(Date.parse(source.newestGood.completedAt) / 1000) });
    }
    const bySchedule = new Map<string, number>();
    for (const b of source.backups) {
      const schedule = b.trigger?.scheduleId;
      if (!b.good || !schedule || bySchedule.has(schedule)) continue;
      // Newest first: the first good backup of a schedule is its newest.
      bySchedule.set(schedule, Math.max(0, (now - Date.parse(b.completedAt!)) / 1000));
    }
    for (const [schedule, seconds] of bySchedule) scheduleAge.push({ labels: { schedule, source: source.sourceId }, value: round(seconds) });
    const newest = source.backups.find((b) => b.durationSeconds !== undefined);
    if (newest) {
      duration.push({ labels, value: round(newest.durationSeconds!) });
      stored.push({ labels, value: newest.storedBytes ?? 0 });
    }
    const degraded = source.backups.filter((b) => b.degraded).length;
    backups.push({ labels: { source: source.sourceId, degraded: 'false' }, value: source.backups.length - degraded });
    backups.push({ labels: { source: source.sourceId, degraded: 'true' }, value: degraded });
  }
}

/** Per target (none when the catalog could not be synced): copies by state, every state reported. */
function addCopyMetrics(family: AddFamily, summary: BackupsSummary): void {
  const copies = family('botbackup_copies', 'Copies of backups per storage target, by state (verified by verify, unverified, bad, missing, unreachable).', [
    'target',
    'state',
  ]);
  for (const t of summary.error === undefined ? summary.targets : []) {
    const counts = new Map<string, number>(COPY_STATES.map((s) => [s, 0]));
    for (const source of summary.sources) {
      for (const b of source.backups) {
        const copy = b.copies.find((c) => c.target === t.name);
        if (copy) counts.set(copy.state, (counts.get(copy.state) ?? 0) + 1);
      }
    }
    for (const [state, value] of counts) copies.push({ labels: { target: t.name, state }, value });
  }
}

/** Per queue, jobs by state; per job type and source, when the newest recent jobs ended and whether the newest failed. */
function addQueueMetrics(family: AddFamily, queues: QueueStats[]): void {
  const jobs = family(
    'botbackup_queue_jobs',
    'Jobs in the queue by state (BullMQ getJobCounts); state="failed" counts failed jobs kept in Redis (worker.keepFailed).',
    ['queue', 'state'],
  );
  for (const q of queues) {
    for (const [state, value] of Object.entries(q.counts).sort(([a], [b]) => (a < b ? -1 : 1))) jobs.push({ labels: { queue: q.name, state }, value });
  }
  const finished = family(
    'botbackup_job_last_finished_timestamp_seconds',
    'When the newest recent job of the type and source ended (Unix seconds), by result (completed or failed).',
    ['type', 'source', 'result'],
  );
  const lastFailed = family('botbackup_job_last_failed', 'Whether the newest recent job of the type and source that ended failed (1) or completed (0).', [
    'type',
    'source',
  ]);
  const latest = new Map<string, { type: string; sourceId: string; result: string; finishedOn: number }>();
  for (const q of queues) {
    for (const o of q.lastOutcomes) {
      finished.push({ labels: { type: o.type, source: o.sourceId, result: o.result }, value: round(o.finishedOn / 1000) });
      const key = `${o.type}\0${o.sourceId}`;
      if ((latest.get(key)?.finishedOn ?? -1) < o.finishedOn) latest.set(key, o);
    }
  }
  for (const o of latest.values()) lastFailed.push({ labels: { type: o.type, source: o.sourceId }, value: o.result === 'failed' ? 1 : 0 });
}

/** Per source with a drill record: when the newest restore drill ended, whether it passed, how long it took and how old its data was. */
function addDrillMetrics(family: AddFamily, summary: BackupsSummary, drills: LastDrills | undefined): void {
  const drillAt = family('botbackup_drill_last_timestamp_seconds', 'When the newest restore drill of the source ended (Unix seconds).', ['source']);
  const drillOk = family(
    'botbackup_drill_last_success',
    'Whether the newest restore drill of the source passed (1: restored and every check passed) or failed (0).',
    ['source'],
  );
  const drillRestore = family(
    'botbackup_drill_restore_seconds',
    'Wall time of the newest restore drill of the source (restore and checks): what a recovery of that backup takes; for a failed drill, up to the failure.',
    ['source'],
  );
  const drillAge = family('botbackup_drill_data_age_seconds', 'How old the data of the backup the newest restore drill of the source read was when it ran.', [
    'source',
  ]);
  // Sources in the page's order (configured ones first), then any other with a record; none without a drill.
  const sourceOrder = [...new Set([...summary.sources.map((s) => s.sourceId), ...Object.keys(drills ?? {})])];
  for (const sourceId of sourceOrder) {
    const d = drills?.[sourceId];
    if (!d) continue;
    const labels = { source: sourceId };
    drillAt.push({ labels, value: round(Date.parse(d.at) / 1000) });
    drillOk.push({ labels, value: d.ok ? 1 : 0 });
    drillRestore.push({ labels, value: round(d.restoreMs / 1000) });
    drillAge.push({ labels, value: round(d.dataAgeMs / 1000) });
  }
}

/** Milliseconds are enough for ages and durations. */
function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
