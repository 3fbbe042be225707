import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  BackupNotFoundError,
  BotbackupError,
  ExitCode,
  IntegrityError,
  KeyError,
  RestoreRefusedError,
  type CheckResult,
  type Config,
  type Manifest,
  type ManifestFile,
  type SourceConfig,
} from '@botbackup/core';
import { formatProcessTag, syncDir, type BackupStore } from '@botbackup/storage';
import { selectSource } from './backup.js';
import { checkDatabase, runChecks } from '../sqlite/index.js';
import { Keyring } from '../crypto/index.js';
import { silentLogger, type Logger } from '../support/index.js';
import type { ProgressListener } from '../support/index.js';
import { listBackupIds, loadFiles, readManifest } from '../repository/index.js';
import { restoreBackup, type RestoreResult } from './restore.js';
import { planRestoreAt } from './point-in-time.js';
import type { WalReplay } from './restore/wal-replay.js';
import { tidyWalSidecars, walSidecars } from '../sqlite/index.js';
import { finishJournal, finishPendingRestore, matchOwner, stagingName, writeJournal, type JournalEntry, type RestoreJournal } from './restore-journal.js';
import { isTargetFailure } from '../repository/index.js';

export interface RecoverOptions {
  config: Config;
  sourceId?: string | undefined;
  /** Where backups are read from, in order (a bad copy falls back to the next store). */
  stores: readonly BackupStore[];
  keyring?: Keyring | undefined;
  /** Recover even though another process has the database open. */
  force?: boolean;
  /** No database and no backup at all is a new bot, not a failure. */
  allowNew?: boolean;
  logger?: Logger;
  onProgress?: ProgressListener;
  now?: () => Date;
  signal?: AbortSignal;
}

/** What recover found for one database, and what it did. */
export interface DatabaseRecovery {
  path: string;
  state: 'healthy' | 'missing' | 'damaged' | 'check-failed';
  /** Why it is not healthy (one sentence). */
  problem?: string;
  /** Where the damaged file (and its -wal, -shm, -journal) were moved: never deleted. */
  keptAside: string[];
  restored: boolean;
}

export interface RecoverResult {
  sourceId: string;
  /** healthy: nothing changed; recovered: something was restored; new: no data and no backup yet (allowNew). */
  status: 'healthy' | 'recovered' | 'new';
  databases: DatabaseRecovery[];
  /** Files the newest usable backup has that were missing, restored. */
  restoredFiles: string[];
  /** The backup restored from, and the store it came from. */
  backupId: string | undefined;
  store: string | undefined;
  /** Newer backups that could not be used, with why. */
  skipped: { backupId: string; error: string }[];
  /** Things that did not stop the recovery, such as a storage target that could not be listed. */
  warnings: string[];
  /** What was done first about an interrupted restore or recovery found in the source root (one line), if any. */
  interrupted?: string | undefined;
  /** A continuous source: the shipped WAL applied after the backup (up to its newest commit). */
  wal?: RestoreResult['wal'];
  durationMs: number;
}

/** Nothing usable to recover from: exit 13. */
export class NothingToRecoverError extends BotbackupError {
  constructor(message: string) {
    super('NOTHING_TO_RECOVER', message, ExitCode.nothingToRecover);
  }
}

/** Kinds of files recover puts back when they are missing: logs come back by themselves. */
const RESTORED_KINDS = new Set(['config', 'secret', 'other']);
const SIDECARS = ['-wal', '-shm', '-journal'];

/**
 * Checks a source's data where the bot expects it and restores what is missing or damaged. A
 * database is damaged when it is missing, empty, fails `PRAGMA integrity_check`, or fails one of
 * the source's check queries; config and secret files are missing when the newest backup has
 * them and the folder does not. Healthy data is never touched. Otherwise the newest backup whose
 * restore passes every check (checksums, signature, integrity_check, the check queries) is
 * restored into a staging folder inside the source root, falling back to older backups and
 * other stores; then each damaged database (with its -wal, -shm, -journal) is moved aside to
 * `<name>.damaged-<time>` and the good copy renamed into place, and each missing file is put back.
 * Refuses (exit 8) while another process has a database open, unless `force`.
 */
