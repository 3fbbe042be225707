import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import {
  RedisUnavailableError,
  backupSizes,
  parseDrillRecord,
  planDrill,
  redactUrl,
  formatBytes,
  formatSeconds,
  type Config,
  type DrillCopy,
  type DrillRecord,
  type SourceConfig,
} from '@botbackup/core';
import { listWal, readCommittedWal, type CatalogBackup } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import type { CommandContext } from '../context.js';
import type { JobView, ProgressView, QueueInspection, QueueSummary, ScheduleState, SourceDrills, ScheduleStatus } from '../inspect.js';
import {
  configuredQueues,
  continuousStatus,
  drillCopiesOf,
  lastJobOf,
  newestGoodBackup,
  workersStatus,
  type ContinuousDatabaseStatus,
  type ContinuousRead,
  type ContinuousStatus,
  type WorkersStatus,
} from '../status-model.js';
import type { WrapAction } from '../command.js';
import { describeProgress, describeResult } from '../job-text.js';
import { formatTable, formatTime } from '../output.js';

/** Failures `status` lists: those of the last day, at most this many. */
const RECENT_FAILURES_MS = 86_400_000;
const RECENT_FAILURES_MAX = 10;
/**
 * How long status waits before listing a continuous source's segments again when a database
 * seems behind: two shipping intervals and some slack, so that a commit a quiet bot made just
 * before status looked has been shipped by a running streamer.
 */
const CONFIRM_BEHIND_MS = 2500;

/** `status --json` (docs/cli.md). Parts read from Redis are null when distributed mode is not configured or Redis could not be read. */
export interface StatusJson {
  at: string;
  distributed: { configured: boolean; redis: string | null; prefix: string | null; error: string | null };
  staleAfterMs: number;
  schedules: ScheduleStatus[] | null;
  queues: QueueSummary[] | null;
  active: (JobView & { runningForMs: number | null })[] | null;
  /** The workers connected to Redis, and the configured queues none serves. */
  workers: WorkersStatus | null;
  sources: SourceStatus[];
  recentFailures: JobView[] | null;
  storage: { error: string | null; unreachable: { target: string; error: string }[] };
}

export interface SourceStatus {
  id: string;
  /** With its sizes (core's backupSizes: `entryBytes` packed, `storedBytes` stored), as list and verify give them. */
  newestGoodBackup: {
    id: string;
    type: 'full' | 'incremental';
    completedAt: string;
    ageMs: number;
    degraded: boolean;
    entryBytes: number;
    storedBytes: number;
  } | null;
  /** No good backup, or the newest is older than `notify.staleAfter`. */
  stale: boolean;
  /** The newest finished job of the source (any type), or null (none kept in Redis, or Redis not read). */
  lastJob: JobView | null;
  /**
   * Its restore drills, from the workers' records in Redis and `botbackup drill`'s in the local
   * catalog; null when Redis is configured but could not be read, or the catalog could not be read either.
   */
  drill: DrillStatus | null;
  /** Continuous protection (WAL shipping) of each database; null when the source is not continuous. */
  continuous: ContinuousStatus | null;
}

export interface DrillStatus {
  /** The newest drill of the source, with how long ago it ended; null when none was recorded. */
  last: (DrillRecord & { agoMs: number }) | null;
  /** `drill.period`: every copy should pass a drill this often. */
  periodMs: number;
  /** Copies of the source's backups in the storage targets (see drillCopiesOf); null when no target could be listed. */
  copies: number | null;
  /** The copies with no passed drill within `periodMs`, newest backup first; null when no target could be listed. */
  overdue: DrillCopy[] | null;
}

