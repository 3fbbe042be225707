import fs from 'node:fs/promises';
import path from 'node:path';
import {
  BackupNotFoundError,
  DrillFailedError,
  IntegrityError,
  KeyError,
  UsageError,
  backupIdTime,
  planDrill,
  type CheckConfig,
  type CheckResult,
  type Config,
  type DrillCopy,
  type DrillRecord,
  type Manifest,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Catalog } from '../repository/index.js';
import { runChecks } from '../sqlite/index.js';
import type { Keyring } from '../crypto/index.js';
import { silentLogger, type Logger } from '../support/index.js';
import type { ProgressListener } from '../support/index.js';
import { listBackupIds, readManifest, resolveBackupInStores } from '../repository/index.js';
import { restoreBackup, type RestoreResult } from './restore.js';
import type { WalReplay } from './restore/wal-replay.js';
import { planRestoreAt } from './point-in-time.js';
import { isTargetFailure } from '../repository/index.js';
import { makeOwnedTempDir } from '../repository/index.js';

/** Where drill records are kept: Redis for workers (see the worker package), the local catalog for the CLI. */
export interface DrillHistory {
  /** Every stored record of the source's drills (a record may appear more than once). */
  list(sourceId: string): Promise<DrillRecord[]>;
  /** Stores a finished drill: it marks every backup it read in its store, and is the source's newest. */
  record(record: DrillRecord): Promise<void>;
}

export interface DrillOptions {
  config: Config;
  sourceId: string;
  /** Every store the drill may read from (a store that cannot be listed is passed over). */
  stores: readonly BackupStore[];
  /** Opens encrypted backups and checks signatures; without an identity, an encrypted backup fails the drill (KeyError). */
  keyring?: Keyring | undefined;
  history: DrillHistory;
  /** Drill this backup (id, unique prefix or `latest`) instead of the one the rotation picks. */
  backup?: string | undefined;
  /** Drill only this store's copy. */
  store?: string | undefined;
  now?: (() => Date) | undefined;
  /** Where the scratch folder goes (default: config.tmpDir, else botbackup's own, see {@link defaultTmpDir}). */
  tmpDir?: string | undefined;
  logger?: Logger | undefined;
  onProgress?: ProgressListener | undefined;
  signal?: AbortSignal | undefined;
}

/** A failed check's code in a DrillRecord. */
export const CHECK_FAILED = 'CHECK_FAILED';

/**
 * Runs one restore drill: picks a copy (the given backup, else the copy the rotation read longest
 * ago, see planDrill), restores it into a scratch folder (every checksum and signature checked,
 * integrity_check on every database), runs the source's check queries on the restored databases
 * with `:asOfMs` the backup's start, removes the scratch folder, records the result in `history`
 * and returns it. A bad copy (integrity, key, missing object, failed check) is a failed record,
 * not a throw; an unreachable store, an abort or a bug throws and records nothing.
 */