export async function recoverSource(options: RecoverOptions): Promise<RecoverResult> {
  const started = performance.now();
  const { config } = options;
  const source = selectSource(config, options.sourceId);
  const logger = (options.logger ?? silentLogger).child({ source: source.id });
  const now = options.now ?? (() => new Date());
  const keyring = options.keyring ?? new Keyring({ config });
  const warnings: string[] = [];

  if (!options.force) await refuseOpenDatabases(source);
  // A restore or recovery killed here before: finish it (or remove what it staged) before judging the data.
  const pending = await finishPendingRestore(source.root);
  if (pending) logger.warn(pending.message);
  const databases = await Promise.all(source.databases.map((db) => assessDatabase(source, db, now(), options.signal)));
  for (const db of databases) if (db.state !== 'healthy') logger.warn({ database: db.path, state: db.state, problem: db.problem }, 'database needs recovery');

  const candidates = await listCandidates(options.stores, source.id, warnings, options.signal);
  const newest = await newestTrusted(options.stores, source.id, candidates, keyring, options.signal);
  const missingFiles = newest ? await missingFilesOf(source, await filesFromAny(options.stores, newest, options.signal)) : [];
  const base = { sourceId: source.id, skipped: [], warnings, backupId: undefined, store: undefined, interrupted: pending?.message };

  if (databases.every((db) => db.state === 'healthy') && missingFiles.length === 0) {
    return { ...base, status: 'healthy', databases, restoredFiles: [], durationMs: performance.now() - started };
  }
  if (candidates.length === 0) {
    const nothing = databases.every((db) => db.state === 'missing');
    if (options.allowNew && nothing && warnings.length === 0) {
      return { ...base, status: 'new', databases, restoredFiles: [], durationMs: performance.now() - started };
    }
    const why = warnings.length > 0 ? `no storage target could be listed (${warnings.join('; ')})` : `no backup of source "${source.id}" exists`;
    throw new NothingToRecoverError(`${describeProblems(databases)}, and ${why}; nothing was changed.`);
  }

  const skipped: { backupId: string; error: string }[] = [];
  await fs.mkdir(source.root, { recursive: true });
  const stagingDir = stagingName('recover', randomBytes(6).toString('hex'));
  const staging = path.join(source.root, stagingDir);
  let committed = false;
  try {
    const usable =
      (source.continuous ? await stageNewestShipped(source, options, keyring, staging, logger, skipped, warnings) : undefined) ??
      (await stageNewestUsable(candidates, source, options, keyring, staging, logger, skipped));
    if (usable) {
      // Everything needed is restored and checked in the staging folder: put it in place, all
      // or nothing, through the journal (see restore-journal.ts).
      const { entries, restoredFiles } = await recoveryRenames(source.root, stagingDir, usable.manifest, databases, missingFiles, now());
      const journal: RestoreJournal = { version: 1, kind: 'recover', backupId: usable.backupId, staging: stagingDir, owner: formatProcessTag(), entries };
      await writeJournal(source.root, journal);
      committed = true;
      await finishJournal(source.root, journal);
      logger.info({ backupId: usable.backupId, databases: databases.filter((d) => d.restored).map((d) => d.path), files: restoredFiles.length }, 'recovered');
      const { backupId, store, wal } = usable;
      return { ...base, status: 'recovered', databases, restoredFiles, backupId, store, skipped, wal, durationMs: performance.now() - started };
    }
  } finally {
    // Once committed, the staging folder goes with the journal (a failed rename leaves both for the next command).
    if (!committed) await fs.rm(staging, { recursive: true, force: true });
  }
  throw new NothingToRecoverError(
    `${describeProblems(databases)}, and none of the ${candidates.length} backup(s) of "${source.id}" is usable (newest: ${skipped[0]?.backupId}: ${skipped[0]?.error.replace(/\.$/, '')}); nothing was changed.`,
  );
}

