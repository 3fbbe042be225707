import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { SourceError, type DatabaseConfig } from '@botbackup/core';
import { checkDatabase, type DatabaseCheckResult } from './check-database.js';
import { fileVersion, tidyWalSidecars, walSidecars, type WalSidecars } from './sqlite-sidecars.js';
import { WalRestartedError, type CopyResult } from './copy-database.js';
import type { CopyWorkerInput, CopyWorkerMessage } from './copy-worker.js';
import { pinAndCheck, type PinnedSnapshot } from './pinned-check.js';
import { runWorker } from '../support/index.js';

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
  /** xxh64 of every page (see {@link CopyResult.pageHashes}). */
  pageHashes: Uint8Array;
  /** sha256 of the snapshot, when {@link SnapshotOptions.sha256} asked for it. */
  sha256: string | undefined;
  /** Where the WAL stood at the snapshot, when a read mark pinned it (see PinnedSnapshot.walPosition). */
  wal: { salt: [number, number]; frame: number } | undefined;
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
  /** Compute the snapshot's sha256 while copying it (an incremental backup stores no whole copy to hash). */
  sha256?: boolean;
  /** With sha256: an HMAC-SHA256 under this key instead (an encrypted repository's content hashes). */
  hashKey?: Buffer | undefined;
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
  /** Path of the staging copy (complete once `copied` resolves). */
  file: string;
  /** Resolves once the staging copy is complete, with its page hashes and sha256 (when asked for). */
  copied: Promise<Pick<CopyResult, 'pageHashes' | 'sha256'>>;
  /**
   * Opens a stream of the snapshot's bytes, read from the staging copy as the copy writes it:
   * packing the archive need not wait for the copy (see {@link startSnapshot}).
   */
  openStream: () => Readable;
  /** Resolves once the copy is complete and passed `PRAGMA quick_check`; rejects otherwise. */
  done: Promise<DatabaseSnapshot>;
}

/**
 * Takes a consistent snapshot of a live SQLite database into `destFile`, with its page hashes
 * and a way to stream its bytes. `PRAGMA quick_check` runs in a worker thread while the caller
 * packs it; `done` says whether the copy completed and passed. A caller must not commit anything
 * made from the copy before `done` resolves.
 *
 * A WAL-mode snapshot pinned by the check's worker returns as soon as its size is known: the
 * pin keeps the copied bytes fixed, so the archive reads the staging copy right behind the copy
 * (`openStream`) instead of after it, and the two overlap (on 1 GiB the copy alone is 1.5-3 s of
 * cold reads). Otherwise (rollback journal, or a writer too busy to pin) it returns once the copy
 * is complete and the database released: a WAL restarted under that copy is only found at its
 * end, and the copy is then taken again.
 *
 * A read-only connection opens a read transaction and reads once, which pins the database: in
 * WAL mode the bot keeps committing (readers never block writers) but nothing it does can
 * change the bytes the copy reads (see {@link copyDatabase}); in rollback-journal mode the
 * SHARED lock keeps the bot from committing until the copy is done, so the caller is told once
 * (`onRollbackJournal`) to recommend WAL mode. The copy is plain file I/O in a worker thread:
 * nothing of it blocks the event loop, it never restarts when the bot commits (unlike
 * SQLite's stepwise backup API), and the staging file is not fsync-ed, so a backup adds no burst
 * of disk writes that the bot's own fsyncs would queue behind.
 */
