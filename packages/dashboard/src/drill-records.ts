import type { Redis } from 'ioredis';
import { drillKeys, type CheckResult, type DrillRecord } from '@botbackup/core';

/** The newest drill of each source that has one, by source id. */
export type LastDrills = Record<string, DrillRecord>;

/**
 * Reads the newest drill record of each source (`drillKeys.last`) from Redis, one GET per
 * source. A source without a record, or whose record cannot be parsed, is left out.
 */
export async function readLastDrills(redis: Redis, prefix: string, sourceIds: readonly string[]): Promise<LastDrills> {
  const texts = await Promise.all(sourceIds.map((id) => redis.get(drillKeys.last(prefix, id))));
  const out: LastDrills = {};
  sourceIds.forEach((id, i) => {
    const record = texts[i] == null ? undefined : parseDrillRecord(texts[i]!);
    if (record) out[id] = record;
  });
  return out;
}

/**
 * A DrillRecord from its JSON as Redis holds it, keeping only the known fields (pure); undefined
 * when it is not one (another version's or a damaged record is ignored rather than shown wrong).
 * The CLI's `status` has the same reader (packages/cli/src/inspect.ts): it does not load this package.
 */
export function parseDrillRecord(text: string): DrillRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const str = (v: unknown): v is string => typeof v === 'string';
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!str(r.sourceId) || !str(r.backupId) || !str(r.store) || !str(r.at) || Number.isNaN(Date.parse(r.at))) return undefined;
  if (typeof r.ok !== 'boolean' || !num(r.restoreMs) || !num(r.dataAgeMs)) return undefined;
  const checks: CheckResult[] = Array.isArray(r.checks)
    ? r.checks.flatMap((c: unknown) => {
        const check = c as Partial<CheckResult> | null;
        return check && str(check.name) && typeof check.ok === 'boolean'
          ? [{ name: check.name, ok: check.ok, detail: str(check.detail) ? check.detail : '' }]
          : [];
      })
    : [];
  const record: DrillRecord = {
    sourceId: r.sourceId,
    backupId: r.backupId,
    store: r.store,
    at: r.at,
    ok: r.ok,
    restoreMs: r.restoreMs,
    dataAgeMs: r.dataAgeMs,
    read: Array.isArray(r.read) ? r.read.filter(str) : [],
    checks,
  };
  if (str(r.error)) record.error = r.error;
  if (str(r.code)) record.code = r.code;
  return record;
}