export function statusCommand(wrap: WrapAction): Command {
  return new Command('status')
    .description('schedules and their next run, queues, running jobs, the age of the newest good backup of each source, and recent failures')
    .action(
      wrap(async (ctx) => {
        const config = await ctx.config();
        // BullMQ and ioredis only when there is a Redis to read (without, status shows the backups only).
        const inspect = config.redis ? await import('../inspect.js') : undefined;
        // The backups part needs only the storage targets, the rest only Redis: read both at once,
        // so that a Redis outage still shows how old the backups are.
        const [backups, queues, continuous] = await Promise.allSettled([
          readBackups(ctx),
          inspect?.inspectQueues({ config, signal: ctx.signal }),
          readContinuous(ctx, config),
        ]);
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const localDrills = await readLocalDrills(ctx, config);
        if (queues.status === 'rejected' && !(queues.reason instanceof RedisUnavailableError)) throw queues.reason;
        const now = new Date();
        const report = buildStatus({
          config,
          now,
          backups: backups.status === 'fulfilled' ? backups.value : { error: (backups.reason as Error).message, unreachable: [] },
          queues: queues.status === 'fulfilled' ? queues.value : { error: (queues.reason as Error).message },
          schedules: queues.status === 'fulfilled' && queues.value ? inspect?.compareSchedules(config.schedules, queues.value.schedulers, now) : undefined,
          localDrills,
          continuous: continuous.status === 'fulfilled' ? continuous.value : undefined,
        });
        if (ctx.options.json) ctx.printJson(report);
        else printStatus(ctx, config, report);
        // Printed first, then the failure: one sentence on stderr and its exit code (10 for Redis, else the storage's).
        if (queues.status === 'rejected') throw queues.reason;
        if (backups.status === 'rejected') throw backups.reason;
      }),
    );
}

interface BackupsRead {
  list?: CatalogBackup[];
  error: string | null;
  unreachable: { target: string; error: string }[];
}

async function readBackups(ctx: CommandContext): Promise<BackupsRead> {
  const catalog = await ctx.catalog();
  const list = await catalog.sync(await ctx.stores(), { signal: ctx.signal });
  return { list, error: null, unreachable: catalog.unreachable };
}

/**
 * Each continuous source's WAL listings (every target) and its databases' WAL-index on this host,
 * read in that order: a commit seen in the WAL-index and shipped before the listing counts as
 * shipped. When a database seems behind, the listing is read again after a shipping interval or
 * two, against the same WAL-index reading: a commit a quiet bot made just then is shipped by now.
 */
async function readContinuous(ctx: CommandContext, config: Config): Promise<Record<string, ContinuousRead>> {
  const sources = config.sources.filter((s) => s.continuous);
  if (sources.length === 0) return {};
  const stores = await ctx.stores();
  const out: Record<string, ContinuousRead> = {};
  for (const source of sources) {
    const wal = Object.fromEntries(source.databases.map((d) => [d.name, readCommittedWal(d.path)]));
    let read: ContinuousRead = { ...(await listWalEverywhere(stores, source, ctx.signal)), wal };
    if (continuousStatus(source, read, Date.now())?.databases.some((d) => d.state === 'behind')) {
      await sleep(CONFIRM_BEHIND_MS, undefined, { signal: ctx.signal });
      read = { ...(await listWalEverywhere(stores, source, ctx.signal)), wal };
    }
    out[source.id] = read;
  }
  return out;
}

async function listWalEverywhere(stores: readonly BackupStore[], source: SourceConfig, signal: AbortSignal): Promise<Omit<ContinuousRead, 'wal'>> {
  const results = await Promise.allSettled(stores.map((store) => listWal(store, source.id, signal)));
  const listings: ContinuousRead['listings'] = [];
  const unreachable: ContinuousRead['unreachable'] = [];
  for (const [i, r] of results.entries()) {
    if (r.status === 'fulfilled') listings.push(r.value);
    else unreachable.push({ target: stores[i]!.name, error: (r.reason as Error).message });
  }
  return { listings, unreachable };
}

/** The drill records `botbackup drill` kept in the local catalog, per source; undefined when the catalog cannot be read (its error is the backups part's). */
async function readLocalDrills(ctx: CommandContext, config: Config): Promise<Record<string, DrillRecord[]> | undefined> {
  try {
    const catalog = await ctx.catalog();
    return Object.fromEntries(config.sources.map((s) => [s.id, catalog.drills(s.id).flatMap((r) => parseDrillRecord(JSON.stringify(r)) ?? [])]));
  } catch {
    return undefined;
  }
}

/**
 * Assembles the status report (pure: `now` passed in) from the catalog's backups and what Redis
 * holds (undefined: distributed mode is not configured; `{ error }`: Redis could not be read).
 */