export async function startSnapshot(db: DatabaseConfig, destFile: string, options: SnapshotOptions = {}): Promise<SnapshotHandle> {
  await assertSourceFile(db);
  // The -wal and -shm our read-only connections make where there were none are removed at the end.
  const sidecars = await walSidecars(db.path);
  const { source, journalMode, pageSize, sqliteVersion } = await openSource(db, sidecars);
  const wal = journalMode === 'wal';
  if (!wal) {
    options.onRollbackJournal?.(
      `Database "${db.name}" uses journal_mode=${journalMode}: the bot cannot commit while the snapshot is copied. Switch it to WAL (PRAGMA journal_mode=WAL) so backups never stall trading.`,
    );
  }
  let pinned: PinnedCopy;
  try {
    pinned = await copyWithRetries(db, source, destFile, { pageSize, wal, options });
  } finally {
    source?.close();
  }
  const { copying, pin, pinnedAt, pageCount } = pinned;
  // A closed database was copied without any lock: nothing of the bot waited on it.
  const readLockMs = pin ? undefined : source ? performance.now() - pinnedAt : 0;
  const check = checkCopy(db, destFile, pin, options.signal);
  const done = (async (): Promise<DatabaseSnapshot> => {
    let result: DatabaseCheckResult;
    let copied: CopyResult;
    try {
      // The pin is held until both the copy and the check are done with it.
      [copied, result] = await Promise.all([copying.result, check]);
    } finally {
      await settled(copying.result, check);
      await pin?.release();
      await tidyWalSidecars(db.path, sidecars);
    }
    if (!result.ok) {
      throw new SourceError(
        'DATABASE_CORRUPT',
        db.path,
        `Database "${db.name}" at ${db.path} fails PRAGMA quick_check (${result.messages.slice(0, 3).join('; ')}); nothing was stored. Restore it with "botbackup restore" or repair it first.`,
      );
    }
    return {
      file: destFile,
      journalMode,
      pageSize,
      pageCount,
      size: pageCount * pageSize,
      sqliteVersion,
      readLockMs: readLockMs ?? performance.now() - pinnedAt,
      pageHashes: copied.pageHashes,
      sha256: copied.sha256,
      wal: pin?.walPosition,
    };
  })();
  // The caller awaits `done` after packing; keep an early failure from counting as unhandled.
  done.catch(() => undefined);
  return {
    journalMode,
    pageSize,
    pageCount,
    size: pageCount * pageSize,
    sqliteVersion,
    file: destFile,
    copied: copying.result,
    openStream: () => followCopy(destFile, pageCount * pageSize, copying),
    done,
  };
}

/** Waits for every promise to settle, whatever they settle to. */
async function settled(...promises: Promise<unknown>[]): Promise<void> {
  await Promise.allSettled(promises);
}

/** Throws the SourceError a caller should see when `db.path` is missing, unreadable or not a regular file. */
export async function assertSourceFile(db: DatabaseConfig): Promise<void> {
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
}

/** What the snapshot needs to know of the source before it copies it; `source` is undefined for a {@link closedWalDatabase}. */
interface OpenedSource {
  source: Database.Database | undefined;
  journalMode: string;
  pageSize: number;
  sqliteVersion: string;
}

/**
 * Opens the source read-only and reads the facts the snapshot reports (journal mode, page size,
 * SQLite version). The caller owns the returned connection and closes it; a failure here closes
 * it and throws a SourceError. A WAL-mode database that SQLite cannot open because it is closed
 * on a read-only folder is read from its file instead (see {@link closedWalDatabase}).
 */
async function openSource(db: DatabaseConfig, sidecars: WalSidecars): Promise<OpenedSource> {
  let source: Database.Database | undefined;
  try {
    // A generous busy timeout: in rollback-journal mode the bot may hold its write lock briefly.
    source = new Database(db.path, { readonly: true, fileMustExist: true, timeout: 10_000 });
    const journalMode = String(source.pragma('journal_mode', { simple: true })).toLowerCase();
    const pageSize = Number(source.pragma('page_size', { simple: true }));
    const sqliteVersion = String(source.prepare('select sqlite_version()').pluck().get());
    return { source, journalMode, pageSize, sqliteVersion };
  } catch (error) {
    source?.close();
    const closed = (error as { code?: string }).code === 'SQLITE_CANTOPEN' && !sidecars.wal && !sidecars.shm ? await closedWalDatabase(db.path) : undefined;
    if (closed) return { source: undefined, journalMode: 'wal', pageSize: closed.pageSize, sqliteVersion: libraryVersion() };
    throw sqliteSourceError(db, error);
  }
}

/**
 * The page size of a WAL-mode database that was closed cleanly (no -wal, no -shm beside it), or
 * undefined when the file is not one. A read-only connection to such a database must create the
 * -shm, which a read-only folder forbids (a bot that stopped, seen through the worker's read-only
 * mount), and SQLite then refuses to open it (better-sqlite3 does not take the URI that would
 * say `immutable=1`). But a clean close checkpointed every frame into the file: the file alone is
 * the whole database, and it is copied as a file, guarded by {@link fileState} in case the bot
 * starts meanwhile. The header is SQLite's (fileformat.html, "The Database Header").
 */
async function closedWalDatabase(file: string): Promise<{ pageSize: number } | undefined> {
  const header = Buffer.alloc(100);
  const handle = await fs.open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const { bytesRead } = await handle.read(header, 0, 100, 0);
    // Write and read versions 2 mark WAL mode; the page size 1 stands for 65536.
    if (bytesRead < 100 || header.toString('latin1', 0, 16) !== 'SQLite format 3\0' || header[18] !== 2 || header[19] !== 2) return undefined;
    const size = header.readUInt16BE(16);
    return { pageSize: size === 1 ? 65536 : size };
  } finally {
    await handle.close();
  }
}

