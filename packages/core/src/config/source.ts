import path from 'node:path';
import { z } from 'zod';
import type { Defaults } from './defaults.js';
import { duration, ms, relPath, slug, timeZoneProblem } from './fields.js';
import type { Problem } from './issues.js';
import { FILE_KINDS, SYMLINK_POLICIES } from './kinds.js';
import { incrementalLimits, incrementalSchema, retentionPolicy, retentionSchema } from './policies.js';

const databaseSchema = z.strictObject({
  path: relPath,
  name: slug.optional(),
});

const fileSetSchema = z.strictObject({
  kind: z.enum(FILE_KINDS),
  include: z.array(z.string().min(1)).min(1, 'at least one glob'),
  exclude: z.array(z.string().min(1)).default([]),
  /** For `log` file sets: only files modified within this window are taken. */
  maxAge: duration.optional(),
});

const checkSchema = z.strictObject({
  name: slug,
  /** The database (its name) the query runs on; the source's first one by default. */
  database: slug.optional(),
  /** Read-only SQL whose first column of the first row must be true (non-zero, non-empty); :asOfMs is the backup's start time in ms (now, in recover). */
  query: z.string().min(1, 'an SQL query such as "SELECT count(*) > 0 FROM deals"'),
});

/**
 * A `sources` entry, its paths made absolute (the root against `baseDir`, databases against the
 * root). What depends on other sections (defaults, schedules) is added by {@link resolveSource}.
 */
export function sourceSchema(baseDir: string) {
  return z
    .strictObject({
      id: slug,
      root: relPath,
      databases: z.array(databaseSchema).default([]),
      files: z.array(fileSetSchema).default([]),
      incremental: incrementalSchema.optional(),
      retention: retentionSchema.optional(),
      /** Back up `secret` file sets even though no encryption is configured (they are then stored readable). */
      allowPlaintextSecrets: z.boolean().default(false),
      /** Symbolic links: stored as links (default), or links to files inside the root stored as those files. */
      symlinks: z.enum(SYMLINK_POLICIES).default('store'),
      /** Queries a healthy database answers with a true first value: run by recover on the live database and by drills on restored ones. */
      checks: z.array(checkSchema).default([]),
      /**
       * Continuous protection (docs/continuous.md): `botbackup stream` (or the worker serving the
       * source) ships each database's newly committed WAL frames every second.
       */
      continuous: z
        .union([
          z.boolean(),
          z.strictObject({
            /** Alert when committed frames wait unshipped longer than this (a target down, the streamer stuck). */
            alertAfter: duration.optional(),
            /**
             * How long the WAL stays held after the streamer dies without stopping (SIGKILL, a
             * crash), so that a streamer started again within it continues the same generation.
             */
            resumeWithin: duration.optional(),
            /**
             * How long the streamer collects shipped segments into one pack of the WAL (a few
             * times smaller; docs/continuous.md, "Storage: packs") before it stores it; the
             * segments stay that long again, then go. false: every segment stays as shipped.
             */
            packEvery: z.union([duration, z.literal(false)]).optional(),
          }),
        ])
        .default(false),
    })
    .transform((source) => {
      const root = path.resolve(baseDir, source.root);
      const databases = source.databases.map((db) => {
        const abs = path.resolve(root, db.path);
        return {
          /** Absolute path of the database file. */
          path: abs,
          /** Path inside the backup, relative to the source root, with forward slashes. */
          relativePath: path.relative(root, abs).split(path.sep).join('/'),
          name: db.name ?? path.basename(abs).replace(/\.[^.]*$/, ''),
        };
      });
      // A check runs on its own database or the source's first; sourceProblems reports one left without.
      const checks = source.checks.map((check) => ({ ...check, database: check.database ?? databases[0]?.name }));
      return { ...source, root, databases, checks };
    });
}
type SourceSettings = z.output<ReturnType<typeof sourceSchema>>;

/**
 * A source as the engine uses it: its settings over `defaults` over the built-in ones, and the
 * keepWithin (ms) of each schedule that backs it up, by schedule id. Only for sources in which
 * {@link sourceProblems} found nothing wrong.
 */
