import fs from 'node:fs/promises';
import path from 'node:path';
import { BackupNotFoundError, BotbackupError, IntegrityError, NoGoodCopyError, UsageError, type Manifest } from '@botbackup/core';
import { formatProcessTag, type BackupStore } from '@botbackup/storage';
import { Keyring } from '../crypto/index.js';
import { silentLogger, type Logger, type ProgressListener } from '../support/index.js';
import { isTargetFailure } from '../repository/index.js';
import { finishJournal, finishPendingRestore, writeJournal, type RestoreJournal } from './restore-journal.js';
import { resolveChain } from './restore/chain.js';
import { checkDatabases } from './restore/check.js';
import { journalEntries } from './restore/commit.js';
import { disposeSelection, selectedItems, selectFiles, type Selection } from './restore/selection.js';
import { stageArchives, type StagingRun } from './restore/stage.js';
import { replayWal, type ReplayedDatabase, type WalReplay } from './restore/wal-replay.js';
import { checkTarget, makeStaging, refuseConflicts, throwTargetError } from './restore/target.js';

export interface RestoreOptions {
  /** Where to read from, in order: the next store is tried when a copy is missing or bad. */
  stores: readonly BackupStore[];
  manifest: Manifest;
  /** Folder to restore into; created when missing. */
  target: string;
  /** Replace existing files (each by atomic rename, after the new copy is complete and checked). */
  force?: boolean;
  /** Restore only this file or folder (a path inside the backup). */
  only?: string | undefined;
  /**
   * Also run PRAGMA integrity_check on each restored database (`restore --deep`). Without it a
   * database is proven by its sha256 against the signed manifest, which is what was backed up.
   */
  integrityCheck?: boolean;
  /** Where the list of what is restored is kept meanwhile (default: botbackup's own temp folder). */
  tmpDir?: string | undefined;
  logger?: Logger;
  onProgress?: ProgressListener;
  /** Opens encrypted backups and checks signatures (none: plaintext only, signatures not checked). */
  keyring?: Keyring | undefined;
  signal?: AbortSignal;
  /** Shipped WAL segments to apply to the databases after the backup (restore --at, recover; see planRestoreAt). */
  walReplay?: WalReplay | undefined;
}

export interface RestoreResult {
  backupId: string;
  /** The store whose copy was restored. */
  store: string;
  /** Stores tried before it, whose copy was missing or bad, with why. */
  badCopies: { store: string; error: string }[];
  target: string;
  files: number;
  bytes: number;
  /** The backups whose archives were read, oldest first (a full backup, then incrementals). */
  chain: string[];
  /** Each database with its proven sha256, and whether PRAGMA integrity_check ran (only with `integrityCheck`). */
  databases: { path: string; sha256: string; integrityCheck: 'ok' | 'not run' }[];
  /** Wall time of the whole restore, fsync and integrity checks included. */
  durationMs: number;
  /** Part of durationMs spent in PRAGMA integrity_check (0 without `integrityCheck`). */
  integrityCheckMs: number;
  /** Backups of the chain accepted only because of --insecure (unsigned, or signed by an untrusted key). */
  warnings: string[];
  /** What was done first about an interrupted restore found in the target (one line), if any. */
  interrupted?: string | undefined;
  /** The shipped WAL applied after the backup, per database (restore --at, recover). */
  wal?: { generation: string; databases: ReplayedDatabase[] } | undefined;
}

/** What the journal keeps of a restore, so that running the same restore again after a kill reports it. */
interface JournalSummary {
  only: string | null;
  store: string;
  badCopies: RestoreResult['badCopies'];
  result: Omit<RestoreResult, 'store' | 'badCopies' | 'interrupted'>;
}