export function buildStatus(input: {
  config: Config;
  now: Date;
  backups: BackupsRead;
  queues: QueueInspection | { error: string } | undefined;
  /** The config's schedules compared with the job schedulers in `queues` (compareSchedules); undefined when Redis was not read. */
  schedules?: ScheduleStatus[] | undefined;
  /** The drills `botbackup drill` recorded in the local catalog, per source (undefined: not read). */
  localDrills?: Record<string, DrillRecord[]> | undefined;
  /** What was read of each continuous source's shipping (undefined: not read; its sources then show no target listed). */
  continuous?: Record<string, ContinuousRead> | undefined;
}): StatusJson {
  const { config, now } = input;
  const inspected = input.queues && 'queues' in input.queues ? input.queues : undefined;
  const since = now.getTime() - RECENT_FAILURES_MS;
  const sources = config.sources.map((source): SourceStatus => {
    const good = input.backups.list && newestGoodBackup(input.backups.list, source.id);
    const ageMs = good ? Math.max(0, now.getTime() - Date.parse(good.manifest!.completedAt)) : undefined;
    return {
      id: source.id,
      newestGoodBackup: good
        ? {
            id: good.backupId,
            type: good.manifest!.type,
            completedAt: good.manifest!.completedAt,
            ageMs: ageMs!,
            degraded: good.degraded,
            ...backupSizes(good.manifest!),
          }
        : null,
      // Unknown when no target could be listed: then not called stale (the error says why).
      stale: input.backups.list ? ageMs === undefined || ageMs > config.notify.staleAfterMs : false,
      lastJob: (inspected && lastJobOf(inspected.finished, source.id)) ?? null,
      // With Redis configured but unreadable the workers' drills are unknown: no "never" or overdue copies that may be wrong.
      drill:
        config.redis && !inspected
          ? null
          : drillStatus(inspected?.drills[source.id], input.localDrills?.[source.id], input.backups.list, source.id, config.drillPeriodMs, now),
      continuous: continuousStatus(source, input.continuous?.[source.id] ?? { listings: [], unreachable: [], wal: {} }, now.getTime()),
    };
  });
  return {
    at: now.toISOString(),
    distributed: {
      configured: config.redis !== undefined,
      redis: config.redis ? redactUrl(config.redis.url) : null,
      prefix: config.redis?.prefix ?? null,
      error: input.queues && 'error' in input.queues ? input.queues.error : null,
    },
    staleAfterMs: config.notify.staleAfterMs,
    schedules: input.schedules ?? null,
    queues: inspected?.queues ?? null,
    active: inspected
      ? inspected.active.map((job) => ({ ...job, runningForMs: job.startedAt ? Math.max(0, now.getTime() - Date.parse(job.startedAt)) : null }))
      : null,
    workers: inspected ? workersStatus(inspected.workers, configuredQueues(config)) : null,
    sources,
    recentFailures: inspected
      ? inspected.finished.filter((j) => j.state === 'failed' && j.finishedAt !== null && Date.parse(j.finishedAt) >= since).slice(0, RECENT_FAILURES_MAX)
      : null,
    storage: { error: input.backups.error, unreachable: input.backups.unreachable },
  };
}

/**
 * A source's drills (pure), from the workers' records in Redis and `botbackup drill`'s in the local
 * catalog: the newest drill of either, and which copies the catalog lists that no drill passed
 * within the period. Null when neither could be read.
 */
function drillStatus(
  inRedis: SourceDrills | undefined,
  local: readonly DrillRecord[] | undefined,
  backups: readonly CatalogBackup[] | undefined,
  sourceId: string,
  periodMs: number,
  now: Date,
): DrillStatus | null {
  if (!inRedis && !local) return null;
  const history = [...(inRedis?.copies ?? []), ...(inRedis?.last ? [inRedis.last] : []), ...(local ?? [])];
  let last: DrillRecord | undefined;
  for (const r of [...(inRedis?.last ? [inRedis.last] : []), ...(local ?? [])]) if (!last || Date.parse(r.at) > Date.parse(last.at)) last = r;
  const copies = backups && drillCopiesOf(backups, sourceId);
  return {
    last: last ? { ...last, agoMs: Math.max(0, now.getTime() - Date.parse(last.at)) } : null,
    periodMs,
    copies: copies ? copies.length : null,
    overdue: copies ? planDrill({ copies, history, now, periodMs }).overdue : null,
  };
}