/** The backups of a source, newest first, by id across every store that can be listed (a store that cannot is a warning). */
async function listCandidates(stores: readonly BackupStore[], sourceId: string, warnings: string[], signal: AbortSignal | undefined): Promise<string[]> {
  const ids = new Set<string>();
  for (const store of stores) {
    try {
      for (const id of await listBackupIds(store, sourceId, signal)) ids.add(id.backupId);
    } catch (error) {
      if (!isTargetFailure(error) || signal?.aborted) throw error;
      warnings.push(`storage "${store.name}" could not be listed: ${error.message}`);
    }
  }
  return [...ids].sort().reverse();
}

/**
 * A continuous source: restores the newest commit shipped (the newest backup linked to the newest
 * generation, and every segment after it) into `staging`, with the same checks as a backup alone.
 * Undefined, with why in `warnings` or `skipped`, when there is none or it fails: the caller then
 * falls back to the newest usable backup alone.
 */
async function stageNewestShipped(
  source: SourceConfig,
  options: RecoverOptions,
  keyring: Keyring,
  staging: string,
  logger: Logger,
  skipped: { backupId: string; error: string }[],
  warnings: string[],
): Promise<{ backupId: string; manifest: Manifest; store: string; wal: RestoreResult['wal'] } | undefined> {
  let planned;
  try {
    planned = await planRestoreAt({ stores: options.stores, sourceId: source.id, at: undefined, keyring, signal: options.signal });
  } catch (error) {
    if (options.signal?.aborted || error instanceof KeyError) throw error;
    warnings.push(`the shipped WAL could not be planned: ${(error as Error).message}`);
    return undefined;
  }
  if (!planned.replay) {
    warnings.push(`no shipped WAL is applied: ${planned.reason ?? 'none'}`);
    return undefined;
  }
  const tried = await tryBackup(planned.manifest, source, options, keyring, staging, logger, planned.replay);
  if ('error' in tried) {
    skipped.push({ backupId: planned.manifest.id, error: `with its shipped WAL: ${tried.error}` });
    logger.warn({ backupId: planned.manifest.id, err: tried.error }, 'the newest shipped state is not usable; trying backups alone');
    await fs.rm(staging, { recursive: true, force: true });
    return undefined;
  }
  return { backupId: planned.manifest.id, manifest: planned.manifest, store: tried.store, wal: tried.wal };
}

/**
 * Restores the newest of `candidates` that reads and passes every check into `staging`; each
 * backup that does not is added to `skipped`, with why, and its staging removed. Undefined when
 * none is usable.
 */
async function stageNewestUsable(
  candidates: readonly string[],
  source: SourceConfig,
  options: RecoverOptions,
  keyring: Keyring,
  staging: string,
  logger: Logger,
  skipped: { backupId: string; error: string }[],
): Promise<{ backupId: string; manifest: Manifest; store: string; wal: RestoreResult['wal'] } | undefined> {
  for (const backupId of candidates) {
    const manifest = await readFromAny(options.stores, source.id, backupId, options.signal).catch((error: unknown) => {
      if (error instanceof IntegrityError || error instanceof BackupNotFoundError || isTargetFailure(error)) {
        skipped.push({ backupId, error: (error as Error).message });
        return undefined;
      }
      throw error;
    });
    if (!manifest) continue;
    const usable = await tryBackup(manifest, source, options, keyring, staging, logger);
    if (!('error' in usable)) return { backupId, manifest, store: usable.store, wal: undefined };
    skipped.push({ backupId, error: usable.error });
    logger.warn({ backupId, err: usable.error }, 'backup not usable for recovery; trying an older one');
    await fs.rm(staging, { recursive: true, force: true });
  }
  return undefined;
}

/**
 * The renames of a recovery, for its journal: each damaged database (with its -wal, -shm,
 * -journal) moved aside to `<name>.damaged-<time>`, then the good copy renamed in; each missing
 * file the backup has put back (never over one that appeared meanwhile). Marks what it restores
 * and keeps aside in `databases`; staged files take the owner of what they replace, and their
 * folder entries are made durable before the journal is written.
 */
