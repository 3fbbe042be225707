// Pins a WAL-mode database and checks it, in a worker thread: opens a read transaction, tells
// the parent which WAL frames that snapshot holds (so the copy takes exactly those), runs
// PRAGMA quick_check inside the same transaction while the parent copies, and releases the
// snapshot only when the parent says so. See pinned-check.ts.
import { openSync, closeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { readWalIndex, type WalIndexHeader } from './sqlite-wal.js';

export interface PinWorkerInput {
  file: string;
}

export type PinWorkerMessage =
  | { type: 'pinned'; maxFrame: number; salt: [number, number]; walFrame: number; pageCount: number }
  /** The WAL-index kept changing while the read transaction began: the parent copies without it. */
  | { type: 'unpinnable' }
  | { type: 'checked'; messages: string[] }
  | { type: 'error'; message: string; code: string | undefined };

/** Tries to begin a read transaction with no commit in between; more than a few misses means a very busy writer. */
const ATTEMPTS = 100;

const { file } = workerData as PinWorkerInput;
const post = (message: PinWorkerMessage) => parentPort!.postMessage(message);

let db: Database.Database | undefined;
let shm: number | undefined;
try {
  db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  // The connection opened the WAL-index; read its header before and after the read transaction
  // begins. If it did not change, no commit came in between, so the snapshot holds exactly the
  // header's mxFrame frames.
  // Kept open until the connection is closed: closing any descriptor of a file drops every POSIX
  // lock this process holds on it, the snapshot's read lock on the -shm file included.
  try {
    shm = openSync(`${file}-shm`, 'r');
  } catch {
    // No readable WAL-index (an unusual setup): the parent pins and checks the copy instead.
  }
  let pinned: WalIndexHeader | undefined;
  for (let attempt = 0; attempt < ATTEMPTS && !pinned && shm !== undefined; attempt++) {
    const before = readWalIndex(shm);
    db.exec('BEGIN');
    db.prepare('select count(*) from sqlite_schema').get();
    const after = readWalIndex(shm);
    if (before && after && before.raw.equals(after.raw)) pinned = after;
    else db.exec('COMMIT');
  }
  if (!pinned) {
    post({ type: 'unpinnable' });
  } else {
    // When checkpoints had copied every frame of the snapshot into the database file, the reader
    // may read the file alone (read-lock 0), and the WAL may be restarted under it: the snapshot
    // is then the database file, which no checkpoint can change while the snapshot is held.
    const maxFrame = pinned.backfilled >= pinned.maxFrame ? 0 : pinned.maxFrame;
    // SQLite's own page count of the snapshot: the copy must have exactly as many pages. A
    // damaged database may fail to say (-1); quick_check then reports what is wrong.
    let pageCount = -1;
    try {
      pageCount = Number(db.pragma('page_count', { simple: true }));
    } catch {
      // reported by quick_check below
    }
    // walFrame: where the WAL stood, also when every frame was backfilled (the snapshot is then
    // the file alone, and equal to those frames applied): continuous shipping links a backup to
    // its segments by it.
    post({ type: 'pinned', maxFrame, salt: pinned.salt, walFrame: pinned.maxFrame, pageCount });
    let messages: string[];
    try {
      // Plain reads, not mmap: a mapping of the database counts in the process's RSS (1.2 GiB
      // for a 1 GiB database, what `docker stats` and a container's memory limit see). The copy
      // reads the same file sequentially at the same time, so the check's reads mostly find
      // the pages in the page cache already.
      messages = (db.pragma('quick_check') as Record<string, string>[]).map((row) => String(Object.values(row)[0]));
    } catch (error) {
      // Damage bad enough that SQLite stops the check with an error ("database disk image is malformed").
      messages = [(error as Error).message];
    }
    post({ type: 'checked', messages });
    // Hold the snapshot until the parent's copy is done.
    await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
  }
} catch (error) {
  post({ type: 'error', message: (error as Error).message, code: (error as { code?: string }).code });
} finally {
  if (db?.inTransaction) db.exec('COMMIT');
  db?.close();
  if (shm !== undefined) closeSync(shm);
  parentPort!.close();
}