export function resolveSource(source: SourceSettings, defaults: Defaults, scheduleKeepWithinMs: Record<string, number>) {
  return {
    id: source.id,
    /** Absolute path of the bot's folder; everything is stored relative to it. */
    root: source.root,
    databases: source.databases,
    files: source.files.map((set) => ({
      kind: set.kind,
      include: set.include,
      exclude: set.exclude,
      /** Only for `log` sets: files older than this many milliseconds are left out. */
      maxAgeMs: set.kind === 'log' ? ms(set.maxAge ?? defaults.logMaxAge) : undefined,
    })),
    incremental: incrementalLimits(source.incremental, defaults.incremental),
    /** What prune keeps: the source's retention over defaults.retention over DEFAULT_RETENTION. */
    retention: retentionPolicy(source.retention, defaults.retention, scheduleKeepWithinMs),
    /** Back up `secret` file sets without encryption. */
    allowPlaintextSecrets: source.allowPlaintextSecrets,
    /** How symbolic links are backed up (see SYMLINK_POLICIES). */
    symlinks: source.symlinks,
    /** Check queries, each with the database (its name) it runs on; sourceProblems made sure there is one. */
    checks: source.checks.map((check) => ({ name: check.name, database: check.database!, query: check.query })),
    /** Continuous WAL shipping, when on: the RPO bound its alert fires at (ms). */
    continuous:
      source.continuous === false
        ? undefined
        : {
            alertAfterMs: ms((source.continuous === true ? undefined : source.continuous.alertAfter) ?? DEFAULT_STREAM_ALERT),
            resumeWithinMs: ms((source.continuous === true ? undefined : source.continuous.resumeWithin) ?? DEFAULT_STREAM_RESUME),
            packEveryMs: packEveryMs(source.continuous === true ? undefined : source.continuous.packEvery),
          },
  };
}

/** How long committed frames may wait unshipped before the streamer alerts, unless `continuous.alertAfter` says otherwise. */
export const DEFAULT_STREAM_ALERT = '1m';

/** How long a dead streamer's WAL follower keeps holding the WAL for the next streamer, unless `continuous.resumeWithin` says otherwise. */
export const DEFAULT_STREAM_RESUME = '2m';

/** How long shipped segments are collected into a pack, unless `continuous.packEvery` says otherwise. */
export const DEFAULT_STREAM_PACK = '5m';

/** `continuous.packEvery` in ms; undefined: segments are not packed. */
function packEveryMs(value: string | false | undefined): number | undefined {
  return value === false ? undefined : ms(value ?? DEFAULT_STREAM_PACK);
}

/** The first problem of the sources, in the order they are written: a repeated id, a database, the retention zone, a check. */
export function sourceProblems(sources: readonly SourceSettings[]): Problem | undefined {
  const seen = new Set<string>();
  for (const [i, source] of sources.entries()) {
    if (seen.has(source.id)) return { path: ['sources', i, 'id'], message: `repeats the source id "${source.id}"; ids must be unique` };
    seen.add(source.id);
    const names = new Set<string>();
    for (const [j, db] of source.databases.entries()) {
      const rel = path.relative(source.root, db.path);
      if (rel.startsWith('..') || path.isAbsolute(rel)) {
        return { path: ['sources', i, 'databases', j, 'path'], message: `must lie inside the source root ${source.root}` };
      }
      if (names.has(db.name)) return { path: ['sources', i, 'databases', j, 'name'], message: `repeats the database name "${db.name}"; set a distinct name` };
      names.add(db.name);
    }
    if (source.continuous !== false && source.databases.length === 0) {
      return { path: ['sources', i, 'continuous'], message: 'needs a database to stream; list it under databases' };
    }
    const zone = timeZoneProblem(source.retention?.timezone);
    if (zone) return { path: ['sources', i, 'retention', 'timezone'], message: zone };
    for (const [j, { database }] of source.checks.entries()) {
      if (database === undefined || !names.has(database)) {
        const message =
          database === undefined ? 'is needed: the source has no database to run the check on' : `names "${database}", which is not a database of this source`;
        return { path: ['sources', i, 'checks', j, 'database'], message };
      }
    }
  }
  return undefined;
}
