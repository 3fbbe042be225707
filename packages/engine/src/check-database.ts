import { Worker } from 'node:worker_threads';

export interface DatabaseCheckResult {
  /** True when SQLite answered exactly "ok". */
  ok: boolean;
  /** SQLite's messages ("ok", or the problems it found), or the error that stopped the check. */
  messages: string[];
}

/**
 * Runs `PRAGMA quick_check` or `integrity_check` on a database file in a worker thread, so the
 * caller's event loop keeps running. Never throws for a damaged database: it reports it.
 */
export function checkDatabase(file: string, pragma: 'quick_check' | 'integrity_check'): Promise<DatabaseCheckResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./integrity-worker.js', import.meta.url), { workerData: { file, pragma } });
    let settled = false;
    worker.once('message', (msg: { ok: true; messages: string[] } | { ok: false; error: string }) => {
      settled = true;
      if (msg.ok) resolve({ ok: msg.messages.length === 1 && msg.messages[0] === 'ok', messages: msg.messages });
      else resolve({ ok: false, messages: [msg.error] });
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`database check worker exited with code ${code}`));
    });
  });
}
