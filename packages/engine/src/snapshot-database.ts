import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { SourceError, type DatabaseConfig } from '@botbackup/core';
import { checkDatabase } from './check-database.js';
import { copyDatabase, WalRestartedError } from './copy-database.js';
import { FollowingReader } from './following-reader.js';

export interface DatabaseSnapshot {
  /** Path of the consistent copy in the staging folder. */
  file: string;
  journalMode: string;
  pageSize: number;
  pageCount: number;
  size: number;
  sqliteVersion: string;
  /** How long the source was held in one read transaction (the lock a rollback-journal bot waits on). */
  readLockMs: number;
}

export interface SnapshotOptions {
  /** Called with pages copied so far and the total. */
  onProgress?: (copiedPages: number, totalPages: number) => void;
  /** Called once when the source is in rollback-journal mode, where a snapshot stalls the bot's commits. */
  onRollbackJournal?: (message: string) => void;
  /**
   * Called once the snapshot is pinned (its read transaction is open), before any page is
   * copied; the copy waits for the returned promise. Lets a caller observe the moment the
   * snapshot is taken (tests use it to show that the bot commits meanwhile).
   */
  onPinned?: () => Promise<void>;
  signal?: AbortSignal;
}

/** A WAL restart during the copy is rare (it needs a checkpoint to catch up meanwhile); retry a few times. */
const MAX_ATTEMPTS = 5;

/** A snapshot being taken: its facts, its bytes as they are copied, and its completion. */
export interface SnapshotHandle {
  journalMode: string;
  pageSize: number;
  pageCount: number;
  /** Bytes of the snapshot: pageCount × pageSize. */
  size: number;
  sqliteVersion: string;
  /** The snapshot's bytes, streamed from the staging file while it is still being copied. */
  stream: Readable;
  /**
   * Resolves once the copy is complete, the database is released and the copy passed
   * `PRAGMA quick_check`; rejects otherwise (a WalRestartedError means: take it again).
   */
  done: Promise<DatabaseSnapshot>;
}

/**
 * Starts a consistent snapshot of a live SQLite database into `destFile` and returns as soon as
 * its size is known, with a stream of its bytes that follows the copy. Then `PRAGMA quick_check`
 * runs on the complete copy in a worker thread; `done` says whether it passed. A caller must not
 * commit anything made from `stream` before `done` resolves.
 *
 * A read-only connection opens a read transaction and reads once, which pins the database: in
 * WAL mode the bot keeps committing (readers never block writers) but nothing it does can
 * change the bytes the copy reads (see {@link copyDatabase}); in rollback-journal mode the
 * SHARED lock keeps the bot from committing until the copy is done, so the caller is told once
 * (`onRollbackJournal`) to recommend WAL mode. The copy runs at disk speed whatever pace the
 * stream is read at, so the lock lasts only as long as the copy. The copy is plain asynchronous
 * file I/O: no step of it blocks the event loop, it never restarts when the bot commits (unlike
 * SQLite's stepwise backup API), and the staging file is not fsync-ed, so a backup adds no burst
 * of disk writes that the bot's own fsyncs would queue behind.
 */
