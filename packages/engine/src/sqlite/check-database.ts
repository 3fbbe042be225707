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
 */
export async function checkDatabase(
  file: string,
  pragma: 'quick_check' | 'integrity_check',
  signal?: AbortSignal,
  options: { readonly?: boolean } = {},
): Promise<DatabaseCheckResult> {
  let result: DatabaseCheckResult | undefined;
  await runWorker<{ file: string; pragma: string; readonly: boolean }, { ok: true; messages: string[] } | { ok: false; error: string }>(
    new URL('./integrity-worker.js', import.meta.url),
    { file, pragma, readonly: options.readonly ?? false },
    (msg) => {
      result = msg.ok ? { ok: msg.messages.length === 1 && msg.messages[0] === 'ok', messages: msg.messages } : { ok: false, messages: [msg.error] };
      return true;
    },
    signal,
  );
  return result!;
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