const STATE_TEXT: Record<ScheduleState, string> = {
  scheduled: 'ok',
  outdated: 'OUTDATED: Redis has another cron, zone or job; restart "botbackup scheduler" with this config',
  missing: 'MISSING from Redis: is "botbackup scheduler" running with this config?',
  disabled: 'disabled',
  unconfigured: 'NOT CONFIGURED: in Redis only; "botbackup scheduler" with this config removes it',
};

/** Prints the report as text: one block per part, each a title and a table (or one line), in a fixed order; parts not read are left out. */
function printStatus(ctx: CommandContext, config: Config, report: StatusJson): void {
  const now = Date.parse(report.at);
  const blocks: (string | null | undefined)[] = [
    distributedNote(config, report.distributed),
    report.schedules && schedulesBlock(report.schedules, report.distributed, now),
    report.queues && queuesBlock(report.queues),
    report.workers && workersBlock(report.workers),
    report.active && activeBlock(report.active),
    sourcesBlock(report, now),
    continuousBlock(report.sources),
    drillsBlock(report.sources),
    report.storage.error ? `No storage target could be listed: ${report.storage.error}` : undefined,
    ...report.storage.unreachable.map((u) => `Storage "${u.target}" could not be listed: ${u.error}`),
    report.recentFailures && recentFailuresBlock(report.recentFailures, now),
  ];
  ctx.print(blocks.filter((b): b is string => typeof b === 'string').join('\n\n'));
}

/** Why the Redis parts are missing (distributed mode not configured, or Redis not readable); undefined when they are there. */
function distributedNote(config: Config, d: StatusJson['distributed']): string | undefined {
  if (!d.configured) {
    const n = config.schedules.length;
    return `Distributed mode is not configured (no "redis" in ${config.file})${n > 0 ? `: the ${n} schedule(s) of the config do not run` : ''}; showing the backups only.`;
  }
  if (d.error) return `Redis at ${d.redis} could not be read; showing the backups only.`;
  return undefined;
}

/** The schedules, each with its next run (and in how long from `now`) and whether Redis matches the config. */
function schedulesBlock(schedules: readonly ScheduleStatus[], d: StatusJson['distributed'], now: number): string {
  const rows = schedules.map((s) => [
    s.id,
    s.job ?? '?',
    s.source ?? '-',
    s.cron ?? '-',
    s.timezone ?? '-',
    s.next ? `${formatTime(s.next)} (${formatRelative(Date.parse(s.next) - now)})` : '-',
    STATE_TEXT[s.state],
  ]);
  return (
    `Schedules (Redis ${d.redis}, prefix ${d.prefix})\n` +
    (rows.length > 0 ? formatTable(['SCHEDULE', 'JOB', 'SOURCE', 'CRON', 'ZONE', 'NEXT RUN', 'STATE'], rows) : '  none configured or in Redis')
  );
}

/** The queues' job counts; a NOTE column only when some queue is paused or not configured. */
function queuesBlock(queues: readonly QueueSummary[]): string {
  const notes = queues.map((q) => [q.paused ? 'PAUSED' : '', q.configured ? '' : 'not configured (no such source)'].filter(Boolean).join(', '));
  const withNotes = notes.some((n) => n !== '');
  const rows = queues.map((q, i) => [
    q.name,
    String(q.counts.waiting + q.counts.prioritized + q.counts['waiting-children']),
    String(q.counts.active),
    String(q.counts.delayed),
    String(q.counts.completed),
    String(q.counts.failed),
    ...(withNotes ? [notes[i]!] : []),
  ]);
  const headers = ['QUEUE', 'WAITING', 'ACTIVE', 'DELAYED', 'COMPLETED', 'FAILED', ...(withNotes ? ['NOTE'] : [])];
  return `Queues\n${formatTable(headers, rows)}`;
}

/**
 * Each worker with the queues it serves, its address and how long it has been connected; then a
 * line per configured queue no worker serves (its jobs wait), or one line saying why the workers
 * cannot be listed.
 */
