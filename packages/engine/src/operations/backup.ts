import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BackupNotFoundError,
  BotbackupError,
  ConfigError,
  DELTA_SUFFIX,
  ExitCode,
  IntegrityError,
  KeyError,
  MANIFEST_FORMAT,
  MANIFEST_SCHEMA_VERSION,
  SourceError,
  StorageError,
  UsageError,
  createBackupId,
  decodePageMap,
  encodePageMap,
  planIncremental,
  repositoryKeys,
  manifestBytes,
  signedManifestBytes,
  type BackupPlan,
  type Config,
  type FileKind,
  type Manifest,
  type ManifestDatabase,
  type ManifestFile,
  type ManifestObject,
  type PageMap,
  type PlannedFile,
  type SourceConfig,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { finishPendingRestore } from './restore-journal.js';
import { collectFiles, type CollectedFile } from '../source/index.js';
import { checkSourceRoots } from '../config/index.js';
import { checkBackupKeys, Keyring } from '../crypto/index.js';
import { createDeltaStream } from '../archive/index.js';
import { copyBackup } from './replicate.js';
import { isTargetFailure } from '../repository/index.js';
import { checkChainObjects, loadChain, readVerifiedObject, resolveBackupRef } from '../repository/index.js';
import { silentLogger, type Logger } from '../support/index.js';
import { linkTargetHash, packArchive, type ArchiveInput } from '../archive/index.js';
import type { ProgressListener } from '../support/index.js';
import { startSnapshot, type SnapshotHandle } from '../sqlite/index.js';
import { createCompressStream, hashFile, HashingStream } from '../support/index.js';
import { settleAll } from '../support/index.js';
import { makeOwnedTempDir, removeStaleTemp, type StaleTempCleanup } from '../repository/index.js';
import { TOOL_VERSION } from '../support/index.js';

export interface BackupOptions {
  config: Config;
  /** The source to back up; may be omitted when the config has exactly one. */
  sourceId?: string | undefined;
  /** Where to write; every store receives the same bytes from one read of the source. */
  stores: BackupStore[];
  logger?: Logger;
  onProgress?: ProgressListener;
  /** Passed to {@link snapshotDatabase} for each database, with its name. */
  onSnapshotPinned?: (database: string) => Promise<void>;
  signal?: AbortSignal;
  /** The clock (tests pass a fixed one). */
  now?: () => Date;
  /** Host name recorded in the manifest. */
  host?: string;
  /** Store only what changed since a parent (see {@link findParent}); full when there is none to build on. */
  incremental?: boolean;
  /** The parent of an incremental: the newest backup at or before this id, id prefix or time; the newest by default. */
  since?: string | undefined;
  /** Stores the backup must reach to be committed (default: the config's minCopies, at most every store). */
  minCopies?: number;
  /**
   * Called right before the manifest is written: a last chance to refuse the commit (a worker
   * checks that it still holds its source's lock, so that two hosts never both commit).
   */
  beforeCommit?: () => Promise<void>;
  /** The queued job that runs it, recorded in the manifest (see {@link findBackupByTrigger}). */
  trigger?: { jobId: string; scheduleId: string | null; queuedAt?: string } | undefined;
  /** The repository's keys (default: the config's, with no identity and no --insecure). */
  keyring?: Keyring;
}

export interface BackupResult {
  manifest: Manifest;
  /** Where the backup was written: store name, location and manifest key. */
  stored: { store: string; location: string; manifestKey: string }[];
  /** Stores the backup did not reach, with why: the backup is degraded when this is not empty. */
  failed: { store: string; location: string; error: string }[];
  /** Links of the parent's chain that a store lacked and that were copied there first. */
  repaired: { store: string; backupId: string }[];
  /** Leftovers of interrupted runs removed before the backup started (see {@link removeStaleTemp}). */
  cleaned: StaleTempCleanup;
}

/**
 * The stores a backup is being written to. A store that fails is dropped (the backup goes on
 * without it) until fewer than `minCopies` remain; then the backup fails.
 */
