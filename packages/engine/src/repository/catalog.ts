import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  BackupNotFoundError,
  IntegrityError,
  StorageError,
  drillKeys,
  repositoryKeys,
  manifestHash,
  summarizeManifest,
  type DrillRecord,
  type Manifest,
  type ManifestSummary,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { silentLogger, type Logger } from '../support/index.js';
import { readManifest } from './repository.js';

/** What is known of one copy of a backup: written, fully checked by verify, or found missing or corrupt. */
export type CopyState = 'verified' | 'unverified' | 'bad';

/** One storage target's copy of a backup, as the catalog knows it after a sync. */
export interface CatalogCopy {
  target: string;
  /** `missing`: the target holds no manifest of the backup; `unreachable`: the target (or this manifest) could not be read now. */
  state: CopyState | 'missing' | 'unreachable';
  /** ISO time of the last record of this copy (written, verified, found bad, first seen by a sync). */
  at: string | undefined;
  /** Why the copy is bad or unreachable: one sentence. */
  error: string | undefined;
}

/** One backup as the catalog knows it after a sync. */
export interface CatalogBackup {
  sourceId: string;
  backupId: string;
  /**
   * The summary of the manifest (the version most copies hold): everything but its file lists,
   * which the catalog does not keep (read the manifest from storage for those). Undefined when no
   * copy of it could be read.
   */
  manifest: ManifestSummary | undefined;
  /** Why there is no manifest; undefined when there is one. */
  error: string | undefined;
  /** One per store passed to sync, in that order. */
  copies: CatalogCopy[];
  /**
   * Some store passed to sync has no copy or a bad one, or the manifest says a target failed at
   * backup time and that target is not (yet) seen holding a good copy.
   */
  degraded: boolean;
}

/**
 * Whether a backup counts as good, the one definition `status` and the dashboard share: its
 * manifest could be read (with a valid completion time), no copy of it is bad, and at least one
 * copy is there (verified or not). Missing or unreachable copies do not disqualify it: the
 * backup is then degraded, not bad.
 */
export function isGoodBackup(backup: CatalogBackup): backup is CatalogBackup & { manifest: ManifestSummary } {
  return (
    backup.manifest !== undefined &&
    !Number.isNaN(Date.parse(backup.manifest.completedAt)) &&
    !backup.copies.some((c) => c.state === 'bad') &&
    backup.copies.some((c) => c.state === 'verified' || c.state === 'unverified')
  );
}

export interface CatalogOpenOptions {
  /** Where the warnings of {@link Catalog.warnings} and of unreachable targets go. */
  logger?: Logger | undefined;
}