function workersBlock(workers: WorkersStatus): string {
  if (!workers.list || !workers.unserved) return `Workers: cannot be listed: ${workers.error}`;
  const table =
    workers.list.length === 0
      ? 'Workers: none connected'
      : `Workers\n${formatTable(
          ['WORKER', 'QUEUES', 'ADDRESS', 'CONNECTED FOR'],
          workers.list.map((w) => [w.name ?? '(unnamed)', w.queues.join(', '), w.host, formatAge(w.connectedForMs)]),
        )}`;
  const width = Math.max(0, ...workers.unserved.map((q) => q.queue.length));
  const waiting = workers.unserved.map(
    (q) => `${q.queue.padEnd(width)}  no worker: ${q.sourceId === null ? 'verify, prune, replicate and drill jobs' : `backups of "${q.sourceId}"`} will wait`,
  );
  return [table, ...waiting].join('\n');
}

/** The running jobs, with their progress and how long they have run. */
function activeBlock(active: NonNullable<StatusJson['active']>): string {
  return active.length === 0
    ? 'Active jobs: none'
    : `Active jobs\n${formatTable(
        ['JOB', 'QUEUE', 'NAME', 'PROGRESS', 'RUNNING FOR'],
        active.map((j) => [j.id, j.queue, j.name, describeProgress(j.progress), j.runningForMs === null ? '-' : formatAge(j.runningForMs)]),
      )}`;
}

/** Each source's newest good backup, its age, whether it is stale (UNKNOWN when no target could be listed), and its last job. */
function sourcesBlock(report: StatusJson, now: number): string {
  const d = report.distributed;
  const rows = report.sources.map((s) => {
    const b = s.newestGoodBackup;
    const state = report.storage.error ? 'UNKNOWN' : s.stale ? `STALE (${b ? `older than ${formatAge(report.staleAfterMs)}` : 'no good backup'})` : 'ok';
    return [
      s.id,
      b ? `${b.id}${b.degraded ? ' DEGRADED' : ''}` : 'none',
      b ? formatAge(b.ageMs) : '-',
      b ? formatBytes(b.entryBytes) : '-',
      b ? formatBytes(b.storedBytes) : '-',
      state,
      s.lastJob ? describeLastJob(s.lastJob, now) : d.configured && !d.error ? 'none in Redis' : '-',
    ];
  });
  return `Sources\n${formatTable(['SOURCE', 'NEWEST GOOD BACKUP', 'AGE', 'PACKED', 'STORED', 'STATE', 'LAST JOB'], rows)}`;
}

/**
 * Each continuous source's databases, a line each: the newest shipped commit and how long ago,
 * the newest generation and its segments, and the state: `ok` (within continuous.alertAfter, or
 * nothing committed waits unshipped: a quiet bot), `BEHIND`, `CHECK` (old, and the database is
 * not readable here), `NOTHING SHIPPED`, `GAP`. Undefined when no source is continuous.
 */
function continuousBlock(sources: readonly SourceStatus[]): string | undefined {
  const continuous = sources.filter((s) => s.continuous);
  if (continuous.length === 0) return undefined;
  const lines = continuous.flatMap((s) => {
    const c = s.continuous!;
    if (c.error) return [`${s.id}: no target's segments could be listed: ${c.error}`];
    return c.databases.map((d) => `${s.id} ${d.database}: ${describeContinuous(d)}; ${describeShippingState(d)}`);
  });
  return `Continuous protection (the newest shipped commit's age is what a lost disk would cost only while the bot writes)\n${lines.join('\n')}`;
}

/** `newest shipped commit 2026-12-07 17:00:01Z (3m 2s ago), generation <id>, 180 segments (1.2 MiB)` (status and list). */
export function describeContinuous(d: Pick<ContinuousDatabaseStatus, 'newestShippedCommit' | 'generation'>): string {
  const c = d.newestShippedCommit;
  const commit = c ? `newest shipped commit ${formatTime(c.at)} (${formatAge(c.ageMs)} ago)` : 'no commit shipped yet';
  const g = d.generation;
  const older = c && g && c.generation !== g.id ? ` in generation ${c.generation}` : '';
  const generation = g ? `, generation ${g.id}, ${g.segments} segment${g.segments === 1 ? '' : 's'} (${formatBytes(g.bytes)})` : ', no generation';
  return `${commit}${older}${generation}`;
}

