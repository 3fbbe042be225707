import fs from 'node:fs/promises';
import { SourceError, type DatabaseConfig } from '@botbackup/core';
import { checkDatabase } from './check-database.js';
import type { SnapshotWorkerInput, SnapshotWorkerMessage } from './snapshot-worker.js';
import { runWorker } from './run-worker.js';

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
   * copied; the copy waits for the returned promise. Lets a caller log or observe the moment
   * the snapshot is taken (tests use it to show that the bot commits meanwhile).
   */
  onPinned?: () => Promise<void>;
  signal?: AbortSignal;
}

/**
 * Pages per backup step in WAL mode: 32768 pages (128 MiB at 4 KiB pages). Each step is one
 * destination commit with an fsync, so large steps copy fast; they run in a worker thread, so
 * their length never blocks the caller's event loop, and the bot's writers are not blocked in
 * WAL mode at all. The step size only sets how often progress is reported.
 */
const WAL_STEP_PAGES = 32_768;

/**
 * Copies a live SQLite database into `destFile` as one consistent snapshot, then checks the copy
 * with `PRAGMA quick_check`; a copy that fails is deleted and the call throws.
 *
 * The copy uses SQLite's online backup API from a connection that first opens a read
 * transaction and holds it for the whole copy. While the source connection has a transaction
 * open, `sqlite3_backup_step` uses it instead of starting one per step, so the pages come from a
 * single snapshot and the backup never restarts when the bot commits (the default stepwise
 * backup restarts on every write and can run forever on a busy bot). All SQLite work runs in
 * worker threads (`snapshot-worker.ts`, then `checkDatabase`), so the caller's event loop is free.
 *
 * - WAL mode: the read transaction does not block the bot's writers; they keep appending to the
 *   WAL, which cannot be checkpointed past our snapshot until we finish.
 * - Rollback-journal mode: the read transaction holds a SHARED lock, and the bot cannot commit
 *   until it is released. The copy is made in one step to keep that short, and the caller is
 *   told once (`onRollbackJournal`) so it can recommend WAL mode.
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

  let opened: Extract<SnapshotWorkerMessage, { type: 'opened' }> | undefined;
  let readLockMs = 0;
  try {
    await runWorker<SnapshotWorkerInput, SnapshotWorkerMessage>(
      new URL('./snapshot-worker.js', import.meta.url),
      { source: db.path, dest: destFile, walStepPages: WAL_STEP_PAGES, pauseAfterPin: options.onPinned !== undefined },
      (message, worker) => {
        switch (message.type) {
          case 'opened':
            opened = message;
            if (options.onPinned) {
              options.onPinned().then(
                () => worker.postMessage('continue'),
                () => void worker.terminate(),
              );
            }
            if (message.journalMode !== 'wal') {
              options.onRollbackJournal?.(
                `Database "${db.name}" uses journal_mode=${message.journalMode}: the bot cannot commit while the snapshot is copied. Switch it to WAL (PRAGMA journal_mode=WAL) so backups never stall trading.`,
              );
            }
            return false;
          case 'progress':
            options.onProgress?.(message.done, message.total);
            return false;
          case 'copied':
            readLockMs = message.readLockMs;
            return true;
          case 'error':
            throw sqliteSourceError(db, Object.assign(new Error(message.message), { code: message.code }));
        }
      },
      options.signal,
    );
  } catch (error) {
    await fs.rm(destFile, { force: true });
    throw error;
  }
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
  const info = opened!;
  return {
    file: destFile,
    journalMode: info.journalMode,
    pageSize: info.pageSize,
    pageCount: copied.size / info.pageSize,
    size: copied.size,
    sqliteVersion: info.sqliteVersion,
    readLockMs,
  };
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