async function recoveryRenames(
  root: string,
  stagingDir: string,
  manifest: Manifest,
  databases: DatabaseRecovery[],
  missingFiles: readonly string[],
  now: Date,
): Promise<{ entries: JournalEntry[]; restoredFiles: string[] }> {
  const staging = path.join(root, stagingDir);
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const entries: JournalEntry[] = [];
  for (const db of databases) {
    if (db.state === 'healthy') continue;
    const aside = [];
    for (const suffix of ['', ...SIDECARS]) {
      if (!(await exists(path.join(root, db.path + suffix)))) continue;
      aside.push({ from: db.path + suffix, to: `${db.path}.damaged-${stamp}${suffix}` });
      db.keptAside.push(`${db.path}.damaged-${stamp}${suffix}`);
    }
    await matchOwner(path.join(staging, db.path), path.join(root, db.path));
    entries.push({ staged: path.join(stagingDir, db.path), dest: db.path, aside });
    db.restored = true;
  }
  const restoredFiles: string[] = [];
  for (const file of missingFiles) {
    // Staged only when the backup used has it (it may be older than the one that listed it missing).
    if (!(await exists(path.join(root, stagingDir, file)))) continue;
    // Never over a file that appeared meanwhile.
    if (await exists(path.join(root, file))) continue;
    await matchOwner(path.join(staging, file), path.join(root, file));
    entries.push({ staged: path.join(stagingDir, file), dest: file, aside: [] });
    restoredFiles.push(file);
  }
  for (const dir of new Set(entries.map((e) => path.dirname(path.join(root, e.staged))))) await syncDir(dir);
  return { entries, restoredFiles };
}

