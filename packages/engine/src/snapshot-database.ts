import fs from 'node:fs/promises';
import Database from 'better-sqlite3';
import { SourceError, type DatabaseConfig } from '@botbackup/core';
import { checkDatabase } from './check-database.js';
import { copyDatabase, WalRestartedError } from './copy-database.js';

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

/**
 * Copies a live SQLite database into `destFile` as one consistent snapshot, then checks the copy
 * with `PRAGMA quick_check` (in a worker thread); a copy that fails is deleted and the call
 * throws.
 *
 * A read-only connection opens a read transaction and reads once, which pins the database: in
 * WAL mode the bot keeps committing (readers never block writers) but nothing it does can
 * change the bytes the copy reads (see {@link copyDatabase}); in rollback-journal mode the
 * SHARED lock keeps the bot from committing until the copy is done, so the caller is told once
 * (`onRollbackJournal`) to recommend WAL mode, and the copy runs at full speed to keep the lock
 * short. The copy itself is plain asynchronous file I/O: no step of it blocks the event loop, it
 * never restarts when the bot commits (unlike SQLite's stepwise backup API), and the staging
 * file is not fsync-ed, so a backup adds no burst of disk writes that the bot's own fsyncs
 * would queue behind.
 */
export async function snapshotDatabase(db: DatabaseConfig, destFile: string, options: SnapshotOptions = {}): Promise<DatabaseSnapshot> {
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
  let journalMode: string;
  let pageSize: number;
  let sqliteVersion: string;
  let readLockMs = 0;
  let pageCount = 0;
  try {
    try {
      journalMode = String(source.pragma('journal_mode', { simple: true })).toLowerCase();
      pageSize = Number(source.pragma('page_size', { simple: true }));
      sqliteVersion = String(source.prepare('select sqlite_version()').pluck().get());
    } catch (error) {
      throw sqliteSourceError(db, error);
    }
    const wal = journalMode === 'wal';
    if (!wal) {
      options.onRollbackJournal?.(
        `Database "${db.name}" uses journal_mode=${journalMode}: the bot cannot commit while the snapshot is copied. Switch it to WAL (PRAGMA journal_mode=WAL) so backups never stall trading.`,
      );
    }
    for (let attempt = 1; ; attempt++) {
      try {
        source.exec('BEGIN');
        // The first read takes the snapshot (a WAL read mark, or a SHARED lock).
        source.prepare('select count(*) from sqlite_schema').get();
        const pinned = performance.now();
        if (attempt === 1) await options.onPinned?.();
        const copied = await copyDatabase(db.path, destFile, { pageSize, wal, onProgress: options.onProgress, signal: options.signal });
        readLockMs = performance.now() - pinned;
        pageCount = copied.pageCount;
        break;
      } catch (error) {
        if (!(error instanceof WalRestartedError) || attempt >= MAX_ATTEMPTS) {
          if (options.signal?.aborted) throw options.signal.reason;
          throw error instanceof SourceError ? error : sqliteSourceError(db, error);
        }
      } finally {
        if (source.inTransaction) source.exec('COMMIT');
      }
    }
  } finally {
    source.close();
  }

  const check = await checkDatabase(destFile, 'quick_check', options.signal);
  if (!check.ok) {
    await fs.rm(destFile, { force: true });
    throw new SourceError(
      'DATABASE_CORRUPT',
      db.path,
      `Database "${db.name}" at ${db.path} fails PRAGMA quick_check (${check.messages.slice(0, 3).join('; ')}); nothing was stored. Restore it with "botbackup restore" or repair it first.`,
    );
  }
  return { file: destFile, journalMode, pageSize, pageCount, size: pageCount * pageSize, sqliteVersion, readLockMs };
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