class TargetSet {
  readonly alive: BackupStore[];
  readonly failed = new Map<BackupStore, StorageError>();
  constructor(
    private readonly all: readonly BackupStore[],
    private readonly minCopies: number,
    private readonly log: Logger,
  ) {
    this.alive = [...all];
  }

  /** Drops a store that failed; throws when the backup can no longer reach minCopies stores. */
  fail(store: BackupStore, error: StorageError): void {
    if (this.failed.has(store)) return;
    this.failed.set(store, error);
    this.alive.splice(this.alive.indexOf(store), 1);
    if (this.alive.length >= this.minCopies) {
      this.log.warn({ store: store.name, err: error.message }, 'storage target failed; the backup goes on without it');
      return;
    }
    if (this.all.length === 1) throw error;
    const reasons = [...this.failed].map(([s, e]) => `"${s.name}": ${e.message.replace(/\.$/, '')}`).join('; ');
    throw new BotbackupError(
      'TOO_FEW_COPIES',
      `The backup reached ${this.alive.length} of ${this.all.length} storage targets, fewer than minCopies (${this.minCopies}), so nothing was committed (${reasons}).`,
      ExitCode.storage,
      { cause: error },
    );
  }

  /** Runs `work` on every live store at once; a store whose work fails with a target failure is dropped. */
  async each(work: (store: BackupStore) => Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
    await settleAll(
      this.alive.slice().map((store) =>
        work(store).catch((error: unknown) => {
          if (!isTargetFailure(error) || signal?.aborted) throw error;
          this.fail(store, error);
        }),
      ),
    );
  }
}

/** Picks the source a command means: the named one, or the only one. */
export function selectSource(config: Config, sourceId: string | undefined): SourceConfig {
  if (sourceId === undefined) {
    if (config.sources.length === 1) return config.sources[0]!;
    throw new UsageError(`${config.file} defines ${config.sources.length} sources (${config.sources.map((s) => s.id).join(', ')}); choose one with --source.`);
  }
  const source = config.sources.find((s) => s.id === sourceId);
  if (!source) throw new UsageError(`${config.file} has no source "${sourceId}"; it defines ${config.sources.map((s) => s.id).join(', ')}.`);
  return source;
}