export interface CatalogSyncOptions {
  /** Only backups of this source (only its manifests are listed, and only its rows are touched). */
  sourceId?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** `PRAGMA application_id` of a catalog ("bbkc"): tells a catalog from another application's database. */
const APPLICATION_ID = 0x62626b63;
/**
 * `PRAGMA user_version` of the schema below; a file of version 1 (whole manifests in `json`) is
 * migrated in place, one with any other is moved aside and rebuilt.
 */
const SCHEMA_VERSION = 2;
/** Manifests read at once by a sync: enough to hide S3 latency, few enough not to flood a small host. */
const READ_CONCURRENCY = 16;
/**
 * Listed bytes of the manifests read at once by a sync: a parsed manifest takes several times its
 * size in memory, so big ones (a million files: hundreds of MB) are read one at a time.
 */
const READ_BYTES_IN_FLIGHT = 16 * 1024 * 1024;
/** Results of manifest reads written per transaction (bounds memory on a first sync of many backups). */
const FLUSH_EVERY = 64;
/** Several CLI processes (and a backup) may write at once; each transaction is short. */
const BUSY_TIMEOUT_MS = 5000;

/*
 * manifests: the summary of a manifest (summarizeManifest: no file lists) as JSON, once per backup
 *   (a second row only while copies disagree), keyed by the sha256 of the manifest's stored
 *   text (manifestHash, from core). Schema 1 kept the whole manifest here, which made a catalog of
 *   backups of a million files hundreds of MB and `list` parse all of it.
 * copies: one row per target holding the backup. `size` is the manifest object's listed size
 *   (what sync compares to decide whether to read it again), `unreadable` is 1 when the manifest
 *   itself could not be parsed (then `error` says why and `sha256` is null).
 */
const SCHEMA = `
  CREATE TABLE manifests (
    source_id TEXT NOT NULL,
    backup_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    json TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (source_id, backup_id, sha256)
  ) WITHOUT ROWID;
  CREATE TABLE copies (
    target TEXT NOT NULL,
    source_id TEXT NOT NULL,
    backup_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('verified', 'unverified', 'bad')),
    sha256 TEXT,
    size INTEGER,
    at TEXT NOT NULL,
    error TEXT,
    unreadable INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (target, source_id, backup_id)
  ) WITHOUT ROWID;
  CREATE INDEX copies_by_backup ON copies (source_id, backup_id);
`;

/*
 * drills: per copy (`<target>/<backup id>`, drillKeys.field), the newest drill record (JSON) that
 *   read it, as the Redis hash of drillKeys.copies holds them for workers. Added after schema 1
 *   without a version bump: CREATE IF NOT EXISTS on every open, and older botbackups ignore it.
 */
const DRILLS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS drills (
    source_id TEXT NOT NULL,
    copy TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (source_id, copy)
  ) WITHOUT ROWID;
`;

interface CopyRow {
  target: string;
  source_id: string;
  backup_id: string;
  state: CopyState;
  sha256: string | null;
  size: number | null;
  at: string;
  error: string | null;
  unreadable: number;
}

interface ManifestRow {
  sha256: string;
  json: string;
  first_seen: string;
}

interface ListedManifest {
  sourceId: string;
  backupId: string;
  size: number;
}

/** One store's manifest keys (by backup), or the error that kept it from being listed. */
type Listing =
  { store: BackupStore; manifests: Map<string, ListedManifest>; error: undefined } | { store: BackupStore; manifests: undefined; error: StorageError };

/** Why a manifest is read: not in the cache, cached without its size (only recorded bad), or of another size now. */
type ReadReason = 'new' | 'fill' | 'changed';

type ReadResult =
  | { kind: 'read'; target: string; listed: ListedManifest; reason: ReadReason; digest: ManifestDigest }
  | { kind: 'unreadable'; target: string; listed: ListedManifest; error: string }
  | { kind: 'gone'; target: string; listed: ListedManifest };

/** A database a catalog must not touch: valid SQLite, but another application's. */
class ForeignDatabaseError extends Error {}
/** A catalog file that is damaged or of an unknown schema: moved aside and rebuilt. */
class UnusableCatalogError extends Error {}

/**
 * A local cache of the repository: every backup's manifest (once) and, per storage target, the
 * state of its copy. The storage targets stay the truth: {@link Catalog.sync} brings the cache up
 * to date from their listings, reading only manifests it has not seen. What only the cache knows
 * is which copies `verify` checked, and which it or `restore` found bad.
 *
 * The file is SQLite in WAL mode with a busy timeout, so several processes may use it at once.
 * A damaged file or one of another schema version is moved aside and rebuilt; a file that cannot
 * be opened at all gives way to a temporary in-memory catalog. Problems with the catalog never
 * fail a command: they end in {@link Catalog.warnings} and the logger.
 */
export class Catalog {
  /** Problems met while opening the file (moved aside, replaced by an in-memory catalog). */
  readonly warnings: readonly string[];
  private readonly statements: Statements;
  private lastUnreachable: { target: string; error: string }[] = [];

  private constructor(
    private readonly db: Database.Database,
    /** The catalog's file, or `:memory:` when it could not be used. */
    readonly file: string,
    private readonly logger: Logger,
    warnings: string[],
  ) {
    this.warnings = warnings;
    this.statements = prepareStatements(db);
  }

  /**
   * Opens (or creates) the catalog at `file`: its folder 0700, the file 0600. Never throws for
   * the catalog's own sake: an unusable file is moved aside (`<file>.broken-<time>`) and
   * recreated, and one that cannot be opened at all (permissions, another application's
   * database) is replaced by an in-memory catalog for this process; either way with a warning.
   */
  static open(file: string, options: CatalogOpenOptions = {}): Catalog {
    const logger = options.logger ?? silentLogger;
    const abs = path.resolve(file);
    const warnings: string[] = [];
    const warn = (message: string) => {
      warnings.push(message);
      logger.warn({ catalog: abs }, message);
    };
    try {
      return new Catalog(openFile(abs, warn), abs, logger, warnings);
    } catch (error) {
      warn(`The catalog ${abs} cannot be used (${describe(error)}); this run uses a temporary one in memory, which reads every manifest.`);
      const db = new Database(':memory:');
      prepareSchema(db);
      return new Catalog(db, ':memory:', logger, warnings);
    }
  }

  /** A copy was written (state 'unverified') or fully checked by verify ('verified'). */
  recordCopy(target: string, manifest: Manifest, state: 'unverified' | 'verified', at: Date): void {
    const { sha256, size, summary } = digestManifest(manifest);
    const when = at.toISOString();
    this.db.transaction(() => {
      this.statements.insertManifest.run(manifest.source.id, manifest.id, sha256, summary, when);
      this.statements.upsertCopy.run(target, manifest.source.id, manifest.id, state, sha256, size, when, null, 0);
    })();
  }

  /** verify or restore found this copy missing or corrupt. */
  recordBadCopy(target: string, sourceId: string, backupId: string, error: string, at: Date): void {
    this.statements.markBad.run(target, sourceId, backupId, at.toISOString(), error);
  }

  /** A finished drill: the newest record of every backup it read, in its target. */
  recordDrill(record: DrillRecord): void {
    const json = JSON.stringify(record);
    this.db.transaction(() => {
      for (const backupId of new Set([record.backupId, ...record.read])) {
        this.statements.upsertDrill.run(record.sourceId, drillKeys.field(record.store, backupId), json);
      }
    })();
  }

  /** Every stored drill record of a source (each once). */
  drills(sourceId: string): DrillRecord[] {
    return this.statements.drillsOf.all(sourceId).map((row) => JSON.parse(row.json) as DrillRecord);
  }

  /**
   * Brings the cache up to date with the stores (lists manifest keys, reads only manifests it has
   * not seen, or whose size changed) and returns every backup, oldest first.
   *
   * A store that cannot be listed keeps its cached rows, and its copies are shown as
   * `unreachable` (with a warning in the log); this throws only when every store fails, with the
   * first store's error.
   */
  async sync(stores: BackupStore[], options: CatalogSyncOptions = {}): Promise<CatalogBackup[]> {
    const listings = await this.listStores(stores, options);
    return this.refresh(listings, options);
  }

  /**
   * Drops everything and syncs from scratch. Verification history is lost: every copy found is
   * `unverified` again. When every store fails to list, the catalog is left as it was.
   */
  async rebuild(stores: BackupStore[], options: { signal?: AbortSignal | undefined } = {}): Promise<CatalogBackup[]> {
    const listings = await this.listStores(stores, options);
    this.db.exec('DELETE FROM copies; DELETE FROM manifests;');
    return this.refresh(listings, options);
  }

  /** The targets the last sync or rebuild could not list, with the reason (one sentence each). */
  get unreachable(): { target: string; error: string }[] {
    return this.lastUnreachable;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private async listStores(stores: BackupStore[], options: CatalogSyncOptions): Promise<Listing[]> {
    const listings = await Promise.all(
      stores.map(async (store): Promise<Listing> => {
        const manifests = new Map<string, ListedManifest>();
        try {
          for await (const object of store.list(repositoryKeys.manifestsPrefix(options.sourceId), { signal: options.signal })) {
            const parsed = repositoryKeys.parseManifestKey(object.key);
            if (parsed) manifests.set(backupKey(parsed.sourceId, parsed.backupId), { ...parsed, size: object.size });
          }
          return { store, manifests, error: undefined };
        } catch (error) {
          if (isUnreachable(error, options.signal)) return { store, manifests: undefined, error };
          throw error;
        }
      }),
    );
    const failed = listings.filter((l) => l.error !== undefined);
    this.lastUnreachable = failed.map((l) => ({ target: l.store.name, error: l.error!.message }));
    if (listings.length > 0 && failed.length === listings.length) throw failed[0]!.error;
    for (const { store, error } of failed) {
      this.logger.warn(
        { target: store.name, code: error!.code },
        `Storage "${store.name}" could not be listed; its copies are shown as unreachable: ${error!.message}`,
      );
    }
    return listings;
  }

  private async refresh(listings: Listing[], options: CatalogSyncOptions): Promise<CatalogBackup[]> {
    const now = new Date().toISOString();
    /** Manifests a listed store failed to return now: target → backup key → error. */
    const readFailures = new Map<string, Map<string, string>>();
    const tasks: { store: BackupStore; listed: ListedManifest; reason: ReadReason }[] = [];
    for (const listing of listings) {
      if (listing.manifests === undefined) continue;
      const target = listing.store.name;
      const cached = new Map(this.cachedCopies(target, options.sourceId).map((row) => [backupKey(row.source_id, row.backup_id), row]));
      for (const [key, listed] of listing.manifests) {
        const row = cached.get(key);
        // A manifest that failed to parse stays bad until its size changes: it is not read again.
        const reason: ReadReason | undefined = !row ? 'new' : row.size === null ? 'fill' : row.size !== listed.size ? 'changed' : undefined;
        if (reason) tasks.push({ store: listing.store, listed, reason });
      }
      const gone = [...cached.entries()].filter(([key]) => !listing.manifests.has(key));
      this.db.transaction(() => {
        for (const [, row] of gone) this.statements.deleteCopy.run(target, row.source_id, row.backup_id);
      })();
    }

    let pending: ReadResult[] = [];
    const flush = () => {
      const batch = pending;
      pending = [];
      this.db.transaction(() => {
        for (const result of batch) this.apply(result, now);
      })();
    };
    const budget = new ByteBudget(READ_BYTES_IN_FLIGHT);
    await forEachLimited(tasks, READ_CONCURRENCY, async ({ store, listed, reason }) => {
      options.signal?.throwIfAborted();
      const release = await budget.take(listed.size);
      try {
        // Only the digest and summary are kept: the manifest (and its file list) is dropped at once.
        const digest = digestManifest(await readManifest(store, listed.sourceId, listed.backupId, options.signal));
        pending.push({ kind: 'read', target: store.name, listed, reason, digest });
      } catch (error) {
        if (error instanceof BackupNotFoundError) pending.push({ kind: 'gone', target: store.name, listed });
        else if (error instanceof IntegrityError) pending.push({ kind: 'unreadable', target: store.name, listed, error: error.message });
        else if (isUnreachable(error, options.signal)) {
          const failures = readFailures.get(store.name) ?? new Map<string, string>();
          failures.set(backupKey(listed.sourceId, listed.backupId), error.message);
          readFailures.set(store.name, failures);
        } else throw error;
      } finally {
        release();
      }
      if (pending.length >= FLUSH_EVERY) flush();
    });
    flush();
    this.statements.dropUnusedManifests.run();
    return this.assemble(listings, readFailures, options.sourceId);
  }

  private apply(result: ReadResult, now: string): void {
    const { sourceId, backupId, size } = result.listed;
    if (result.kind === 'gone') {
      this.statements.deleteCopy.run(result.target, sourceId, backupId);
    } else if (result.kind === 'unreadable') {
      this.statements.upsertCopy.run(result.target, sourceId, backupId, 'bad', null, size, now, result.error, 1);
    } else {
      const { sha256, summary } = result.digest;
      this.statements.insertManifest.run(sourceId, backupId, sha256, summary, now);
      if (result.reason === 'fill') this.statements.fillCopy.run(sha256, size, result.target, sourceId, backupId);
      // New, or replaced since it was cached: what was known of the old copy no longer holds.
      else this.statements.upsertCopy.run(result.target, sourceId, backupId, 'unverified', sha256, size, now, null, 0);
    }
  }

  private cachedCopies(target: string, sourceId: string | undefined): CopyRow[] {
    return sourceId === undefined ? this.statements.copiesOf.all(target) : this.statements.copiesOfSource.all(target, sourceId);
  }

  private assemble(listings: Listing[], readFailures: Map<string, Map<string, string>>, sourceId: string | undefined): CatalogBackup[] {
    const rows = new Map<string, Map<string, CopyRow>>();
    const ids = new Map<string, { sourceId: string; backupId: string }>();
    for (const { store } of listings) {
      for (const row of this.cachedCopies(store.name, sourceId)) {
        const key = backupKey(row.source_id, row.backup_id);
        ids.set(key, { sourceId: row.source_id, backupId: row.backup_id });
        const byTarget = rows.get(key) ?? new Map<string, CopyRow>();
        byTarget.set(store.name, row);
        rows.set(key, byTarget);
      }
    }
    for (const failures of readFailures.values()) {
      for (const key of failures.keys()) {
        const [source, backup] = splitBackupKey(key);
        ids.set(key, { sourceId: source, backupId: backup });
      }
    }

    const out: CatalogBackup[] = [];
    for (const [key, id] of ids) {
      const byTarget = rows.get(key) ?? new Map<string, CopyRow>();
      const reference = this.referenceManifest(id, [...byTarget.values()]);
      const referenceTarget = reference && listings.find((l) => byTarget.get(l.store.name)?.sha256 === reference.sha256)?.store.name;
      const copies = listings.map(({ store, error }): CatalogCopy => {
        const row = byTarget.get(store.name);
        const at = row?.at;
        if (error) return { target: store.name, state: 'unreachable', at, error: error.message };
        const readError = readFailures.get(store.name)?.get(key);
        if (readError) return { target: store.name, state: 'unreachable', at, error: readError };
        if (!row) return { target: store.name, state: 'missing', at: undefined, error: undefined };
        if (row.state === 'bad') return { target: store.name, state: 'bad', at, error: row.error ?? undefined };
        if (reference && row.sha256 !== null && row.sha256 !== reference.sha256) {
          return { target: store.name, state: 'bad', at, error: `its manifest differs from the copy in "${referenceTarget}"` };
        }
        return { target: store.name, state: row.state, at, error: undefined };
      });
      const manifest = reference?.manifest;
      const good = (target: string) => copies.some((c) => c.target === target && (c.state === 'verified' || c.state === 'unverified'));
      const degraded =
        copies.some((c) => c.state === 'missing' || c.state === 'bad') || (manifest?.copies?.failed ?? []).some((failed) => !good(failed.target));
      let error: string | undefined;
      if (!manifest) {
        const unreadable = listings.map(({ store }) => byTarget.get(store.name)).find((row) => row?.unreadable);
        error = unreadable?.error ?? copies.find((c) => c.error)?.error ?? 'No copy of its manifest could be read.';
      }
      out.push({ ...id, manifest, error, copies, degraded });
    }
    return out.sort((a, b) => compare(a.backupId, b.backupId) || compare(a.sourceId, b.sourceId));
  }

  /**
   * The manifest of a backup: the version most copies hold; on a tie, the one the catalog saw
   * first (a manifest replaced later in one target is the odd one out).
   */
  private referenceManifest(id: { sourceId: string; backupId: string }, rows: CopyRow[]): { sha256: string; manifest: ManifestSummary } | undefined {
    const counts = new Map<string, number>();
    for (const row of rows) if (row.sha256 !== null && !row.unreadable) counts.set(row.sha256, (counts.get(row.sha256) ?? 0) + 1);
    if (counts.size === 0) return undefined;
    const versions = this.statements.manifestsOf.all(id.sourceId, id.backupId).filter((m) => counts.has(m.sha256));
    versions.sort((a, b) => counts.get(b.sha256)! - counts.get(a.sha256)! || compare(a.first_seen, b.first_seen) || compare(a.sha256, b.sha256));
    const chosen = versions[0];
    return chosen && { sha256: chosen.sha256, manifest: JSON.parse(chosen.json) as ManifestSummary };
  }
}

/**
 * Default file when the config sets no `catalog`: $XDG_STATE_HOME/botbackup (or
 * ~/.local/state/botbackup)/catalog-<first 12 hex of sha256 of the absolute config path>.sqlite,
 * so each config has its own.
 */
export function defaultCatalogPath(configFile: string, env: NodeJS.ProcessEnv = process.env): string {
  // The XDG spec says a relative $XDG_STATE_HOME is invalid and must be ignored.
  const stateHome = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(stateHome, 'botbackup', `catalog-${sha256Hex(path.resolve(configFile)).slice(0, 12)}.sqlite`);
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    copiesOf: db.prepare<[string], CopyRow>('SELECT * FROM copies WHERE target = ?'),
    copiesOfSource: db.prepare<[string, string], CopyRow>('SELECT * FROM copies WHERE target = ? AND source_id = ?'),
    manifestsOf: db.prepare<[string, string], ManifestRow>('SELECT sha256, json, first_seen FROM manifests WHERE source_id = ? AND backup_id = ?'),
    insertManifest: db.prepare<[string, string, string, string, string]>(
      'INSERT OR IGNORE INTO manifests (source_id, backup_id, sha256, json, first_seen) VALUES (?, ?, ?, ?, ?)',
    ),
    upsertCopy: db.prepare<[string, string, string, CopyState, string | null, number | null, string, string | null, number]>(
      `INSERT INTO copies (target, source_id, backup_id, state, sha256, size, at, error, unreadable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (target, source_id, backup_id) DO UPDATE SET
         state = excluded.state, sha256 = excluded.sha256, size = excluded.size, at = excluded.at, error = excluded.error, unreadable = excluded.unreadable`,
    ),
    // Keeps what the row knew of the manifest: a later sync then has nothing to read again.
    markBad: db.prepare<[string, string, string, string, string]>(
      `INSERT INTO copies (target, source_id, backup_id, state, at, error) VALUES (?, ?, ?, 'bad', ?, ?)
       ON CONFLICT (target, source_id, backup_id) DO UPDATE SET state = 'bad', at = excluded.at, error = excluded.error`,
    ),
    // A manifest read for a copy only recorded bad: learn its digest and size, keep the verdict.
    fillCopy: db.prepare<[string, number, string, string, string]>(
      'UPDATE copies SET sha256 = ?, size = ? WHERE target = ? AND source_id = ? AND backup_id = ?',
    ),
    upsertDrill: db.prepare<[string, string, string]>(
      'INSERT INTO drills (source_id, copy, json) VALUES (?, ?, ?) ON CONFLICT (source_id, copy) DO UPDATE SET json = excluded.json',
    ),
    drillsOf: db.prepare<[string], { json: string }>('SELECT DISTINCT json FROM drills WHERE source_id = ?'),
    deleteCopy: db.prepare<[string, string, string]>('DELETE FROM copies WHERE target = ? AND source_id = ? AND backup_id = ?'),
    dropUnusedManifests: db.prepare(
      `DELETE FROM manifests WHERE NOT EXISTS (
         SELECT 1 FROM copies c WHERE c.source_id = manifests.source_id AND c.backup_id = manifests.backup_id AND c.sha256 = manifests.sha256)`,
    ),
  };
}

/** Opens the file, moving it aside once if it is damaged or of an unknown schema. */
function openFile(file: string, warn: (message: string) => void): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    // Created here rather than by SQLite so that it is 0600 from the start; SQLite gives the -wal
    // and -shm files the mode of the database file. An empty file is a valid, empty database.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    const inode = fs.statSync(file).ino;
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      prepareSchema(db);
      return db;
    } catch (error) {
      db?.close();
      if (attempt > 0 || !(error instanceof UnusableCatalogError || isCorruptDatabase(error))) throw error;
      // Another process may have moved it aside and created a new one already: then use that.
      if (fs.statSync(file).ino !== inode) continue;
      const aside = `${file}.broken-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      fs.renameSync(file, aside);
      // The -wal belongs to the old file (SQLite would replay it into the new one); the -shm is rebuilt.
      try {
        fs.renameSync(`${file}-wal`, `${aside}-wal`);
      } catch (walError) {
        if ((walError as NodeJS.ErrnoException).code !== 'ENOENT') throw walError;
      }
      fs.rmSync(`${file}-shm`, { force: true });
      warn(`The catalog ${file} was unusable (${describe(error)}); it was moved to ${aside} and is rebuilt from the storage targets.`);
    }
  }
}