/** The SQLite library's version (what `sqlite_version()` gives on a connection to the source). */
function libraryVersion(): string {
  const memory = new Database(':memory:');
  try {
    return String(memory.prepare('select sqlite_version()').pluck().get());
  } finally {
    memory.close();
  }
}

/** A closed database's file as it is, and whether a -wal has appeared beside it (the bot started): compared before and after an unlocked copy. */
async function fileState(file: string): Promise<string> {
  return `${fileVersion(file)}:${(await walSidecars(file)).wal ? 'wal' : ''}`;
}

/** A copy under way (complete when there is no pin) and what pinned it: the WAL pin (held until quick_check is done), or none, and when it was pinned. */
interface PinnedCopy {
  copying: Copying;
  /** The snapshot's page count (the copy's size). */
  pageCount: number;
  /** The worker's pin of a WAL-mode snapshot; undefined when `source` pinned it for the copy alone. */
  pin: PinnedSnapshot | undefined;
  /** performance.now() when the snapshot was pinned. */
  pinnedAt: number;
}

/** A copy running in its worker: how far it has written, and its result. */
interface Copying {
  progress: CopyProgress;
  result: Promise<CopyResult>;
}

/** How many bytes of the staging copy are written, for a reader that follows it; wakes it as that moves. */
class CopyProgress {
  bytes = 0;
  failure: unknown = undefined;
  private waiters: (() => void)[] = [];

  advance(bytes: number): void {
    this.bytes = bytes;
    this.wake();
  }

  fail(error: unknown): void {
    this.failure = error;
    this.wake();
  }

