// Worker thread that takes a database snapshot with SQLite's online backup API. It runs here,
// not on the caller's event loop, because each backup step is synchronous C code: steps large
// enough to copy fast (the destination commits and fsyncs once per step) would otherwise stall
// the loop for hundreds of milliseconds (measured: 608 ms on 1 GiB with 8 MiB steps).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface SnapshotWorkerInput {
  source: string;
  dest: string;
  /** Pages per backup step in WAL mode (progress granularity; one destination commit each). */
  walStepPages: number;
  /** Wait for a 'continue' message after the snapshot is pinned, before copying (see SnapshotOptions.onPinned). */
  pauseAfterPin: boolean;
}

export type SnapshotWorkerMessage =
  | { type: 'opened'; journalMode: string; pageSize: number; pageCount: number; sqliteVersion: string }
  | { type: 'progress'; done: number; total: number }
  | { type: 'copied'; readLockMs: number }
  | { type: 'error'; code: string; message: string };

const { source, dest, walStepPages, pauseAfterPin } = workerData as SnapshotWorkerInput;
const post = (message: SnapshotWorkerMessage) => parentPort!.postMessage(message);

async function run(): Promise<number> {
  // A generous busy timeout: in rollback-journal mode the bot may hold its write lock briefly.
  const db = new Database(source, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    const journalMode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    const sqliteVersion = String(db.prepare('select sqlite_version()').pluck().get());
    // Open a read transaction and read once: this pins the snapshot (a WAL read mark, or a
    // SHARED lock in rollback-journal mode). sqlite3_backup_step uses the source connection's
    // open transaction instead of starting one per step, so every step copies from this one
    // snapshot and the backup never restarts when the bot commits.
    db.exec('BEGIN');
    db.prepare('select count(*) from sqlite_schema').get();
    const started = performance.now();
    const pageCount = Number(db.pragma('page_count', { simple: true }));
    post({ type: 'opened', journalMode, pageSize, pageCount, sqliteVersion });
    if (pauseAfterPin) await new Promise((resolve) => parentPort!.once('message', resolve));
    // Rollback-journal mode: our SHARED lock stops the bot's commits, so copy in one step.
    const step = journalMode === 'wal' ? walStepPages : 0x7fffffff;
    await db.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        post({ type: 'progress', done: totalPages - remainingPages, total: totalPages });
        return step;
      },
    });
    db.exec('COMMIT');
    return performance.now() - started;
  } finally {
    db.close();
  }
}

run().then(
  (readLockMs) => post({ type: 'copied', readLockMs }),
  (error: unknown) => {
    post({ type: 'error', code: String((error as { code?: unknown }).code ?? ''), message: (error as Error).message });
  },
);
