/**
 * The manifest of a backup, built from what its stages returned. Pure: no I/O and no clock (the
 * times are passed in), so a backup's manifest can be tested without running one. Members are
 * added in the order the stored text has always had: a manifest's bytes (and so its signature
 * and {@link manifestHash}) depend on it.
 */
import { MANIFEST_FORMAT, MANIFEST_SCHEMA_VERSION, type Manifest, type ManifestDatabase, type ManifestEntry } from './manifest.js';
import type { BackupPlan } from './plan-backup.js';
import { storedBytesOf } from './manifest-summary.js';
import { DELTA_SUFFIX } from './repository-keys.js';

/** A database as its snapshot stage saw it, before the plan says how this backup holds it. */
export interface SnapshotFacts {
  name: string;
  /** Path relative to the source root (and the name of its snapshot entry). */
  path: string;
  mode: number;
  journalMode: string;
  pageSize: number;
  pageCount: number;
  size: number;
  /** sha256 of the whole snapshot: taken when there was a parent, and needed for a page delta (a snapshot entry carries its own). */
  sha256: string | undefined;
  /** Key of its page map object. */
  pageMap: string;
  /** Where its WAL stood when the snapshot was pinned (WAL mode, pinned by a read mark). */
  wal?: ManifestDatabase['wal'];
}

export interface ManifestInput {
  id: string;
  /** Full (with why) or an incremental: its parent, chain depth and databases. */
  plan: BackupPlan;
  source: Manifest['source'];
  startedAt: Date;
  completedAt: Date;
  toolVersion: string;
  /** The SQLite version of the first database's snapshot; undefined when there is none. */
  sqliteVersion: string | undefined;
  compression: Manifest['compression'];
  databases: readonly SnapshotFacts[];
  /** The archive's members that are not files of the backup (databases, page deltas, padded copies of files that shrank), in order. */
  entries: ManifestEntry[];
  /** What the stored file list holds (its object is one of `objects`). */
  fileList: NonNullable<Manifest['fileList']>;
  /** The parent's files this backup no longer has (deleted, or gone before they were read). */
  deleted: string[];
  objects: Manifest['objects'];
  excluded: Manifest['excluded'];
  /** Files found but not backed up (by the walk, the hashing or the packer). */
  skipped: readonly { path: string; reason: string }[];
  warnings: string[];
  trigger: Manifest['trigger'] | undefined;
  copies: NonNullable<Manifest['copies']>;
  /** An encrypted repository's content-hash facts (the key already encrypted to its readers). */
  encryption: Manifest['encryption'] | undefined;
  /** The generation of continuous shipping this backup is the first backup of (made by the streamer). */
  stream?: Manifest['stream'];
}

/** The manifest of a backup (see the module comment): no field of it is read from anywhere else. */
export function buildManifest(input: ManifestInput): Manifest {
  const { id, plan } = input;
  const incremental = plan.type === 'incremental' ? plan : undefined;
  const entryByPath = new Map(input.entries.map((e) => [e.path, e]));
  const entryBytes = input.fileList.storedBytes + input.entries.reduce((sum, e) => sum + e.size, 0);
  const storedBytes = storedBytesOf(input.objects);
  return {
    format: MANIFEST_FORMAT,
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    id,
    type: plan.type,
    parent: incremental?.parent ?? null,
    chainDepth: incremental?.chainDepth ?? 0,
    fullReason: plan.type === 'full' ? plan.reason : null,
    source: input.source,
    startedAt: input.startedAt.toISOString(),
    completedAt: input.completedAt.toISOString(),
    tool: { name: 'botbackup', version: input.toolVersion },
    sqlite: input.sqliteVersion === undefined ? null : { version: input.sqliteVersion },
    compression: input.compression,
    databases: input.databases.map((db) => databaseOfBackup(db, plan, entryByPath)),
    entries: input.entries,
    fileList: input.fileList,
    deleted: input.deleted,
    objects: input.objects,
    excluded: input.excluded,
    skipped: [...input.skipped].sort((a, b) => (a.path < b.path ? -1 : 1)),
    warnings: input.warnings,
    stats: { entryBytes, storedBytes, durationMs: input.completedAt.getTime() - input.startedAt.getTime() },
    ...(input.trigger ? { trigger: input.trigger } : {}),
    copies: input.copies,
    ...(input.encryption ? { encryption: input.encryption } : {}),
    ...(input.stream ? { stream: input.stream } : {}),
  };
}

/** A database as this backup holds it: a page delta on the parent's copy (when the plan says so), or a whole snapshot. */
function databaseOfBackup(db: SnapshotFacts, plan: BackupPlan, entryByPath: ReadonlyMap<string, ManifestEntry>): ManifestDatabase {
  const dbPlan = plan.type === 'incremental' ? plan.databases.get(db.path) : undefined;
  const common = {
    name: db.name,
    path: db.path,
    mode: db.mode,
    journalMode: db.journalMode,
    pageSize: db.pageSize,
    pageCount: db.pageCount,
    size: db.size,
    quickCheck: 'ok' as const,
    pageMap: db.pageMap,
    ...(db.wal ? { wal: db.wal } : {}),
  };
  return dbPlan?.type === 'delta'
    ? { ...common, sha256: db.sha256!, stored: { type: 'delta', entry: db.path + DELTA_SUFFIX, basePageCount: dbPlan.basePageCount, pages: dbPlan.pages } }
    : { ...common, sha256: entryByPath.get(db.path)!.sha256, stored: { type: 'snapshot', entry: db.path } };
}
