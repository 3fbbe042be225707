import path from 'node:path';
import { z } from 'zod';
import { dashboardSchema } from './dashboard.js';
import { defaultsProblem, defaultsSchema } from './defaults.js';
import { duration, ms, pathIn } from './fields.js';
import { problemIssue, type Problem } from './issues.js';
import { COMPRESSION_CODECS, type CompressionCodec } from './kinds.js';
import { redisSchema } from './redis.js';
import { scheduleProblems, scheduleSchema, type ScheduleConfig } from './schedule.js';
import { encryptionSchema, signingProblems, signingSchema } from './security.js';
import { resolveSource, sourceProblems, sourceSchema } from './source.js';
import { storageProblems, storageSchema } from './storage.js';
import { notifySchema, workerProblems, workerSchema } from './worker.js';

/**
 * Default compression level of each codec. zstd 2, not zstd's own default of 3: on the bench's
 * 1 GiB trading database (`zstd -T2`), level 2 takes 4.4 CPU-s for 377 MiB, level 3 7.3 CPU-s for
 * 363 MiB, and level 1 as long as 2 for 417 MiB. Compression is the largest CPU cost of a backup
 * on a bot's small host; 4 % more bytes is the better trade.
 */
export const DEFAULT_LEVEL: Record<CompressionCodec, number> = { zstd: 2, gzip: 6, none: 0 };

const compressionSchema = z
  .strictObject({
    codec: z.enum(COMPRESSION_CODECS).default('zstd'),
    level: z.number().int().min(-7).max(22).optional(),
  })
  .transform((c) => ({ codec: c.codec, level: c.level ?? DEFAULT_LEVEL[c.codec] }))
  .prefault({});

/**
 * The config file's sections, each resolved on its own (durations in ms, paths absolute against
 * `baseDir`, the file's folder, absent sections as their defaults). Sections that depend on
 * each other are resolved by {@link configSchema}.
 */
function documentSchema(baseDir: string) {
  return z.strictObject({
    version: z.literal(1),
    sources: z.array(sourceSchema(baseDir)).min(1, 'at least one source'),
    storage: z.array(storageSchema(baseDir)).min(1, 'at least one storage target'),
    redis: redisSchema(baseDir).optional(),
    schedules: z.array(scheduleSchema).default([]),
    worker: workerSchema.prefault({}),
    notify: notifySchema.prefault({}),
    dashboard: dashboardSchema.prefault({}),
    /** Targets a backup must reach to be committed; the rest may fail (the backup is then degraded). All by default. */
    minCopies: z.number().int().min(1).optional(),
    /** The local catalog file (a cache of manifests and copy states); see docs/storage.md for the default. */
    catalog: pathIn(baseDir).optional(),
    /** Encrypt every stored object of every backup (docs/security.md). */
    encryption: encryptionSchema(baseDir).optional(),
    /** Sign every manifest, and check the signatures of what is read. */
    signing: signingSchema(baseDir),
    /** Restore drills (docs/recovery.md): every copy on every target is drilled at least once per period. */
    drill: z.strictObject({ period: duration.default('30d') }).prefault({}),
    compression: compressionSchema,
    defaults: defaultsSchema(baseDir),
  });
}
type ConfigDocument = z.output<ReturnType<typeof documentSchema>>;

/**
 * The schema of the config file at `file`, whose output is the config the commands use. A file
 * that fits every section but not as a whole (see {@link documentProblem}) fails with that
 * problem as its only issue: the sections' own issues always come first.
 */
export function configSchema(file: string) {
  return documentSchema(path.dirname(path.resolve(file))).transform((doc, ctx) => {
    const problem = documentProblem(doc);
    if (problem) {
      ctx.issues.push(problemIssue(problem, doc));
      return z.NEVER;
    }
    return resolveDocument(file, doc);
  });
}

/** A validated configuration with every path made absolute and every default applied. */
export type Config = z.output<ReturnType<typeof configSchema>>;
export type SourceConfig = Config['sources'][number];
export type DatabaseConfig = SourceConfig['databases'][number];
export type FileSetConfig = SourceConfig['files'][number];
export type CheckConfig = SourceConfig['checks'][number];
export type CompressionConfig = Config['compression'];

/** The first thing that makes no sense across the sections; the order decides which of two problems is reported, so it stays as it was. */
function documentProblem(doc: ConfigDocument): Problem | undefined {
  const sourceIds = doc.sources.map((source) => source.id);
  return (
    defaultsProblem(doc.defaults) ??
    sourceProblems(doc.sources) ??
    storageProblems(doc.storage) ??
    scheduleProblems(doc.schedules, sourceIds) ??
    workerProblems(doc.worker, sourceIds) ??
    signingProblems(doc.encryption, doc.signing) ??
    minCopiesProblem(doc.minCopies, doc.storage.length)
  );
}

function minCopiesProblem(minCopies: number | undefined, targets: number): Problem | undefined {
  if (minCopies === undefined || minCopies <= targets) return undefined;
  return { path: ['minCopies'], message: `is ${minCopies}, but only ${targets} storage target(s) are configured` };
}

/** The config of a document {@link documentProblem} found nothing wrong with: sources get the defaults and their schedules' keepWithin. */
function resolveDocument(file: string, doc: ConfigDocument) {
  const keepWithinMs = scheduleKeepWithinBySource(doc.schedules);
  return {
    file,
    sources: doc.sources.map((source) => resolveSource(source, doc.defaults, keepWithinMs.get(source.id) ?? {})),
    storage: doc.storage,
    compression: doc.compression,
    tmpDir: doc.defaults.tmpDir,
    /** CPU nice value for backup and verify work (0: unchanged). */
    nice: doc.defaults.nice,
    /** Storage targets a backup must reach to be committed (1..storage.length). */
    minCopies: doc.minCopies ?? doc.storage.length,
    /** Absolute path of the local catalog, when the config sets one. */
    catalog: doc.catalog,
    /** Age after which objects without a manifest anywhere count as leftovers, in milliseconds. */
    orphanGraceMs: doc.defaults.orphanGraceMs,
    /** Where queues and schedules live, when distributed mode is configured. */
    redis: doc.redis,
    schedules: doc.schedules,
    /** Settings of `botbackup worker` (defaults when the config has none). */
    worker: doc.worker,
    notify: doc.notify,
    /** Settings of `botbackup dashboard` (defaults when the config has none). */
    dashboard: doc.dashboard,
    /** Encryption of new backups; undefined: plaintext. */
    encryption: doc.encryption,
    signing: doc.signing,
    /** Every copy should be drilled at least once per this many milliseconds. */
    drillPeriodMs: ms(doc.drill.period),
  };
}

/** A schedule's keepWithin is a keepWithin for the backups it made, in its source's policy: by source, then schedule id. */
function scheduleKeepWithinBySource(schedules: readonly ScheduleConfig[]): Map<string, Record<string, number>> {
  const bySource = new Map<string, Record<string, number>>();
  for (const schedule of schedules) {
    if (schedule.keepWithinMs === undefined || schedule.source === undefined) continue;
    bySource.set(schedule.source, { ...bySource.get(schedule.source), [schedule.id]: schedule.keepWithinMs });
  }
  return bySource;
}