/** Settings of every connection, then the schema: created in a new file, checked in an existing one. */
function prepareSchema(db: Database.Database): void {
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Checked before anything is written: `journal_mode = WAL` would convert another application's
  // database (a bot's trades.db given as "catalog" by mistake). A file that is not SQLite at all
  // fails on this first read (SQLITE_NOTADB).
  const version = checkOwnership(db);
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses at most the last transactions on power loss, never consistency: enough for a cache.
  db.pragma('synchronous = NORMAL');
  if (version === SCHEMA_VERSION) {
    db.exec(DRILLS_SCHEMA);
    return;
  }
  if (version === 1) {
    migrateFromVersion1(db);
    return;
  }
  // IMMEDIATE: two processes creating the same new catalog take turns, and the second finds it made.
  db.transaction(() => {
    if (checkOwnership(db) === SCHEMA_VERSION) return;
    db.exec(SCHEMA);
    db.exec(DRILLS_SCHEMA);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * Schema 1 to 2: each cached manifest becomes its summary, one row at a time (a row of schema 1
 * may hold a manifest of hundreds of MB), in one IMMEDIATE transaction, so a concurrent process
 * waits and then finds version 2. Copy states, verification history and drills are kept.
 */
function migrateFromVersion1(db: Database.Database): void {
  db.transaction(() => {
    if (checkOwnership(db) === SCHEMA_VERSION) return;
    const keys = db.prepare<[], { source_id: string; backup_id: string; sha256: string }>('SELECT source_id, backup_id, sha256 FROM manifests').all();
    const read = db.prepare<[string, string, string], { json: string }>('SELECT json FROM manifests WHERE source_id = ? AND backup_id = ? AND sha256 = ?');
    const write = db.prepare<[string, string, string, string]>('UPDATE manifests SET json = ? WHERE source_id = ? AND backup_id = ? AND sha256 = ?');
    for (const key of keys) {
      const row = read.get(key.source_id, key.backup_id, key.sha256);
      if (!row) continue;
      const manifest = JSON.parse(row.json) as Manifest & { counts?: unknown };
      // Already a summary (a partly migrated file cannot exist: this is one transaction; this is a guard).
      if (manifest.counts !== undefined && manifest.files === undefined) continue;
      write.run(JSON.stringify(summarizeManifest(manifest)), key.source_id, key.backup_id, key.sha256);
    }
    db.exec(DRILLS_SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
  // The summaries freed most of the file's pages: give them back to the file system. Best effort:
  // another process reading the catalog keeps VACUUM out, and the space is reused anyway.
  try {
    db.exec('VACUUM');
  } catch {
    // the file stays larger than it needs to be
  }
}

/** The schema version of a catalog (0: a new, empty file); throws for an unknown version or a foreign database. */
function checkOwnership(db: Database.Database): number {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (applicationId === APPLICATION_ID) {
    if (version !== SCHEMA_VERSION && version !== 1) throw new UnusableCatalogError(`its schema version is ${version}, this botbackup uses ${SCHEMA_VERSION}`);
    return version;
  }
  const tables = (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n;
  if (tables > 0 || applicationId !== 0 || version !== 0) {
    throw new ForeignDatabaseError('it is an SQLite database of another application; set "catalog" to another file');
  }
  return 0;
}

function isCorruptDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'));
}

/** A storage failure that makes one store (or one object) unusable for now; an abort is not one. */
function isUnreachable(error: unknown, signal: AbortSignal | undefined): error is StorageError {
  return error instanceof StorageError && error.storageCode !== 'ABORTED' && !signal?.aborted;
}

/** What the catalog keeps of a manifest: the sha256 and size of its stored text, and its summary as JSON. */
interface ManifestDigest {
  sha256: string;
  size: number;
  summary: string;
}

/** Digests already made, by manifest object (never changed once made): a backup records one copy per target of the same manifest. */
const digests = new WeakMap<Manifest, ManifestDigest>();

/** A manifest's hash (manifestHash: of its stored text, as backup, replicate and verify record it) and its summary. */
function digestManifest(manifest: Manifest): ManifestDigest {
  const known = digests.get(manifest);
  if (known) return known;
  const digest = { ...manifestHash(manifest), summary: JSON.stringify(summarizeManifest(manifest)) };
  digests.set(manifest, digest);
  return digest;
}

/** Bytes in flight, at most `limit` (one item larger than that runs alone). */
class ByteBudget {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async take(bytes: number): Promise<() => void> {
    while (this.used > 0 && this.used + bytes > this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      for (const wake of this.waiting.splice(0)) wake();
    };
  }
}

/** Runs `work` on every item, at most `limit` at a time; the first failure stops the rest and is thrown. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  // allSettled, not all: nothing may still run (and write to the catalog) once this returns.
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

function backupKey(sourceId: string, backupId: string): string {
  // Source ids and backup ids never hold a "/" (they are key segments).
  return `${sourceId}/${backupId}`;
}

function splitBackupKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describe(error: unknown): string {
  return (error as Error)?.message?.replace(/\.$/, '') ?? String(error);
}