/**
 * Makes a backup of one source: full, or (with `incremental`) only what changed since a parent.
 * Consistent snapshots of its databases are taken first (each with a page map, and checked with
 * quick_check while the archive is packed); an incremental stores the changed and new files
 * whole and each database as a page delta on the parent's copy. Everything is packed as one tar
 * stream, compressed, hashed and written to every store at once; page maps follow, and the
 * manifest is written last, so a backup that fails at any point is never visible; the objects it
 * had written are removed (or left as orphans if even that fails).
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const { config, stores } = options;
  const source = selectSource(config, options.sourceId);
  await checkSourceRoots(config, [source.id]);
  // A restore or recovery killed in this folder is finished (or undone) before it is read; a read-only folder only warns.
  await finishPendingRestore(source.root).then(
    (pending) => pending && (options.logger ?? silentLogger).warn(pending.message),
    (error: Error) => (options.logger ?? silentLogger).warn({ err: error.message }, 'an interrupted restore in the source folder could not be finished'),
  );
  if (stores.length === 0) throw new UsageError(`${config.file} configures no storage target.`);
  if (!config.encryption && !source.allowPlaintextSecrets && source.files.some((set) => set.kind === 'secret')) {
    throw new ConfigError(
      config.file,
      `sources[${config.sources.indexOf(source)}].allowPlaintextSecrets`,
      'is false, but the source has secret files and no encryption is configured; configure encryption (see docs/security.md) or set it to true to store them readable',
    );
  }
  const keyring = options.keyring ?? new Keyring({ config });
  // Before anything is read: a backup that could not be signed or encrypted must not start.
  const workerKey = await checkBackupKeys(config, keyring);
  const contentKey = config.encryption ? workerKey!.contentHashKey : undefined;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const backupId = createBackupId(startedAt, randomBytes(10));
  const log = logger.child({ backupId, source: source.id });
  const targets = new TargetSet(stores, Math.min(options.minCopies ?? config.minCopies, stores.length), log);
  // Leftovers of interrupted runs first (temp copies of dead runs, .part files of killed uploads).
  const cleaned = await removeStaleTemp({ tmpRoot: config.tmpDir, stores, graceMs: config.orphanGraceMs, logger: log, signal: options.signal });
  const staging = await makeOwnedTempDir(config.tmpDir);
  const archiveKey = repositoryKeys.archive(source.id, backupId, config.compression.codec);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    log.warn(message);
  };
  const snapshots = new Map<string, SnapshotHandle>();
  // Stops the snapshots' copies and checks as soon as the backup fails for any reason.
  const stop = new AbortController();
  const snapshotSignal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const written: string[] = [];
  let manifestKey: string | undefined;
  try {
    log.info({ databases: source.databases.length, incremental: options.incremental ?? false }, 'backup started');
    // Files first: an unreadable key file fails the backup before the expensive snapshot.
    const collected = await collectFiles(source, startedAt);
    const found = options.incremental
      ? await findParent(targets, source.id, options.since, keyring, options.signal)
      : { reason: 'a full backup was requested' };
    if ('warning' in found && found.warning) warn(found.warning);
    const modes = await Promise.all(
      source.databases.map((db) =>
        fs.stat(db.path).then(
          (s) => s.mode & 0o7777,
          () => 0o600,
        ),
      ),
    );
    // Each database is copied once, with its page hashes; quick_check then runs on the copy
    // while the archive is packed.
    for (const db of source.databases) {
      const handle = await startSnapshot(db, path.join(staging, `${db.name}.sqlite`), {
        signal: snapshotSignal,
        sha256: 'parent' in found,
        hashKey: contentKey,
        onPinned: options.onSnapshotPinned && (() => options.onSnapshotPinned!(db.name)),
        onProgress: (done, total) => options.onProgress?.({ phase: 'snapshot', done, total, subject: db.name }),
        onRollbackJournal: warn,
      });
      snapshots.set(db.relativePath, handle);
    }
    const pageMaps = new Map(
      source.databases.map((db) => {
        const snapshot = snapshots.get(db.relativePath)!;
        return [
          db.relativePath,
          { algorithm: 'xxh64', pageSize: snapshot.pageSize, pageCount: snapshot.pageCount, hashes: snapshot.pageHashes } satisfies PageMap,
        ];
      }),
    );

    let plan: BackupPlan = { type: 'full', reason: 'reason' in found ? found.reason : '' };
    /** Files found but not backed up (vanished, changed while read, links not followed), with why. */
    const skipped = [...collected.skipped];
    if ('parent' in found) {
      const files = await hashFiles(collected.files, contentKey, options.signal, skipped);
      plan = planIncremental({
        backupId,
        parent: found.parent,
        parentPageMaps: found.pageMaps,
        limits: source.incremental,
        files,
        databases: source.databases.map((db) => ({
          path: db.relativePath,
          pageSize: pageMaps.get(db.relativePath)!.pageSize,
          pageCount: pageMaps.get(db.relativePath)!.pageCount,
          pageMap: pageMaps.get(db.relativePath)!,
        })),
      });
      if (plan.type === 'full') log.info({ reason: plan.reason }, 'making a full backup instead of an incremental');
    }
    const incremental = plan.type === 'incremental' ? plan : undefined;

    // Files go first in the archive (a reader that wants one file can stop early), databases last.
    const storedFiles = incremental ? new Set(incremental.changed.map((f) => f.path)) : undefined;
    const inputs: ArchiveInput[] = [
      ...collected.files
        .filter((f) => !storedFiles || storedFiles.has(f.relPath))
        .map((f): ArchiveInput =>
          f.linkTarget !== undefined
            ? { path: f.relPath, linkTarget: f.linkTarget, kind: f.kind, mode: f.mode, mtime: f.mtime }
            : { path: f.relPath, absPath: f.absPath, identity: f.identity, kind: f.kind, mode: f.mode, size: f.size, mtime: f.mtime },
        ),
      ...source.databases.map((db, i): ArchiveInput => {
        const snapshot = snapshots.get(db.relativePath)!;
        const dbPlan = incremental?.databases.get(db.relativePath);
        if (dbPlan?.type === 'delta') {
          const open = async () => createDeltaStream(snapshot.file, snapshot.pageSize, dbPlan.basePageCount, snapshot.pageCount, dbPlan.runs);
          return { path: db.relativePath + DELTA_SUFFIX, kind: 'database-delta', mode: 0o600, mtime: startedAt, open };
        }
        const open = async () => ({ size: snapshot.size, stream: snapshot.openStream() });
        return { path: db.relativePath, kind: 'database', mode: modes[i]!, mtime: startedAt, open };
      }),
    ];
    const expected = (incremental?.bytes ?? 0) || [...collected.files, ...snapshots.values()].reduce((sum, f) => sum + f.size, 0);
    let packed = 0;
    const archive = packArchive(
      inputs,
      (n) => {
        packed += n;
        options.onProgress?.({ phase: 'pack', done: packed, total: Math.max(expected, packed) });
      },
      contentKey,
    );
    const archiveReaders = config.encryption ? keyring.readersFor('archive') : undefined;
    // Compressed, then encrypted: ciphertext does not compress.
    const encrypt = archiveReaders ? [await keyring.encryptStream(archiveReaders)] : [];
    const stored = new HashingStream();
    let sourceFailed = false;
    stored.once('error', () => (sourceFailed = true));
    const receivers = targets.alive.slice();
    const branches = tee(stored, receivers.length);
    written.push(archiveKey);
    await settleAll([
      pipeline([archive.stream, createCompressStream(config.compression.codec, config.compression.level), ...encrypt, stored], { signal: options.signal }),
      ...receivers.map((store, i) =>
        store.put(archiveKey, branches[i]!, { signal: options.signal }).catch((error: unknown) => {
          // The others go on: a destroyed branch is unpiped from the tee.
          branches[i]!.destroy();
          if (sourceFailed || !isTargetFailure(error) || options.signal?.aborted) throw error;
          targets.fail(store, error);
        }),
      ),
    ]);
    const packResult = await archive.result;
    const entries = packResult.entries;
    skipped.push(...packResult.skipped);
    for (const note of packResult.notes) warn(`${note.path} ${note.reason}`);
    for (const s of skipped) log.warn({ path: s.path }, `skipped ${s.path}: ${s.reason}`);
    const skippedPaths = new Set(skipped.map((s) => s.path));
    const entryByPath = new Map(entries.map((e) => [e.path, e]));

    // Nothing is committed until every snapshot is complete and has passed quick_check.
    const objects: ManifestObject[] = [
      {
        key: archiveKey,
        role: 'archive',
        size: stored.bytes,
        sha256: stored.digest(),
        compression: config.compression.codec,
        encryption: archiveReaders ? { format: 'age', readers: archiveReaders } : null,
      },
    ];
    const databases: ManifestDatabase[] = [];
    let sqliteVersion: string | undefined;
    for (const [i, db] of source.databases.entries()) {
      const snapshot = await snapshots.get(db.relativePath)!.done;
      log.info({ database: db.name, pages: snapshot.pageCount, readLockMs: Math.round(snapshot.readLockMs) }, 'database snapshot taken and checked');
      sqliteVersion ??= snapshot.sqliteVersion;
      const mapKey = repositoryKeys.pageMap(source.id, backupId, db.name);
      const mapReaders = config.encryption ? keyring.readersFor('page-map') : undefined;
      const plainMap = encodePageMap(pageMaps.get(db.relativePath)!);
      const mapBytes = mapReaders ? await keyring.encryptBytes(Buffer.from(plainMap), mapReaders) : plainMap;
      written.push(mapKey);
      await targets.each((store) => store.put(mapKey, mapBytes, { signal: options.signal }), options.signal);
      objects.push({
        key: mapKey,
        role: 'page-map',
        size: mapBytes.length,
        sha256: createHash('sha256').update(mapBytes).digest('hex'),
        compression: 'none',
        encryption: mapReaders ? { format: 'age', readers: mapReaders } : null,
      });
      const dbPlan = incremental?.databases.get(db.relativePath);
      const common = {
        name: db.name,
        path: db.relativePath,
        mode: modes[i]!,
        journalMode: snapshot.journalMode,
        pageSize: snapshot.pageSize,
        pageCount: snapshot.pageCount,
        size: snapshot.size,
        quickCheck: 'ok' as const,
        pageMap: mapKey,
      };
      databases.push(
        dbPlan?.type === 'delta'
          ? {
              ...common,
              sha256: snapshot.sha256!,
              stored: { type: 'delta', entry: db.relativePath + DELTA_SUFFIX, basePageCount: dbPlan.basePageCount, pages: dbPlan.pages },
            }
          : { ...common, sha256: entryByPath.get(db.relativePath)!.sha256, stored: { type: 'snapshot', entry: db.relativePath } },
      );
    }
    // Every file as of this backup: the ones stored here as packed (a file that changed since it
    // was hashed is recorded as stored), the others as the parent had them.
    // A file skipped while it was packed (vanished, or shrank while read) is not one of them.
    const files: ManifestFile[] = (incremental ? incremental.files : collected.files.map((f) => ({ path: f.relPath, storedIn: backupId })))
      .filter((f) => !(f.storedIn === backupId && (skippedPaths.has(f.path) || !entryByPath.has(f.path))))
      .map((f) => {
        const entry = entryByPath.get(f.path);
        if (f.storedIn === backupId && entry)
          return {
            path: entry.path,
            kind: entry.kind as FileKind,
            mode: entry.mode,
            size: entry.size,
            mtime: entry.mtime,
            sha256: entry.sha256,
            storedIn: backupId,
            ...(entry.linkTarget !== undefined ? { linkTarget: entry.linkTarget } : {}),
          };
        return f as ManifestFile;
      });
    const keptPaths = new Set(files.map((f) => f.path));
    const entryBytes = entries.reduce((sum, e) => sum + e.size, 0);
    const storedBytes = objects.reduce((sum, o) => sum + o.size, 0);
    const completedAt = now();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      schemaVersion: MANIFEST_SCHEMA_VERSION,
      id: backupId,
      type: plan.type,
      parent: incremental?.parent ?? null,
      chainDepth: incremental?.chainDepth ?? 0,
      fullReason: plan.type === 'full' ? plan.reason : null,
      source: { id: source.id, host: options.host ?? os.hostname(), root: source.root },
      startedAt: startedAt.toISOString(),
      completedAt: completedAt.toISOString(),
      tool: { name: 'botbackup', version: TOOL_VERSION },
      sqlite: sqliteVersion === undefined ? null : { version: sqliteVersion },
      compression: { codec: config.compression.codec, level: config.compression.level },
      databases,
      entries,
      files,
      // The parent's files this one lacks: deleted, or skipped because they vanished while read.
      deleted: incremental && 'parent' in found ? found.parent.files.map((f) => f.path).filter((p) => !keptPaths.has(p)) : [],
      objects,
      excluded: collected.excluded,
      skipped: skipped.sort((a, b) => (a.path < b.path ? -1 : 1)),
      warnings,
      stats: { entryBytes, storedBytes, durationMs: completedAt.getTime() - startedAt.getTime() },
      ...(options.trigger ? { trigger: options.trigger } : {}),
      copies: {
        written: targets.alive.map((s) => s.name),
        failed: [...targets.failed].map(([s, e]) => ({ target: s.name, error: e.message })),
      },
      ...(contentKey
        ? {
            encryption: {
              contentHash: 'hmac-sha256' as const,
              contentHashKeyId: workerKey!.contentHashKeyId,
              contentHashKey: (await keyring.encryptBytes(contentKey, keyring.readersFor('key'))).toString('base64'),
            },
          }
        : {}),
    };
    await options.beforeCommit?.();
    // The manifest goes last: from this moment on the backup exists (where it was written).
    manifestKey = repositoryKeys.manifest(source.id, backupId);
    // As bytes built piece by piece: the text of a million files' manifest is longer than any string.
    const text = workerKey ? signedManifestBytes(manifest, workerKey) : manifestBytes(manifest);
    await targets.each((store) => store.put(manifestKey!, text, { signal: options.signal }), options.signal);
    log.info(
      {
        type: manifest.type,
        parent: manifest.parent,
        entries: entries.length,
        entryBytes,
        storedBytes,
        durationMs: manifest.stats.durationMs,
        stores: targets.alive.map((s) => s.name),
        failed: [...targets.failed.keys()].map((s) => s.name),
      },
      targets.failed.size > 0 ? 'backup committed, degraded' : 'backup committed',
    );
    return {
      manifest,
      stored: targets.alive.map((store) => ({ store: store.name, location: store.location, manifestKey: manifestKey! })),
      failed: [...targets.failed].map(([store, error]) => ({ store: store.name, location: store.location, error: error.message })),
      repaired: 'repaired' in found ? found.repaired : [],
      cleaned,
    };
  } catch (error) {
    stop.abort();
    // The manifest first (a backup is visible exactly while it exists), then its objects; not
    // on a store known to be down: replicate removes what is left there.
    const reachable = stores.filter((s) => targets.failed.get(s)?.storageCode !== 'UNAVAILABLE');
    if (manifestKey !== undefined) await Promise.all(reachable.map((store) => store.delete(manifestKey!).catch(() => undefined)));
    await Promise.all(reachable.flatMap((store) => written.map((key) => store.delete(key).catch(() => undefined))));
    throw options.signal?.aborted ? (options.signal.reason ?? error) : error;
  } finally {
    // Wait for the snapshots' copies and checks to settle before removing their files.
    await Promise.allSettled([...snapshots.values()].map((h) => h.done));
    await fs.rm(staging, { recursive: true, force: true });
  }
}

