// Runs PRAGMA quick_check / integrity_check, or a source's check queries, in a worker thread: on
// a 1 GiB database they take seconds of synchronous SQLite work, which must not stall the event
// loop (BullMQ lock renewals, progress output) of the process that called them.
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

type Request =
  | { file: string; pragma: 'quick_check' | 'integrity_check'; readonly?: boolean; thread?: boolean }
  | { file: string; queries: { name: string; query: string }[]; asOfMs: number; readonly?: boolean };

const request = workerData as Request;
// This thread's name in /proc (`<pid>/task/<tid>`), for the caller to follow its reads
// (check-database.ts, CheckProgressProbe); Linux only, nothing elsewhere.
if ('pragma' in request && request.thread) {
  try {
    parentPort!.postMessage({ thread: readlinkSync('/proc/thread-self') });
  } catch {
    // no /proc: no progress until the end
  }
}
// The answer is posted only once the connection is closed: the caller may then remove the -wal
// and -shm it made (see sqlite-sidecars.ts), which SQLite does only when no connection is open.
let reply: unknown;
try {
  const db = new Database(request.file, { fileMustExist: true, readonly: request.readonly ?? false });
  try {
    if ('pragma' in request) {
      const rows = db.pragma(request.pragma) as Record<string, string>[];
      reply = { ok: true, messages: rows.map((row) => String(Object.values(row)[0])) };
    } else {
      // Checks only read: a query that tries to write fails instead of changing the database.
      db.pragma('query_only = 1');
      const results = request.queries.map(({ name, query }) => {
        try {
          const row = db.prepare(query).raw().get({ asOfMs: request.asOfMs }) as unknown[] | undefined;
          const value = row?.[0];
          const ok = value !== undefined && value !== null && value !== 0 && value !== 0n && value !== '' && value !== '0';
          const shown = value === undefined ? 'no row' : String(value).slice(0, 80);
          return { name, ok, detail: ok ? `returned ${shown}` : `returned ${shown}, not a true value` };
        } catch (error) {
          return { name, ok: false, detail: `failed: ${(error as Error).message}` };
        }
      });
      reply = { ok: true, results };
    }
  } finally {
    db.close();
  }
} catch (error) {
  reply = { ok: false, error: (error as Error).message };
}
parentPort!.postMessage(reply);