export async function runDrill(options: DrillOptions): Promise<DrillRecord> {
  const { config, sourceId, signal } = options;
  const now = options.now ?? (() => new Date());
  const logger = (options.logger ?? silentLogger).child({ drill: sourceId });
  let stores = options.stores;
  if (options.store !== undefined) {
    const named = stores.find((s) => s.name === options.store);
    if (!named) throw new UsageError(`There is no storage target "${options.store}"; the targets are ${stores.map((s) => s.name).join(', ')}.`);
    stores = [named];
  }
  const copy = await pickCopy(options, stores, now());
  const store = stores.find((s) => s.name === copy.store)!;
  const checks = config.sources.find((s) => s.id === sourceId)?.checks ?? [];
  logger.info({ backupId: copy.backupId, store: copy.store }, 'drill started');

  const scratch = await makeOwnedTempDir(options.tmpDir ?? config.tmpDir);
  const started = performance.now();
  let manifest: Manifest | undefined;
  let read = [copy.backupId];
  let results: CheckResult[] = [];
  let failure: { error: string; code: string } | undefined;
  let wal: DrillRecord['wal'];
  try {
    manifest = await readManifest(store, sourceId, copy.backupId, signal);
    const restored = await restoreBackup({
      walReplay: await shippedAfter(options, store, copy.backupId),
      stores: [store],
      manifest,
      target: scratch,
      integrityCheck: true,
      keyring: options.keyring,
      logger,
      onProgress: options.onProgress,
      signal,
    });
    read = restored.chain;
    wal = walApplied(restored);
    results = await checkRestored(scratch, manifest, checks, signal);
    const failed = results.find((r) => !r.ok);
    if (failed) {
      failure = {
        code: CHECK_FAILED,
        error: `Check "${failed.name}" failed on backup ${manifest.id} restored from "${store.name}": ${failed.detail.replace(/\.$/, '')}.`,
      };
    }
  } catch (error) {
    if (signal?.aborted || !(error instanceof IntegrityError || error instanceof KeyError || error instanceof BackupNotFoundError)) throw error;
    failure = { code: error.code, error: error.message };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  const restoreMs = Math.round(performance.now() - started);
  const at = now();
  const startedAt = manifest ? Date.parse(manifest.startedAt) : backupIdTime(copy.backupId).getTime();
  const record: DrillRecord = {
    sourceId,
    backupId: copy.backupId,
    store: copy.store,
    at: at.toISOString(),
    ok: failure === undefined,
    restoreMs,
    // With the WAL applied, the data is as old as its last commit, not as the backup.
    dataAgeMs: Math.max(0, at.getTime() - (wal ? Date.parse(wal.lastCommitAt) : startedAt)),
    read,
    checks: results,
    ...(wal ? { wal } : {}),
    ...failure,
  };
  if (record.ok) logger.info({ backupId: record.backupId, store: record.store, restoreMs, checks: results.length }, 'drill passed');
  else logger.warn({ backupId: record.backupId, store: record.store, code: record.code, err: record.error }, 'drill failed');
  await options.history.record(record);
  return record;
}

/** A continuous source is drilled as it would be recovered: with the WAL shipped after the backup, when it is linked to a generation. */
async function shippedAfter(options: DrillOptions, store: BackupStore, backupId: string): Promise<WalReplay | undefined> {
  const continuous = options.config.sources.find((s) => s.id === options.sourceId)?.continuous !== undefined;
  if (!continuous || !options.keyring) return undefined;
  const planned = await planRestoreAt({
    stores: [store],
    sourceId: options.sourceId,
    at: undefined,
    keyring: options.keyring,
    signal: options.signal,
    only: backupId,
  });
  return planned.replay;
}

/** What a restore applied of the shipped WAL, as a drill records it; undefined when it applied no commit. */
function walApplied(restored: RestoreResult): DrillRecord['wal'] {
  const applied = restored.wal?.databases.filter((d) => d.commits > 0) ?? [];
  if (applied.length === 0) return undefined;
  return {
    segments: applied.reduce((n, d) => n + d.segments, 0),
    commits: applied.reduce((n, d) => n + d.commits, 0),
    lastCommitAt: new Date(Math.max(...applied.map((d) => d.lastCommitAt!))).toISOString(),
  };
}

/** The error a failed drill ends a command or a job with (its exit code: DrillFailedError). */
export function drillError(record: DrillRecord): DrillFailedError {
  return new DrillFailedError(
    record.code ?? 'DRILL_FAILED',
    record.backupId,
    `Drill of backup ${record.backupId} from "${record.store}" failed: ${record.error ?? 'unknown reason'}`,
  );
}

/** A history in the local catalog (the CLI's drills, which run without Redis). */
export function catalogDrillHistory(catalog: Catalog): DrillHistory {
  return {
    list: async (sourceId) => catalog.drills(sourceId),
    record: async (record) => catalog.recordDrill(record),
  };
}

/** The copy to drill: the given backup (in the store whose copy was read longest ago), else the rotation's next. */
async function pickCopy(options: DrillOptions, stores: readonly BackupStore[], now: Date): Promise<DrillCopy> {
  const { sourceId, signal } = options;
  let wanted: string | undefined;
  if (options.backup !== undefined) wanted = (await resolveBackupInStores(stores, options.backup, sourceId, signal)).manifest.id;
  const copies: DrillCopy[] = [];
  let firstError: unknown;
  let listed = 0;
  for (const store of stores) {
    try {
      for (const id of await listBackupIds(store, sourceId, signal)) {
        if (wanted === undefined || id.backupId === wanted) copies.push({ backupId: id.backupId, store: store.name });
      }
      listed++;
    } catch (error) {
      if (!isTargetFailure(error)) throw error;
      firstError ??= error;
      (options.logger ?? silentLogger).warn({ store: store.name, err: error.message }, 'storage target cannot be listed; the drill passes it over');
    }
  }
  if (listed === 0 && firstError !== undefined) throw firstError;
  const history = await options.history.list(sourceId);
  const { next } = planDrill({ copies, history, now, periodMs: options.config.drillPeriodMs });
  if (!next) {
    const where = stores.length === 1 ? `storage "${stores[0]!.name}"` : 'any storage target';
    throw new BackupNotFoundError(`There is no backup of source "${sourceId}" in ${where} to drill; run "botbackup backup" first.`);
  }
  return next;
}

/** Runs each check on the restored database it names; a database the backup does not hold fails its checks. */
async function checkRestored(dir: string, manifest: Manifest, checks: readonly CheckConfig[], signal: AbortSignal | undefined): Promise<CheckResult[]> {
  const results = new Map<CheckConfig, CheckResult>();
  const byDatabase = new Map<string, CheckConfig[]>();
  for (const check of checks) byDatabase.set(check.database, [...(byDatabase.get(check.database) ?? []), check]);
  for (const [name, group] of byDatabase) {
    const db = manifest.databases.find((d) => d.name === name);
    if (!db) {
      for (const check of group) results.set(check, { name: check.name, ok: false, detail: `backup ${manifest.id} holds no database "${name}"` });
      continue;
    }
    const out = await runChecks(path.join(dir, db.path), group, new Date(manifest.startedAt), signal);
    group.forEach((check, i) => results.set(check, out[i] ?? { name: check.name, ok: false, detail: 'the check did not run' }));
  }
  return checks.map((c) => results.get(c)!);
}
