import { randomBytes } from 'node:crypto';
import { ConfigError, createBackupId, findSource, repositoryKeys, UsageError, type Config, type SourceConfig } from '@botbackup/core';
import { checkSourceRoots } from '../../config/index.js';
import { checkBackupKeys, Keyring } from '../../crypto/index.js';
import { makeOwnedTempDir, removeStaleTemp } from '../../repository/index.js';
import { silentLogger } from '../../support/index.js';
import { finishPendingRestore } from '../restore-journal.js';
import type { BackupOptions, BackupRun } from './run.js';
import { TargetSet } from './target-set.js';

/** Picks the source a command means: the named one, or the only one. */
export function selectSource(config: Config, sourceId: string | undefined): SourceConfig {
  if (sourceId === undefined) {
    if (config.sources.length === 1) return config.sources[0]!;
    throw new UsageError(`${config.file} defines ${config.sources.length} sources (${config.sources.map((s) => s.id).join(', ')}); choose one with --source.`);
  }
  return findSource(config, sourceId);
}

/**
 * Everything that can refuse a backup before it reads or writes a thing (the source, the stores,
 * plaintext secrets, the keys), then the run itself: its id and clock, the targets, the leftovers
 * of interrupted runs removed, and a staging folder of its own. Nothing here needs cleaning up
 * if it fails: the staging folder is made last.
 */
export async function prepareBackup(options: BackupOptions): Promise<BackupRun> {
  const { config, stores } = options;
  const source = await checkSource(options);
  const keyring = options.keyring ?? new Keyring({ config });
  // Before anything is read: a backup that could not be signed or encrypted must not start.
  const workerKey = await checkBackupKeys(config, keyring);
  const contentKey = config.encryption ? workerKey!.contentHashKey : undefined;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const backupId = createBackupId(startedAt, randomBytes(10));
  const log = logger.child({ backupId, source: source.id });
  const targets = new TargetSet(stores, Math.min(options.minCopies ?? config.minCopies, stores.length), log);
  // Leftovers of interrupted runs first (temp copies of dead runs, .part files of killed uploads).
  const cleaned = await removeStaleTemp({ tmpRoot: config.tmpDir, stores, graceMs: config.orphanGraceMs, logger: log, signal: options.signal });
  const staging = await makeOwnedTempDir(config.tmpDir);
  const warnings: string[] = [];
  // Stops the snapshots' copies and checks as soon as the backup fails for any reason.
  const stop = new AbortController();
  return {
    options,
    config,
    source,
    keyring,
    workerKey,
    contentKey,
    now,
    startedAt,
    backupId,
    log,
    targets,
    cleaned,
    staging,
    archiveKey: repositoryKeys.archive(source.id, backupId, config.compression.codec, config.encryption !== undefined),
    warnings,
    warn: (message: string) => {
      warnings.push(message);
      log.warn(message);
    },
    snapshots: new Map(),
    stop,
    snapshotSignal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal,
    written: [],
    manifestKey: undefined,
  };
}

/** The source to back up, once its folder is usable, there is a store, and its secrets would not be stored readable unless allowed. */
async function checkSource(options: BackupOptions): Promise<SourceConfig> {
  const { config, stores } = options;
  const source = selectSource(config, options.sourceId);
  await checkSourceRoots(config, [source.id]);
  // A restore or recovery killed in this folder is finished (or undone) before it is read; a read-only folder only warns.
  await finishPendingRestore(source.root).then(
    (pending) => pending && (options.logger ?? silentLogger).warn(pending.message),
    (error: Error) => (options.logger ?? silentLogger).warn({ err: error.message }, 'an interrupted restore in the source folder could not be finished'),
  );
  if (stores.length === 0) throw new UsageError(`${config.file} configures no storage target.`);
  if (!config.encryption && !source.allowPlaintextSecrets && source.files.some((set) => set.kind === 'secret')) {
    throw new ConfigError(
      config.file,
      `sources[${config.sources.indexOf(source)}].allowPlaintextSecrets`,
      'is false, but the source has secret files and no encryption is configured; configure encryption (see docs/security.md) or set it to true to store them readable',
    );
  }
  return source;
}
