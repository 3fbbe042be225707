import { readFileSync, statSync } from 'node:fs';
import type { CheckConfig, CheckResult } from '@botbackup/core';
import { runWorker } from '../support/index.js';

export interface DatabaseCheckResult {
  /** True when SQLite answered exactly "ok". */
  ok: boolean;
  /** SQLite's messages ("ok", or the problems it found), or the error that stopped the check. */
  messages: string[];
}

/**
 * Runs `PRAGMA quick_check` or `integrity_check` on a database file in a worker thread, so the
 * caller's event loop keeps running. Never throws for a damaged database: it reports it.
 *
 * `onProgress` gets an estimate of the bytes of the database checked so far, out of its size,
 * about ten times a second (see {@link CheckProgressProbe}), and `(size, size)` at the end.
 */
export async function checkDatabase(
  file: string,
  pragma: 'quick_check' | 'integrity_check',
  signal?: AbortSignal,
  options: { readonly?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<DatabaseCheckResult> {
  let result: DatabaseCheckResult | undefined;
  const { onProgress } = options;
  const probe = onProgress && new CheckProgressProbe(fileSize(file), onProgress);
  try {
    await runWorker<
      { file: string; pragma: string; readonly: boolean; thread: boolean },
      { thread: string } | { ok: true; messages: string[] } | { ok: false; error: string }
    >(
      new URL('./integrity-worker.js', import.meta.url),
      { file, pragma, readonly: options.readonly ?? false, thread: probe !== undefined },
      (msg) => {
        if ('thread' in msg) {
          probe?.watch(msg.thread);
          return false;
        }
        result = msg.ok ? { ok: msg.messages.length === 1 && msg.messages[0] === 'ok', messages: msg.messages } : { ok: false, messages: [msg.error] };
        return true;
      },
      signal,
    );
  } finally {
    probe?.stop();
  }
  if (probe) onProgress!(probe.total, probe.total);
  return result!;
}

/**
 * Follows a check from the bytes its thread has read. SQLite has a progress callback, but
 * better-sqlite3 does not expose it, and one `PRAGMA integrity_check` call has no other sign of
 * life. Linux counts the bytes each thread asks the kernel for (`rchar` in
 * /proc/<pid>/task/<tid>/io, page-cache hits included), and integrity_check reads every page
 * about twice: once walking each b-tree's structure, once scanning each table and index against
 * the others (measured at 1.99-2.02 times the file size, from one table with one index to one
 * with four and a WITHOUT ROWID table). Half the bytes read is therefore the part of the file
 * checked. The check itself is unchanged (the same single pragma, with its whole-file page
 * accounting) and costs nothing more than reading a small /proc file ten times a second. The
 * estimate stops one byte short of the total until the check is done; where /proc is not
 * there, nothing is reported until the end.
 */
class CheckProgressProbe {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly total: number,
    private readonly onProgress: (done: number, total: number) => void,
  ) {}

  /** Starts polling the worker's thread, named as /proc/thread-self resolves in it (`<pid>/task/<tid>`). */
  watch(thread: string): void {
    if (!/^\d+\/task\/\d+$/.test(thread) || this.timer) return;
    const ioFile = `/proc/${thread}/io`;
    this.onProgress(0, this.total);
    this.timer = setInterval(() => {
      let read: number;
      try {
        read = Number(/^rchar: (\d+)$/m.exec(readFileSync(ioFile, 'utf8'))?.[1] ?? 0);
      } catch {
        return this.stop(); // the thread has ended
      }
      this.onProgress(Math.min(Math.floor(read / 2), Math.max(this.total - 1, 0)), this.total);
    }, 100).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * Runs a source's check queries on a database file in a worker thread, read-only (`query_only`):
 * each passes when the first value of its first row is true (not null, 0, '' or '0'). `:asOfMs`
 * (also `@asOfMs`, `$asOfMs`) is bound to `asOf` in milliseconds. Never throws for a failing or
 * broken query: it reports it; a database that cannot be opened fails every check.
 */
export async function runChecks(
  file: string,
  checks: readonly Pick<CheckConfig, 'name' | 'query'>[],
  asOf: Date,
  signal?: AbortSignal,
  options: { readonly?: boolean } = {},
): Promise<CheckResult[]> {
  if (checks.length === 0) return [];
  let results: CheckResult[] = [];
  await runWorker<
    { file: string; queries: { name: string; query: string }[]; asOfMs: number; readonly: boolean },
    { ok: true; results: CheckResult[] } | { ok: false; error: string }
  >(
    new URL('./integrity-worker.js', import.meta.url),
    { file, queries: checks.map((c) => ({ name: c.name, query: c.query })), asOfMs: asOf.getTime(), readonly: options.readonly ?? false },
    (msg) => {
      results = msg.ok ? msg.results : checks.map((c) => ({ name: c.name, ok: false, detail: `the database cannot be opened: ${msg.error}` }));
      return true;
    },
    signal,
  );
  return results;
}