export async function startSnapshot(db: DatabaseConfig, destFile: string, options: SnapshotOptions = {}): Promise<SnapshotHandle> {
  const stat = await fs.stat(db.path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new SourceError(
        'DATABASE_MISSING',
        db.path,
        `Database "${db.name}" not found at ${db.path}; check the path in the config or that the bot has created it.`,
      );
    }
    throw new SourceError('DATABASE_UNREADABLE', db.path, `Cannot read database "${db.name}" at ${db.path}: ${error.message}.`, { cause: error });
  });
  if (!stat.isFile()) throw new SourceError('DATABASE_UNREADABLE', db.path, `Database "${db.name}" at ${db.path} is not a regular file.`);

  let source: Database.Database;
  try {
    // A generous busy timeout: in rollback-journal mode the bot may hold its write lock briefly.
    source = new Database(db.path, { readonly: true, fileMustExist: true, timeout: 10_000 });
  } catch (error) {
    throw sqliteSourceError(db, error);
  }
  const release = () => {
    if (source.inTransaction) source.exec('COMMIT');
    source.close();
  };
  let journalMode: string;
  let pageSize: number;
  let sqliteVersion: string;
  let pinned: number;
  try {
    journalMode = String(source.pragma('journal_mode', { simple: true })).toLowerCase();
    pageSize = Number(source.pragma('page_size', { simple: true }));
    sqliteVersion = String(source.prepare('select sqlite_version()').pluck().get());
    source.exec('BEGIN');
    // The first read takes the snapshot (a WAL read mark, or a SHARED lock).
    source.prepare('select count(*) from sqlite_schema').get();
    pinned = performance.now();
  } catch (error) {
    release();
    throw sqliteSourceError(db, error);
  }
  const wal = journalMode === 'wal';
  if (!wal) {
    options.onRollbackJournal?.(
      `Database "${db.name}" uses journal_mode=${journalMode}: the bot cannot commit while the snapshot is copied. Switch it to WAL (PRAGMA journal_mode=WAL) so backups never stall trading.`,
    );
  }
  try {
    await options.onPinned?.();
  } catch (error) {
    release();
    throw error;
  }

  let reader: FollowingReader | undefined;
  let planned!: (pages: number) => void;
  const plannedPages = new Promise<number>((resolve) => (planned = resolve));
  const copy = copyDatabase(db.path, destFile, {
    pageSize,
    wal,
    signal: options.signal,
    onPlanned: planned,
    onProgress: (done, total) => {
      reader?.advance(done * pageSize);
      options.onProgress?.(done, total);
    },
  }).finally(release);
  const pageCount = await Promise.race([plannedPages, copy.then((c) => c.pageCount)]).catch((error: unknown) => {
    throw copyError(db, error, options.signal);
  });
  reader = new FollowingReader(destFile, pageCount * pageSize);
  const stream = reader;

  const done = (async (): Promise<DatabaseSnapshot> => {
    let readLockMs: number;
    try {
      await copy;
      readLockMs = performance.now() - pinned;
    } catch (error) {
      const failure = copyError(db, error, options.signal);
      stream.fail(failure as Error);
      throw failure;
    }
    const check = await checkDatabase(destFile, 'quick_check', options.signal);
    if (!check.ok) {
      throw new SourceError(
        'DATABASE_CORRUPT',
        db.path,
        `Database "${db.name}" at ${db.path} fails PRAGMA quick_check (${check.messages.slice(0, 3).join('; ')}); nothing was stored. Restore it with "botbackup restore" or repair it first.`,
      );
    }
    return { file: destFile, journalMode, pageSize, pageCount, size: pageCount * pageSize, sqliteVersion, readLockMs };
  })();
  // The caller awaits `done` after consuming the stream; until then a failure is reported
  // through the stream, so keep it from counting as unhandled.
  done.catch(() => undefined);
  return { journalMode, pageSize, pageCount, size: pageCount * pageSize, sqliteVersion, stream, done };
}

/**
 * Takes a complete, checked snapshot of a database into `destFile` (see {@link startSnapshot}),
 * copying it again if the WAL was restarted under the copy.
 */
export async function snapshotDatabase(db: DatabaseConfig, destFile: string, options: SnapshotOptions = {}): Promise<DatabaseSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const handle = await startSnapshot(db, destFile, attempt === 1 ? options : { ...options, onPinned: undefined });
    handle.stream.resume();
    try {
      return await handle.done;
    } catch (error) {
      await fs.rm(destFile, { force: true });
      if (!(error instanceof WalRestartedError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

/** A copy failure as the caller should see it: aborts and WAL restarts as they are, the rest as a SourceError. */
function copyError(db: DatabaseConfig, error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (error instanceof WalRestartedError || error instanceof SourceError) return error;
  return sqliteSourceError(db, error);
}

function sqliteSourceError(db: DatabaseConfig, error: unknown): SourceError {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new SourceError(
      'DATABASE_CORRUPT',
      db.path,
      `File ${db.path} (database "${db.name}") is not a valid SQLite database; check the path, or restore it from a backup.`,
      {
        cause: error,
      },
    );
  }
  if (code === 'SQLITE_BUSY') {
    return new SourceError(
      'DATABASE_UNREADABLE',
      db.path,
      `Database "${db.name}" at ${db.path} stayed locked for 10 s; the bot holds a long write transaction. Retry later.`,
      {
        cause: error,
      },
    );
  }
  if (
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_PERM') ||
    code === 'EACCES'
  ) {
    return new SourceError(
      'DATABASE_UNREADABLE',
      db.path,
      `Cannot open database "${db.name}" at ${db.path} (${code}); check that it and its folder are readable.`,
      { cause: error },
    );
  }
  return new SourceError('DATABASE_UNREADABLE', db.path, `Cannot snapshot database "${db.name}" at ${db.path}: ${(error as Error).message}.`, { cause: error });
}
