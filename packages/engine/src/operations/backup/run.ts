import type { Config, Manifest, SourceConfig } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring, WorkerKey } from '../../crypto/index.js';
import type { StaleTempCleanup } from '../../repository/index.js';
import type { SnapshotHandle } from '../../sqlite/index.js';
import type { Logger, ProgressListener } from '../../support/index.js';
import type { TargetSet } from './target-set.js';

export interface BackupOptions {
  config: Config;
  /** The source to back up; may be omitted when the config has exactly one. */
  sourceId?: string | undefined;
  /** Where to write; every store receives the same bytes from one read of the source. */
  stores: BackupStore[];
  logger?: Logger;
  onProgress?: ProgressListener;
  /** Passed to {@link snapshotDatabase} for each database, with its name. */
  onSnapshotPinned?: (database: string) => Promise<void>;
  signal?: AbortSignal;
  /** The clock (tests pass a fixed one). */
  now?: () => Date;
  /** Host name recorded in the manifest. */
  host?: string;
  /** Store only what changed since a parent (see {@link findParent}); full when there is none to build on. */
  incremental?: boolean;
  /** The parent of an incremental: the newest backup at or before this id, id prefix or time; the newest by default. */
  since?: string | undefined;
  /** Stores the backup must reach to be committed (default: the config's minCopies, at most every store). */
  minCopies?: number;
  /**
   * Called right before the manifest is written: a last chance to refuse the commit (a worker
   * checks that it still holds its source's lock, so that two hosts never both commit).
   */
  beforeCommit?: () => Promise<void>;
  /** The queued job that runs it, recorded in the manifest (see {@link findBackupByTrigger}). */
  trigger?: { jobId: string; scheduleId: string | null; queuedAt?: string } | undefined;
  /** The repository's keys (default: the config's, with no identity and no --insecure). */
  keyring?: Keyring;
  /** Set by a streamer: this backup is the first of that generation of continuous shipping. */
  streamGeneration?: string;
}

export interface BackupResult {
  manifest: Manifest;
  /** Where the backup was written: store name, location and manifest key. */
  stored: { store: string; location: string; manifestKey: string }[];
  /** Stores the backup did not reach, with why: the backup is degraded when this is not empty. */
  failed: { store: string; location: string; error: string }[];
  /** Links of the parent's chain that a store lacked and that were copied there first. */
  repaired: { store: string; backupId: string }[];
  /** Leftovers of interrupted runs removed before the backup started (see {@link removeStaleTemp}). */
  cleaned: StaleTempCleanup;
}

/**
 * What the stages of one backup share: its settings, identity and clock, and what cleanup must
 * know if it fails (the snapshots still running, the objects written, the manifest key once its
 * write began). Made by {@link prepareBackup}; the stages add to `snapshots`, `written` and
 * `warnings` as they go.
 */
export interface BackupRun {
  options: BackupOptions;
  config: Config;
  source: SourceConfig;
  keyring: Keyring;
  /** Signs the manifest; in an encrypted repository also the source of `contentKey`. */
  workerKey: WorkerKey | undefined;
  /** The key of every content hash (HMAC-SHA256) in an encrypted repository. */
  contentKey: Buffer | undefined;
  now: () => Date;
  startedAt: Date;
  backupId: string;
  log: Logger;
  targets: TargetSet;
  cleaned: StaleTempCleanup;
  /** This run's own temp folder (the snapshots' copies), removed at the end whatever happens. */
  staging: string;
  archiveKey: string;
  /** The manifest's warnings, in the order they were given. */
  warnings: string[];
  warn: (message: string) => void;
  /** Each database's snapshot by its path, added as each one starts. */
  snapshots: Map<string, SnapshotHandle>;
  /** Aborted when the backup fails, to stop the snapshots' copies and checks. */
  stop: AbortController;
  snapshotSignal: AbortSignal;
  /** Keys of the objects whose write began: removed if the backup fails. */
  written: string[];
  /** Set when the manifest's write begins: from then on a failure must remove it first. */
  manifestKey: string | undefined;
}
