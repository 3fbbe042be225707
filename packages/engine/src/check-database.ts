import { runWorker } from './run-worker.js';

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
export async function checkDatabase(file: string, pragma: 'quick_check' | 'integrity_check', signal?: AbortSignal): Promise<DatabaseCheckResult> {
  let result: DatabaseCheckResult | undefined;
  await runWorker<{ file: string; pragma: string }, { ok: true; messages: string[] } | { ok: false; error: string }>(
    new URL('./integrity-worker.js', import.meta.url),
    { file, pragma },
    (msg) => {
      result = msg.ok ? { ok: msg.messages.length === 1 && msg.messages[0] === 'ok', messages: msg.messages } : { ok: false, messages: [msg.error] };
      return true;
    },
    signal,
  );
  return result!;
}
