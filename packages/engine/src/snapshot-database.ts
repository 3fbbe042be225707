import fs from 'node:fs/promises';
import Database from 'better-sqlite3';
import { SourceError, type DatabaseConfig } from '@botbackup/core';
import { checkDatabase } from './check-database.js';

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
  signal?: AbortSignal;
}

/** Pages per backup step: 2048 pages (8 MiB at 4 KiB pages) keep each synchronous step to a few ms. */
const WAL_STEP_PAGES = 2048;
/** In rollback-journal mode the bot is locked out for the whole copy, so copy in as few steps as possible. */
const ROLLBACK_STEP_PAGES = 1 << 20;

/**
 * Copies a live SQLite database into `destFile` as one consistent snapshot, then checks the copy
 * with `PRAGMA quick_check`.
 *
 * The copy uses SQLite's online backup API from a connection that first opens a read
 * transaction and holds it for the whole copy. While the source connection has a transaction
 * open, `sqlite3_backup_step` uses it instead of starting one per step, so the pages come from a
 * single snapshot and the backup never restarts when the bot commits (the default stepwise
 * backup restarts on every write and can run forever on a busy bot). Steps are small and run
 * between event-loop turns, so the loop stays responsive.
 *
 * - WAL mode: the read transaction does not block the bot's writers; they keep appending to the
 *   WAL, which cannot be checkpointed past our snapshot until we finish.
 * - Rollback-journal mode: the read transaction holds a SHARED lock, and the bot cannot commit
 *   until it is released. The copy is made in as few steps as possible to keep that short, and
 *   the caller is told once so it can recommend WAL mode.
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
  try {
    let journalMode: string;
    let pageSize: number;
    let sqliteVersion: string;
    try {
      journalMode = String(source.pragma('journal_mode', { simple: true })).toLowerCase();
      pageSize = Number(source.pragma('page_size', { simple: true }));
      sqliteVersion = String(source.prepare('select sqlite_version()').pluck().get());
    } catch (error) {
      throw sqliteSourceError(db, error);
    }
    const isWal = journalMode === 'wal';
    if (!isWal) {
      options.onRollbackJournal?.(
        `Database "${db.name}" uses journal_mode=${journalMode}: the bot cannot commit while the snapshot is copied. Switch it to WAL (PRAGMA journal_mode=WAL) so backups never stall trading.`,
      );
    }
    let started = 0;
    try {
      source.exec('BEGIN');
      // The first read takes the snapshot (WAL read mark, or SHARED lock) that the whole copy uses.
      source.prepare('select count(*) from sqlite_schema').get();
      started = performance.now();
      const totalPages = Number(source.pragma('page_count', { simple: true }));
      await source.backup(destFile, {
        progress: ({ totalPages: total, remainingPages }) => {
          options.signal?.throwIfAborted();
          options.onProgress?.(total - remainingPages, total);
          return isWal ? WAL_STEP_PAGES : ROLLBACK_STEP_PAGES;
        },
      });
      options.onProgress?.(totalPages, totalPages);
    } catch (error) {
      await fs.rm(destFile, { force: true });
      if (options.signal?.aborted) throw options.signal.reason;
      throw sqliteSourceError(db, error);
    } finally {
      if (source.inTransaction) source.exec('COMMIT');
    }
    const readLockMs = performance.now() - started;
    const check = await checkDatabase(destFile, 'quick_check');
    if (!check.ok) {
      await fs.rm(destFile, { force: true });
      throw new SourceError(
        'DATABASE_CORRUPT',
        db.path,
        `Database "${db.name}" at ${db.path} fails PRAGMA quick_check (${check.messages.slice(0, 3).join('; ')}); nothing was stored. Restore it with "botbackup restore" or repair it first.`,
      );
    }
    const copied = await fs.stat(destFile);
    return { file: destFile, journalMode, pageSize, pageCount: copied.size / pageSize, size: copied.size, sqliteVersion, readLockMs };
  } finally {
    source.close();
  }
}

function sqliteSourceError(db: DatabaseConfig, error: unknown): SourceError {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new SourceError(
      'DATABASE_CORRUPT',
      db.path,
      `File ${db.path} (database "${db.name}") is not a valid SQLite database; check the path, or restore it from a backup.`,
      { cause: error },
    );
  }
  if (code === 'SQLITE_BUSY') {
    return new SourceError(
      'DATABASE_UNREADABLE',
      db.path,
      `Database "${db.name}" at ${db.path} stayed locked for 10 s; the bot holds a long write transaction. Retry later.`,
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM')) {
    return new SourceError(
      'DATABASE_UNREADABLE',
      db.path,
      `Cannot open database "${db.name}" at ${db.path} (${code}); check that it and its folder are readable.`,
      { cause: error },
    );
  }
  return new SourceError('DATABASE_UNREADABLE', db.path, `Cannot snapshot database "${db.name}" at ${db.path}: ${(error as Error).message}.`, { cause: error });
}