type ParentSearch =
  | { parent: Manifest; pageMaps: Map<string, PageMap>; repaired: { store: string; backupId: string }[]; warning?: string }
  | { reason: string; warning?: string };

/**
 * The parent of an incremental: the newest backup of the source (or the newest at or before
 * `since`) that any target holds, if it can be built on. The target it was found in must hold
 * its whole chain (every link's manifest, and every object at its recorded size), and its page
 * maps must match their sha256; otherwise the backup becomes full, with a warning, and never
 * builds on a broken parent. A target that lacks links of the chain (it was down when they were
 * made) gets them copied first, checked on the way, so every target holds complete chains. A
 * target that fails is dropped from the backup. Content of the older links is `verify`'s job:
 * reading it here would cost as much as a full backup.
 */
async function findParent(
  targets: TargetSet,
  sourceId: string,
  since: string | undefined,
  keyring: Keyring,
  signal: AbortSignal | undefined,
): Promise<ParentSearch> {
  let best: { parent: Manifest; store: BackupStore } | undefined;
  let notFound: BackupNotFoundError | undefined;
  for (const store of targets.alive.slice()) {
    try {
      const parent = await resolveBackupRef(store, since ?? 'latest', sourceId, signal);
      if (!best || parent.id > best.parent.id) best = { parent, store };
    } catch (error) {
      if (error instanceof BackupNotFoundError) notFound ??= error;
      else if (error instanceof IntegrityError) return unusable(since ?? 'latest', error);
      else if (isTargetFailure(error)) targets.fail(store, error);
      else throw error;
    }
  }
  if (!best) {
    if (since === undefined || !notFound) return { reason: `there is no earlier backup of source "${sourceId}" to build on` };
    throw notFound;
  }
  const { parent, store: primary } = best;
  let chain: Manifest[];
  const pageMaps = new Map<string, PageMap>();
  let signatureWarning: string | undefined;
  try {
    chain = await loadChain(primary, parent, signal);
    // Never build on a backup someone else could have written: its hashes decide what is stored.
    for (const link of chain) signatureWarning ??= keyring.checkSignature(link, `storage "${primary.name}"`);
    await checkChainObjects(primary, chain, signal);
    for (const db of parent.databases) {
      if (db.pageMap === null) continue;
      const object = parent.objects.find((o) => o.key === db.pageMap);
      if (!object) throw new IntegrityError('BAD_MANIFEST', `its manifest lists no object ${db.pageMap}`, { backupId: parent.id });
      const stored = await readVerifiedObject(primary, parent, object, signal);
      const bytes = object.encryption ? await keyring.decryptBytes(parent, stored, object.encryption.readers) : stored;
      pageMaps.set(db.path, decodePageMap(bytes, `${object.key} in storage "${primary.name}"`));
    }
  } catch (error) {
    if (error instanceof IntegrityError || error instanceof KeyError) return unusable(parent.id, error);
    if (isTargetFailure(error) && !signal?.aborted) {
      targets.fail(primary, error);
      return { reason: `storage "${primary.name}", which holds the parent ${parent.id}, failed while it was read` };
    }
    throw error;
  }
  const repaired: { store: string; backupId: string }[] = [];
  for (const store of targets.alive.slice()) {
    if (store === primary) continue;
    try {
      for (const link of chain) {
        if (await holdsCopy(store, link, signal)) continue;
        await copyBackup(primary, store, link, { signal });
        repaired.push({ store: store.name, backupId: link.id });
      }
    } catch (error) {
      if (error instanceof IntegrityError) return unusable(parent.id, error);
      if (!isTargetFailure(error) || signal?.aborted) throw error;
      targets.fail(store, error);
    }
  }
  return { parent, pageMaps, repaired, ...(signatureWarning ? { warning: signatureWarning } : {}) };
}

