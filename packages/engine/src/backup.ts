import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  MANIFEST_FORMAT,
  MANIFEST_SCHEMA_VERSION,
  UsageError,
  createBackupId,
  repositoryKeys,
  serializeManifest,
  type Config,
  type Manifest,
  type ManifestDatabase,
  type SourceConfig,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { collectFiles } from './collect-files.js';
import { silentLogger, type Logger } from './logger.js';
import { packArchive, type ArchiveInput } from './pack-archive.js';
import type { ProgressListener } from './progress.js';
import { startSnapshot, type SnapshotHandle } from './snapshot-database.js';
import { createCompressStream, HashingStream } from './streams.js';
import { settleAll } from './settle.js';
import { TOOL_VERSION } from './version.js';

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
}

export interface BackupResult {
  manifest: Manifest;
  /** Where the backup was written: store name, location and manifest key. */
  stored: { store: string; location: string; manifestKey: string }[];
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
 * Makes a full backup of one source: consistent snapshots of its databases (each checked with
 * quick_check), then its files, packed as one tar stream, compressed, hashed and written to
 * every store at once. The manifest is written last, so a backup that fails at any point is
 * never visible; the objects it had written are removed (or left as orphans if even that fails).
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const { config, stores } = options;
  const source = selectSource(config, options.sourceId);
  if (stores.length === 0) throw new UsageError(`${config.file} configures no storage target.`);
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const backupId = createBackupId(startedAt, randomBytes(10));
  const log = logger.child({ backupId, source: source.id });
  const tmpRoot = config.tmpDir ?? os.tmpdir();
  await fs.mkdir(tmpRoot, { recursive: true });
  const staging = await fs.mkdtemp(path.join(tmpRoot, 'botbackup-'));
  const archiveKey = repositoryKeys.archive(source.id, backupId, config.compression.codec);
  const warnings: string[] = [];
  const snapshots = new Map<string, SnapshotHandle>();
  // Stops the snapshots' copies and checks as soon as the backup fails for any reason.
  const stop = new AbortController();
  const snapshotSignal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let archiveStarted = false;
  try {
    log.info({ databases: source.databases.length }, 'backup started');
    // Files first: an unreadable key file fails the backup before the expensive snapshot.
    const collected = await collectFiles(source, startedAt);
    // A database's file is stat-ed for its mode, and its size for the progress total (the
    // snapshot is about that size).
    const dbStats = await Promise.all(source.databases.map((db) => fs.stat(db.path).catch(() => undefined)));
    const inputs: ArchiveInput[] = [
      // Each database is snapshotted when the archive reaches it, so that it is pinned as late
      // and as briefly as possible.
      ...source.databases.map((db, i): ArchiveInput => {
        const open = async () => {
          const handle = await startSnapshot(db, path.join(staging, `${db.name}.sqlite`), {
            signal: snapshotSignal,
            onPinned: options.onSnapshotPinned && (() => options.onSnapshotPinned!(db.name)),
            onProgress: (done, total) => options.onProgress?.({ phase: 'snapshot', done, total, subject: db.name }),
            onRollbackJournal: (message) => {
              warnings.push(message);
              log.warn(message);
            },
          });
          snapshots.set(db.relativePath, handle);
          return { size: handle.size, stream: handle.stream };
        };
        return { path: db.relativePath, kind: 'database', mode: (dbStats[i]?.mode ?? 0o600) & 0o7777, mtime: startedAt, open };
      }),
      ...collected.files.map((f): ArchiveInput => ({ path: f.relPath, absPath: f.absPath, kind: f.kind, mode: f.mode, size: f.size, mtime: f.mtime })),
    ];
    const expected = [...collected.files, ...dbStats].reduce((sum, f) => sum + (f?.size ?? 0), 0);
    let packed = 0;
    const archive = packArchive(inputs, (n) => {
      packed += n;
      options.onProgress?.({ phase: 'pack', done: packed, total: Math.max(expected, packed) });
    });
    const stored = new HashingStream();
    const branches = tee(stored, stores.length);
    archiveStarted = true;
    await settleAll([
      pipeline(archive.stream, createCompressStream(config.compression.codec, config.compression.level), stored, { signal: options.signal }),
      ...stores.map((store, i) => store.put(archiveKey, branches[i]!, { signal: options.signal })),
    ]);
    const entries = await archive.entries;
    // Nothing is committed until every snapshot is complete and has passed quick_check.
    const databases: ManifestDatabase[] = [];
    let sqliteVersion: string | undefined;
    for (const db of source.databases) {
      const snapshot = await snapshots.get(db.relativePath)!.done;
      log.info({ database: db.name, pages: snapshot.pageCount, readLockMs: Math.round(snapshot.readLockMs) }, 'database snapshot taken and checked');
      sqliteVersion ??= snapshot.sqliteVersion;
      databases.push({
        name: db.name,
        path: db.relativePath,
        journalMode: snapshot.journalMode,
        pageSize: snapshot.pageSize,
        pageCount: snapshot.pageCount,
        size: snapshot.size,
        sha256: entries.find((e) => e.path === db.relativePath)!.sha256,
        quickCheck: 'ok',
      });
    }
    const entryBytes = entries.reduce((sum, e) => sum + e.size, 0);
    const completedAt = now();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      schemaVersion: MANIFEST_SCHEMA_VERSION,
      id: backupId,
      type: 'full',
      parent: null,
      chainDepth: 0,
      source: { id: source.id, host: options.host ?? os.hostname(), root: source.root },
      startedAt: startedAt.toISOString(),
      completedAt: completedAt.toISOString(),
      tool: { name: 'botbackup', version: TOOL_VERSION },
      sqlite: sqliteVersion === undefined ? null : { version: sqliteVersion },
      compression: { codec: config.compression.codec, level: config.compression.level },
      databases,
      entries,
      objects: [{ key: archiveKey, role: 'archive', size: stored.bytes, sha256: stored.digest(), compression: config.compression.codec, encryption: null }],
      excluded: collected.excluded,
      warnings,
      stats: { entryBytes, storedBytes: stored.bytes, durationMs: completedAt.getTime() - startedAt.getTime() },
    };
    // The manifest goes last: from this moment on the backup exists.
    const manifestKey = repositoryKeys.manifest(source.id, backupId);
    const text = serializeManifest(manifest);
    await Promise.all(stores.map((store) => store.put(manifestKey, Buffer.from(text), { signal: options.signal })));
    log.info({ entries: entries.length, entryBytes, storedBytes: stored.bytes, durationMs: manifest.stats.durationMs }, 'backup committed');
    return { manifest, stored: stores.map((store) => ({ store: store.name, location: store.location, manifestKey })) };
  } catch (error) {
    stop.abort();
    if (archiveStarted) {
      await Promise.all(stores.map((store) => store.delete(archiveKey).catch(() => undefined)));
    }
    throw options.signal?.aborted ? (options.signal.reason ?? error) : error;
  } finally {
    // Wait for the snapshots' copies and checks to settle before removing their files.
    await Promise.allSettled([...snapshots.values()].map((h) => h.done));
    await fs.rm(staging, { recursive: true, force: true });
  }
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