  /** Resolves at the next advance or failure. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Bytes per read of a stream that follows the copy. */
const FOLLOW_CHUNK = 1 << 20;

/**
 * The first `size` bytes of the staging copy as the copy writes them: each read takes only what
 * the copy has reported written (its progress comes after each write completes), and waits for
 * more at the end of it. A failed copy fails the stream with the copy's error, also when the
 * failure removed the file before this read it.
 */
function followCopy(file: string, size: number, copying: Copying): Readable {
  const { progress } = copying;
  async function* follow(): AsyncGenerator<Buffer> {
    let handle: fs.FileHandle | undefined;
    try {
      for (let position = 0; position < size;) {
        while (progress.bytes <= position && progress.failure === undefined) await progress.changed();
        if (progress.failure !== undefined) throw progress.failure;
        handle ??= await fs.open(file, 'r');
        const buffer = Buffer.allocUnsafe(Math.min(FOLLOW_CHUNK, progress.bytes - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) throw new Error(`the staging copy ${file} ended at ${position} of ${size} bytes`);
        position += bytesRead;
        yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
    } catch (error) {
      // A failing copy removes its file: what the reader met is a consequence, the copy's error the cause.
      await settled(copying.result);
      throw progress.failure ?? error;
    } finally {
      await handle?.close();
    }
  }
  return Readable.from(follow(), { objectMode: false });
}

/**
 * Pins the snapshot and starts copying it into `destFile`, taking it again after a WAL restart
 * (up to {@link MAX_ATTEMPTS} times). A WAL-mode database is pinned in a worker that runs
 * quick_check on the pinned snapshot while the copy is made (see pinned-check.ts), and this
 * returns once the copy knows its size: the pin keeps the bytes it copies fixed. Otherwise
 * (rollback journal, or a writer so busy that the snapshot's frames cannot be fixed) `source`
 * pins it for the copy alone, in a transaction ended here, this returns once the copy is
 * complete, and quick_check runs on the copy afterwards. On failure the pin is released and
 * `destFile` removed. The caller closes `source`.
 */
async function copyWithRetries(
  db: DatabaseConfig,
  source: Database.Database | undefined,
  destFile: string,
  { pageSize, wal, options }: { pageSize: number; wal: boolean; options: SnapshotOptions },
): Promise<PinnedCopy> {
  for (let attempt = 1; ; attempt++) {
    let pin: PinnedSnapshot | undefined;
    try {
      pin = wal && source ? await pinAndCheck(db.path, options.signal) : undefined;
      if (!pin && source) {
        source.exec('BEGIN');
        // The first read takes the snapshot (a WAL read mark, or a SHARED lock).
        source.prepare('select count(*) from sqlite_schema').get();
      }
      // A closed database has no lock to hold: its copy counts only if nothing wrote the file meanwhile.
      const before = source ? undefined : await fileState(db.path);
      const pinnedAt = performance.now();
      if (attempt === 1) await options.onPinned?.();
      const copying = startCopy(db, destFile, {
        pageSize,
        wal,
        snapshot: pin && { maxFrame: pin.maxFrame, salt: pin.salt },
        sha256: options.sha256 ?? false,
        hashKey: options.hashKey,
        onProgress: options.onProgress,
        signal: options.signal,
      });
      let pageCount: number;
      try {
        pageCount = pin ? await copying.planned : (await copying.result).pageCount;
        if (before !== undefined && (await fileState(db.path)) !== before) {
          throw new WalRestartedError('the database file changed while it was copied (the bot started)');
        }
        if (pin && pin.pageCount >= 0 && pageCount !== pin.pageCount) {
          // Never expected: the copy is not the snapshot SQLite pinned. Take it again.
          throw new WalRestartedError(`the copy has ${pageCount} pages, the pinned snapshot ${pin.pageCount}`);
        }
      } catch (error) {
        copying.stop();
        await settled(copying.result);
        throw error;
      }
      return { copying, pageCount, pin, pinnedAt };
    } catch (error) {
      await pin?.release();
      await fs.rm(destFile, { force: true });
      // A WAL restart under the copy is rare (the WAL must have been fully checkpointed just
      // before the pin): take the snapshot again.
      if (error instanceof WalRestartedError && attempt < MAX_ATTEMPTS) continue;
      throw error instanceof SourceError ? error : copyError(db, error, options.signal);
    } finally {
      if (source?.inTransaction) source.exec('COMMIT');
    }
  }
}

/**
 * Starts `PRAGMA quick_check` of the snapshot: the pinned worker's check of the pinned snapshot
 * when there is a pin, else a check of the copy in its own worker thread.
 */
function checkCopy(db: DatabaseConfig, destFile: string, pin: PinnedSnapshot | undefined, signal: AbortSignal | undefined): Promise<DatabaseCheckResult> {
  return pin
    ? pin.checked.then(
        (messages) => ({ ok: messages.length === 1 && messages[0] === 'ok', messages }),
        (error: unknown) => {
          throw signal?.aborted ? signal.reason : sqliteSourceError(db, error);
        },
      )
    : checkDatabase(destFile, 'quick_check', signal);
}

/** Takes a complete, checked snapshot of a database into `destFile` (see {@link startSnapshot}). */
export async function snapshotDatabase(db: DatabaseConfig, destFile: string, options: SnapshotOptions = {}): Promise<DatabaseSnapshot> {
  const handle = await startSnapshot(db, destFile, options);
  return handle.done;
}

/**
 * Starts {@link copyDatabase} in its own worker thread, at disk speed: on the caller's thread it
 * would wait behind the event loop's other work, and beside the archive's compression the two
 * would starve each other of the same cores (measured on 1 GiB: 7.6 s instead of 1.5 s). The
 * caller holds the pin meanwhile. `planned` resolves with the page count before the first page
 * is written; `stop` ends the copy (its result then rejects).
 */
function startCopy(
  db: DatabaseConfig,
  destFile: string,
  options: {
    pageSize: number;
    wal: boolean;
    snapshot: { maxFrame: number; salt: [number, number] } | undefined;
    sha256: boolean;
    hashKey: Buffer | undefined;
    onProgress: SnapshotOptions['onProgress'];
    signal: AbortSignal | undefined;
  },
): Copying & { planned: Promise<number>; stop: () => void } {
  const describe = (error: unknown) => copyError(db, error, options.signal);
  const progress = new CopyProgress();
  const stopper = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stopper.signal]) : stopper.signal;
  let plan: (pages: number) => void = () => undefined;
  const planned = new Promise<number>((resolve) => (plan = resolve));
  let copied: CopyResult | undefined;
  const result = runWorker<CopyWorkerInput, CopyWorkerMessage>(
    new URL('./copy-worker.js', import.meta.url),
    {
      source: db.path,
      dest: destFile,
      pageSize: options.pageSize,
      wal: options.wal,
      snapshot: options.snapshot,
      sha256: options.sha256,
      hashKey: options.hashKey,
    },
    (message) => {
      switch (message.type) {
        case 'planned':
          plan(message.pages);
          return false;
        case 'progress':
          progress.advance(message.done * options.pageSize);
          options.onProgress?.(message.done, message.total);
          return false;
        case 'done':
          copied = message.result;
          return true;
        case 'error':
          throw message.walRestarted ? new WalRestartedError(message.message) : new Error(message.message);
      }
    },
    signal,
  ).then(
    () => copied!,
    (error: unknown) => {
      // What a reader of the copy and the backup's caller see: the source's error, not the worker's.
      const failure = describe(error);
      progress.fail(failure);
      throw failure;
    },
  );
  result.catch(() => undefined);
  // A copy that fails before it is planned fails `planned` too.
  return { progress, result, planned: Promise.race([planned, result.then((r) => r.pageCount)]), stop: () => stopper.abort(new Error('stopped')) };
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