/** True when `store` holds a backup's manifest and every object at its recorded size. */
async function holdsCopy(store: BackupStore, manifest: Manifest, signal: AbortSignal | undefined): Promise<boolean> {
  if (!(await store.stat(repositoryKeys.manifest(manifest.source.id, manifest.id), { signal }))) return false;
  try {
    await checkChainObjects(store, [manifest], signal);
    return true;
  } catch (error) {
    if (error instanceof IntegrityError) return false;
    throw error;
  }
}

function unusable(parent: string, error: Error): { reason: string; warning: string } {
  const reason = `the parent ${parent} cannot be built on (${error.message.replace(/\.$/, '')})`;
  return { reason, warning: `Made a full backup instead of an incremental: ${reason}.` };
}

/** sha256 (HMAC-SHA256 under `contentKey`, in an encrypted repository) of each file's first `size` bytes (the size it was collected with), one file at a time. */
async function hashFiles(
  files: readonly CollectedFile[],
  contentKey: Buffer | undefined,
  signal: AbortSignal | undefined,
  skipped: { path: string; reason: string }[],
): Promise<PlannedFile[]> {
  const out: PlannedFile[] = [];
  for (const f of files) {
    const mtime = f.mtime.toISOString();
    if (f.linkTarget !== undefined) {
      out.push({ path: f.relPath, kind: f.kind, mode: f.mode, size: 0, mtime, sha256: linkTargetHash(f.linkTarget, contentKey), linkTarget: f.linkTarget });
      continue;
    }
    const hashed = await hashFile(f.absPath, { size: f.size, signal, key: contentKey }).catch((error: NodeJS.ErrnoException) => {
      if (signal?.aborted) throw error;
      // Gone since the walk: skipped, as when it vanishes before the archive reaches it.
      if (error.code === 'ENOENT') return undefined;
      throw new SourceError('FILE_UNREADABLE', f.absPath, `Cannot read ${f.absPath} (${error.code ?? error.message}); check its permissions.`, {
        cause: error,
      });
    });
    if (!hashed) {
      skipped.push({ path: f.relPath, reason: 'vanished before it was read' });
      continue;
    }
    if (hashed.bytes < f.size) {
      skipped.push({ path: f.relPath, reason: `changed size while it was read (shrank from ${f.size} to ${hashed.bytes} bytes); not stored` });
      continue;
    }
    out.push({ path: f.relPath, kind: f.kind, mode: f.mode, size: f.size, mtime, sha256: hashed.sha256 });
  }
  return out;
}

/**
 * Splits one stream into `n` that each see every byte, at the pace of the slowest reader, and
 * that all fail if the source fails (so no store waits forever on a dead source).
 */
function tee(source: Readable, n: number): Readable[] {
  if (n === 1) return [source];
  const branches = Array.from({ length: n }, () => new PassThrough({ highWaterMark: 1 << 20 }));
  for (const branch of branches) source.pipe(branch);
  source.once('error', (error) => {
    for (const branch of branches) branch.destroy(error);
  });
  return branches;
}