function describeShippingState(d: ContinuousDatabaseStatus): string {
  const head =
    d.state === 'shipped'
      ? 'ok, nothing committed waits unshipped'
      : d.state === 'recent'
        ? 'ok'
        : d.state === 'behind'
          ? 'BEHIND'
          : d.state === 'old'
            ? 'CHECK'
            : d.warning
              ? 'NOTHING SHIPPED'
              : 'ok, nothing committed since the generation began';
  const gap = d.generation?.firstMissingSeq != null ? ' GAP' : '';
  return d.warning ? `${head}${gap}: ${d.warning}` : `${head}${gap}`;
}

/** Each source's restore drills; undefined when no source's drills could be read. */
function drillsBlock(sources: readonly SourceStatus[]): string | undefined {
  if (!sources.some((s) => s.drill)) return undefined;
  const rows = sources.map((s) => [s.id, s.drill ? describeDrillCopies(s.drill) : '-', s.drill ? describeDrill(s.drill) : '-']);
  return `Restore drills\n${formatTable(['SOURCE', 'COPIES', 'LAST DRILL'], rows)}`;
}

/** The jobs that failed in the last day (at most RECENT_FAILURES_MAX), with when, their attempts and why. */
function recentFailuresBlock(failures: readonly JobView[], now: number): string {
  return failures.length === 0
    ? 'Failures in the last 24 h: none'
    : `Failures in the last 24 h (newest ${RECENT_FAILURES_MAX} at most)\n${formatTable(
        ['JOB', 'QUEUE', 'NAME', 'FAILED', 'ATTEMPTS', 'REASON'],
        failures.map((j) => [
          j.id,
          j.queue,
          j.name,
          `${formatAge(now - Date.parse(j.finishedAt!))} ago`,
          `${j.attemptsMade}/${j.attempts}`,
          j.failedReason ?? '',
        ]),
      )}`;
}

/** `drill ok 3h ago: backup <id> from "local", restore 4.2 s, data age 1d 2h`, `drill FAILED 1h ago: <why>` or `drill never`. */
export function describeDrill(drill: DrillStatus): string {
  const d = drill.last;
  if (!d) return 'drill never';
  if (!d.ok) return `drill FAILED ${formatAge(d.agoMs)} ago: ${d.error ?? 'no reason given'}`;
  return `drill ok ${formatAge(d.agoMs)} ago: backup ${d.backupId} from "${d.store}", restore ${formatSeconds(d.restoreMs)}, data age ${formatAge(d.dataAgeMs)}`;
}

/** `1 of 4 copies not drilled within 30d`, `no copies`, or `-` when the targets could not be listed. */
function describeDrillCopies(drill: DrillStatus): string {
  if (drill.copies === null || drill.overdue === null) return '-';
  if (drill.copies === 0) return 'no copies';
  return `${drill.overdue.length} of ${drill.copies} ${drill.copies === 1 ? 'copy' : 'copies'} not drilled within ${formatAge(drill.periodMs)}`;
}

function describeLastJob(job: JobView, now: number): string {
  const when = job.finishedAt ? ` ${formatAge(now - Date.parse(job.finishedAt))} ago` : '';
  const type = job.payload.type;
  if (job.state === 'failed') return `${type} FAILED${when}: ${job.failedReason ?? 'no reason given'}`;
  const result = describeResult(job);
  return `${type} ok${when}${result ? `: ${result}` : ''}`;
}

/** A duration in its two largest units: `45s`, `12m 5s`, `5h 3m`, `3d 4h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const units: [number, string][] = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  const i = units.findIndex(([size]) => s >= size);
  if (i === -1) return '0s';
  const [big, bigName] = units[i]!;
  const first = `${Math.floor(s / big)}${bigName}`;
  const next = units[i + 1];
  if (!next) return first;
  const rest = Math.floor((s % big) / next[0]);
  return rest > 0 ? `${first} ${rest}${next[1]}` : first;
}

/** `in 5h 3m`, or `5m ago` for a time past (a scheduled job that is due). */
function formatRelative(ms: number): string {
  return ms >= 0 ? `in ${formatAge(ms)}` : `due ${formatAge(-ms)} ago`;
}