/**
 * Restores a backup into `target`: a full backup from its own archive; an incremental by
 * fetching its chain (the full backup, then every incremental up to it), verifying every link it
 * reads, taking each file from the backup that stored it and rebuilding each database from its
 * last snapshot plus the page deltas after it, then checking that the rebuilt database's sha256
 * is the one the manifest records. Every byte is checked before anything becomes visible:
 * entries are written into a hidden staging folder inside the target, each checked against its
 * sha256 and fsync-ed; each archive's own sha256 is checked at its end (with `only`, reading
 * stops once the wanted entries are read and proven); a database rebuilt from a chain is hashed
 * whole against its recorded sha256, and with `integrityCheck` passes PRAGMA integrity_check.
 * Only then is each file (or a whole folder the target lacks) moved into place with an atomic
 * rename (stale `-wal`/`-shm`/`-journal` files of a database removed first). Existing files are never replaced unless `force` is set.
 * On any failure the staging folder is removed and the target is left as it was; a broken link
 * of a chain is named, with the newest backup that does not need it.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const logger = (options.logger ?? silentLogger).child({ backupId: options.manifest.id });
  // Nothing of a manifest is used before its signature is checked (resolveChain checks every link again).
  if (options.stores[0]) options.keyring?.checkSignature(options.manifest, `storage "${options.stores[0].name}"`);
  // A path that is not in the backup is the user's mistake, not a bad copy: said once, up front.
  const selection = await selectFiles(options.stores, options.manifest, options.only, options.signal, options.tmpDir);
  try {
    const target = path.resolve(options.target);
    await checkTarget(target, selectedItems(selection));
    // A restore killed in this target before: finish it (or remove what it staged) first.
    const pending = await finishPendingRestore(target);
    if (pending) logger.warn(pending.message);
    const interrupted = pending?.message;
    const summary = pending?.journal?.kind === 'restore' ? (pending.journal.summary as JournalSummary | undefined) : undefined;
    if (pending?.action === 'rolled-forward' && pending.journal?.backupId === options.manifest.id && summary && summary.only === (options.only ?? null)) {
      // The very restore asked for was interrupted after its commit, and is now complete.
      return { ...summary.result, store: summary.store, badCopies: summary.badCopies, interrupted };
    }
    await refuseConflicts(target, selectedItems(selection), options.force ?? false, options.only === undefined);
    return await restoreFromAny(options, selection, interrupted, logger);
  } finally {
    await disposeSelection(selection);
  }
}

/** Restores from the first store whose copy is good (see {@link restoreBackup}). */
async function restoreFromAny(options: RestoreOptions, selection: Selection, interrupted: string | undefined, logger: Logger): Promise<RestoreResult> {
  const badCopies: { store: string; error: string }[] = [];
  const errors: unknown[] = [];
  for (const store of options.stores) {
    try {
      return { ...(await restoreFrom(store, options, selection, badCopies)), store: store.name, badCopies, interrupted };
    } catch (error) {
      // Only a bad or unreachable copy is worth another try; a refusal, a missing key or an abort is final.
      if (!(error instanceof IntegrityError || error instanceof BackupNotFoundError || isTargetFailure(error)) || options.signal?.aborted) throw error;
      errors.push(error);
      badCopies.push({ store: store.name, error: error.message });
      if (badCopies.length < options.stores.length)
        logger.warn({ store: store.name, err: error.message }, 'this copy cannot be restored; trying the next storage target');
    }
  }
  if (errors.length <= 1) throw errors[0] ?? new UsageError('No storage target to restore from.');
  const first = (errors.find((e) => e instanceof IntegrityError) ?? errors[0]) as BotbackupError;
  throw new NoGoodCopyError(
    options.manifest.id,
    `No storage target holds a good copy of backup ${options.manifest.id}: ${badCopies.map((c) => `"${c.store}": ${c.error.replace(/\.$/, '')}`).join('; ')}.`,
    first,
  );
}

type StoreRestoreResult = Omit<RestoreResult, 'store' | 'badCopies'>;

/**
 * Restores from one store (see {@link restoreBackup}): resolves the chain and checks its
 * signatures, stages every member into a staging folder, checks the databases, commits through
 * the journal and reports.
 */
async function restoreFrom(
  store: BackupStore,
  options: RestoreOptions,
  selection: Selection,
  badCopies: RestoreResult['badCopies'],
): Promise<StoreRestoreResult> {
  const started = performance.now();
  const { manifest } = options;
  const logger = (options.logger ?? silentLogger).child({ backupId: manifest.id });
  const target = path.resolve(options.target);
  const keyring = options.keyring ?? Keyring.none();
  const { chain, reads, warnings } = await resolveChain(store, manifest, selection, keyring, logger, options.signal);
  const { stagingDir, staging, createdTarget } = await makeStaging(target);
  const { only, onProgress, signal } = options;
  const run: StagingRun = { store, manifest, chainLength: chain.length, target, staging, keyring, only, selection, onProgress, signal };
  let committed = false;
  try {
    const staged = await stageArchives(run, reads);
    // The backup's bytes are proven; the frames shipped after it are written into them next, and
    // each database they changed is then checked by SQLite (quick_check, or --deep's integrity_check).
    const replayed = options.walReplay && !only ? await replayWal(run, options.walReplay, selection.databases) : undefined;
    const changed = new Set((replayed ?? []).filter((r) => r.commits > 0).map((r) => r.path));
    const checked = await checkDatabases(run, selection.databases, staged.rebuilt, options.integrityCheck ?? false, changed);
    // Everything is complete and checked. The staged files' folder entries are made durable,
    // then the journal of the renames (the commit point), then the renames: a restore killed
    // from here on is finished by the next command that touches the target.
    const entries = await journalEntries(target, stagingDir, selection.databases);
    const result: StoreRestoreResult = {
      backupId: manifest.id,
      target,
      files: selection.files + selection.databases.length,
      bytes: staged.bytes + checked.bytes,
      // Oldest first, as reported before the archives were read newest first.
      chain: chain.filter((link) => reads.some((r) => r.link === link)).map((link) => link.id),
      databases: checked.databases,
      durationMs: performance.now() - started,
      integrityCheckMs: checked.integrityCheckMs,
      warnings,
      ...(replayed && options.walReplay ? { wal: { generation: options.walReplay.generation, databases: replayed } } : {}),
    };
    const summary: JournalSummary = { only: only ?? null, store: store.name, badCopies, result };
    const journal: RestoreJournal = { version: 1, kind: 'restore', backupId: manifest.id, staging: stagingDir, owner: formatProcessTag(), entries, summary };
    await writeJournal(target, journal);
    committed = true;
    await finishJournal(target, journal);
    result.durationMs = performance.now() - started;
    logger.info({ target, files: result.files, bytes: result.bytes, chain: chain.length }, 'restore complete');
    return result;
  } catch (error) {
    if (!committed && createdTarget) await fs.rm(target, { recursive: true, force: true });
    return throwTargetError(error, target, committed);
  } finally {
    // Once committed, the staging folder holds files the journal still needs: it goes with the journal.
    if (!committed) await fs.rm(staging, { recursive: true, force: true });
  }
}