/** Restores `manifest` into `staging` and runs the checks; the store it came from, or why it cannot be used. */
async function tryBackup(
  manifest: Manifest,
  source: SourceConfig,
  options: RecoverOptions,
  keyring: Keyring,
  staging: string,
  logger: Logger,
  walReplay?: WalReplay,
): Promise<{ store: string; wal: RestoreResult['wal'] } | { error: string }> {
  try {
    const result = await restoreBackup({
      stores: options.stores,
      manifest,
      walReplay,
      target: staging,
      // The newest backup that passes it: recover falls back to an older one when it does not.
      integrityCheck: true,
      keyring,
      logger,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    const failed: CheckResult[] = [];
    for (const db of source.databases) {
      const checks = source.checks.filter((c) => c.database === db.name);
      const file = path.join(staging, db.relativePath);
      if (!(await exists(file))) return { error: `it has no copy of the database "${db.relativePath}"` };
      failed.push(...(await runChecks(file, checks, new Date(manifest.startedAt), options.signal)).filter((c) => !c.ok));
    }
    if (failed.length > 0) return { error: `its check ${failed.map((c) => `"${c.name}" ${c.detail}`).join('; ')}` };
    return { store: result.store, wal: result.wal };
  } catch (error) {
    // A missing key fails every backup the same way: say so at once.
    if (error instanceof KeyError || options.signal?.aborted) throw error;
    if (error instanceof IntegrityError || error instanceof BackupNotFoundError || isTargetFailure(error)) return { error: (error as Error).message };
    throw error;
  }
}

async function assessDatabase(
  source: SourceConfig,
  db: SourceConfig['databases'][number],
  now: Date,
  signal: AbortSignal | undefined,
): Promise<DatabaseRecovery> {
  const base = { path: db.relativePath, keptAside: [], restored: false };
  const stat = await fs.stat(db.path).catch(() => undefined);
  if (!stat) return { ...base, state: 'missing', problem: `${db.relativePath} is missing` };
  if (stat.size === 0) return { ...base, state: 'damaged', problem: `${db.relativePath} is empty` };
  // The read-only checks must not leave a -wal or -shm where there was none.
  const sidecars = await walSidecars(db.path);
  try {
    return await judgeDatabase(source, db, now, signal, base);
  } finally {
    await tidyWalSidecars(db.path, sidecars);
  }
}

async function judgeDatabase(
  source: SourceConfig,
  db: SourceConfig['databases'][number],
  now: Date,
  signal: AbortSignal | undefined,
  base: { path: string; keptAside: string[]; restored: boolean },
): Promise<DatabaseRecovery> {
  const check = await checkDatabase(db.path, 'integrity_check', signal, { readonly: true });
  if (!check.ok) return { ...base, state: 'damaged', problem: `${db.relativePath} fails integrity_check (${check.messages.slice(0, 2).join('; ')})` };
  const failed = (
    await runChecks(
      db.path,
      source.checks.filter((c) => c.database === db.name),
      now,
      signal,
      { readonly: true },
    )
  ).filter((c) => !c.ok);
  if (failed.length > 0) {
    return { ...base, state: 'check-failed', problem: `${db.relativePath} fails its check ${failed.map((c) => `"${c.name}" (${c.detail})`).join(', ')}` };
  }
  return { ...base, state: 'healthy' };
}

/** Config, secret and other files the backup has that the source folder lacks. */
async function missingFilesOf(source: SourceConfig, files: readonly ManifestFile[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    if (!RESTORED_KINDS.has(file.kind)) continue;
    if (!(await exists(path.join(source.root, file.path)))) out.push(file.path);
  }
  return out;
}

function describeProblems(databases: readonly DatabaseRecovery[]): string {
  const problems = databases.filter((d) => d.state !== 'healthy').map((d) => d.problem!);
  return problems.length > 0 ? problems.join('; ') : 'files are missing';
}

/**
 * The newest manifest among `candidates` that reads and whose signature is acceptable: which files
 * are missing is judged by it alone, so that a manifest someone planted in the storage cannot
 * make a healthy bot look broken (and keep it from starting).
 */
async function newestTrusted(
  stores: readonly BackupStore[],
  sourceId: string,
  candidates: readonly string[],
  keyring: Keyring,
  signal: AbortSignal | undefined,
): Promise<Manifest | undefined> {
  for (const backupId of candidates) {
    const manifest = await readFromAny(stores, sourceId, backupId, signal).catch(() => undefined);
    if (!manifest) continue;
    try {
      keyring.checkSignature(manifest, 'the newest backup');
      return manifest;
    } catch (error) {
      if (!(error instanceof IntegrityError)) throw error;
    }
  }
  return undefined;
}

/** A backup's files from the first store whose list reads; none when no store's does (only its databases are judged then). */
async function filesFromAny(stores: readonly BackupStore[], manifest: Manifest, signal: AbortSignal | undefined): Promise<ManifestFile[]> {
  for (const store of stores) {
    try {
      return await loadFiles(store, manifest, signal);
    } catch (error) {
      if (!(error instanceof IntegrityError || isTargetFailure(error)) || signal?.aborted) throw error;
    }
  }
  return [];
}

async function readFromAny(stores: readonly BackupStore[], sourceId: string, backupId: string, signal: AbortSignal | undefined): Promise<Manifest> {
  let first: unknown;
  for (const store of stores) {
    try {
      return await readManifest(store, sourceId, backupId, signal);
    } catch (error) {
      first ??= error;
    }
  }
  throw first;
}

/**
 * Refuses when another process has one of the source's databases (or its -wal) open: the bot is
 * running, and replacing its files under it would lose its writes. Linux: reads /proc; where
 * /proc is not readable nothing can be seen, and nothing is refused.
 */
async function refuseOpenDatabases(source: SourceConfig): Promise<void> {
  const watched = new Set(source.databases.flatMap((db) => [db.path, `${db.path}-wal`]));
  const pids = await fs.readdir('/proc').catch(() => [] as string[]);
  for (const pid of pids) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
      if (target === undefined || !watched.has(target)) continue;
      const name = (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      throw new RestoreRefusedError(
        'IN_USE',
        target,
        `${target} is open by process ${pid} (${name}): the bot is running; stop it before recovering, or pass --force to replace its data anyway.`,
      );
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}
