// Runs PRAGMA quick_check / integrity_check in a worker thread: on a 1 GiB database they take
// seconds of synchronous SQLite work, which must not stall the event loop (BullMQ lock renewals,
// progress output) of the process that called them.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, pragma } = workerData as { file: string; pragma: 'quick_check' | 'integrity_check' };
try {
  const db = new Database(file, { fileMustExist: true });
  try {
    const rows = db.pragma(pragma) as Record<string, string>[];
    parentPort!.postMessage({ ok: true, messages: rows.map((row) => String(Object.values(row)[0])) });
  } finally {
    db.close();
  }
} catch (error) {
  parentPort!.postMessage({ ok: false, error: (error as Error).message });
}
