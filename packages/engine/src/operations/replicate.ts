import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError, StorageError, repositoryKeys, type Manifest, type SignaturePolicy } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { silentLogger, type Logger } from '../support/index.js';
import type { ProgressListener } from '../support/index.js';
import { removeLeftovers, storageNow } from '../repository/index.js';
import { listBackupIds, readManifestBytes } from '../repository/index.js';
import { isTargetFailure } from '../repository/index.js';
import { replicateWal, type WalReplicateResult } from './replicate-wal.js';

/**
 * A pass-through that fails at its end unless exactly `size` bytes with this sha256 went
 * through it, so that a store's put of a bad copy fails before the object becomes visible.
 */
class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  /** Set when the check failed: the store may wrap the stream's error in its own. */
  failure: IntegrityError | undefined;
  constructor(
    private readonly expected: { size: number; sha256: string },
    private readonly describe: () => IntegrityError,
    private readonly onBytes?: (n: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    if (this.bytes > this.expected.size) return done((this.failure = this.describe()));
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    if (this.bytes !== this.expected.size || this.hash.digest('hex') !== this.expected.sha256) return done((this.failure = this.describe()));
    done();
  }
}

export interface CopyBackupOptions {
  signal?: AbortSignal | undefined;
  onBytes?: (n: number) => void;
}

/**
 * Copies one backup from `from` to `to`: each object streamed through a size and sha256 check
 * against the manifest (a bad source copy fails the put before anything becomes visible, with an
 * IntegrityError naming that copy), then the manifest's bytes verbatim, last, so the backup
 * appears in `to` only complete. Objects already in `to` are replaced (a leftover of an
 * interrupted upload, or a damaged copy being repaired). Returns the bytes copied.
 */
export async function copyBackup(from: BackupStore, to: BackupStore, manifest: Manifest, options: CopyBackupOptions = {}): Promise<{ bytes: number }> {
  const { signal } = options;
  const { bytes: manifestBytes, manifest: stored } = await readManifestBytes(from, manifest.source.id, manifest.id, signal);
  let bytes = 0;
  for (const object of stored.objects) {
    const bad = () =>
      new IntegrityError('CHECKSUM_MISMATCH', `Backup ${stored.id}: object ${object.key} in storage "${from.name}" does not match its sha256.`, {
        backupId: stored.id,
        subject: object.key,
      });
    let body;
    try {
      body = await from.get(object.key, { signal });
    } catch (error) {
      if (error instanceof StorageError && error.storageCode === 'NOT_FOUND') {
        throw new IntegrityError('MISSING_OBJECT', `Backup ${stored.id} is missing its object ${object.key} in storage "${from.name}".`, {
          backupId: stored.id,
          subject: object.key,
        });
      }
      throw error;
    }
    const checked = new VerifyingStream(object, bad, options.onBytes);
    body.once('error', (error) => checked.destroy(error));
    try {
      await to.put(object.key, body.pipe(checked), { signal });
    } catch (error) {
      throw checked.failure ?? error;
    } finally {
      body.destroy();
    }
    bytes += object.size;
  }
  await to.put(repositoryKeys.manifest(stored.source.id, stored.id), manifestBytes, { signal });
  return { bytes: bytes + manifestBytes.length };
}

export interface ReplicateOptions {
  /** Every target, in config order (the order in which copies are read from). */
  stores: BackupStore[];
  /** Only backups of this source. */
  sourceId?: string | undefined;
  /** Objects with no manifest in any target, older than this, are removed as leftovers. */
  orphanGraceMs: number;
  /** The clock leftovers' age is measured against (default: the first reachable target's own, see `storageNow`). */
  now?: () => Date;
  /**
   * Which signatures a shipped WAL object must carry to be copied (the keyring's policy); default:
   * none checked (the sha256 of each segment's body is still checked against its header).
   */
  policy?: SignaturePolicy;
  logger?: Logger;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ReplicateResult {
  /** Backups copied to a target that lacked them. */
  copied: { sourceId: string; backupId: string; from: string; to: string; bytes: number }[];
  /** Copies that could not be made, with why (one sentence). */
  failed: { sourceId: string; backupId: string; to: string; error: string }[];
  /** Copies found bad while reading from them (another copy was used, if any). */
  badCopies: { sourceId: string; backupId: string; store: string; error: string }[];
  /** Targets that could not be listed: nothing was copied to or from them. */
  unreachable: { store: string; error: string }[];
  /** Leftover objects removed (of backups with no manifest anywhere, older than the grace period). */
  removed: { store: string; key: string }[];
  /** Backups that every reachable target already held. */
  inSync: number;
  /** Shipped WAL objects (continuous sources) copied to targets that lacked them (see {@link replicateWal}). */
  wal: WalReplicateResult;
}

/**
 * Brings every reachable target up to date with the others: each backup that some target holds
 * and another lacks is copied there, oldest first (a parent before the incrementals built on it),
 * from the first target whose copy checks out (see {@link copyBackup}), then each shipped WAL
 * object likewise (see {@link replicateWal}). Then, only when every
 * target could be listed, objects that belong to no manifest in any target and are older than
 * the grace period (left by a backup that failed while a target was down, or by a crash) are
 * removed. A target that fails mid-run is skipped for the rest of it, and the failure reported.
 */
export async function replicate(options: ReplicateOptions): Promise<ReplicateResult> {
  const { stores, signal } = options;
  const logger = options.logger ?? silentLogger;
  const result: ReplicateResult = {
    copied: [],
    failed: [],
    badCopies: [],
    unreachable: [],
    removed: [],
    inSync: 0,
    wal: { copied: [], failed: [], badCopies: [], inSync: 0 },
  };
  const { holders, reachable } = await listHolders(stores, options.sourceId, result, logger, signal);

  const down = new Map<BackupStore, string>();
  const backups = [...holders.values()].sort((a, b) => (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
  let copiedBytes = 0;
  const run: CopyRun = {
    stores,
    holders,
    down,
    result,
    logger,
    signal,
    onBytes: (subject) => (n) => options.onProgress?.({ phase: 'copy', done: (copiedBytes += n), total: undefined, subject }),
  };
  for (const backup of backups) {
    const lacking = reachable.filter((store) => !backup.in.has(store));
    if (lacking.length === 0) {
      result.inSync++;
      continue;
    }
    for (const to of lacking) {
      const base = { sourceId: backup.sourceId, backupId: backup.backupId };
      if (down.has(to)) {
        result.failed.push({ ...base, to: to.name, error: down.get(to)! });
        continue;
      }
      const problem = await copyToTarget(backup, to, run);
      if (problem) result.failed.push({ ...base, to: to.name, error: problem });
    }
  }

  // The WAL after the backups: a segment is of use only with a backup it follows on the same target.
  result.wal = await replicateWal({
    stores: reachable.filter((s) => !down.has(s)),
    sourceId: options.sourceId,
    policy: options.policy ?? { trusted: [], insecure: false },
    logger,
    signal,
  });

  if (result.unreachable.length === 0 && down.size === 0) {
    result.removed = await removeLeftovers(reachable, new Set(holders.keys()), {
      sourceId: options.sourceId,
      cutoff: (options.now ? options.now() : await storageNow(reachable[0]!, signal)).getTime() - options.orphanGraceMs,
      signal,
    });
    if (result.removed.length > 0) logger.info({ removed: result.removed.length }, 'leftover objects removed');
  }
  return result;
}

/** One backup and the targets that hold it, keyed in {@link listHolders}'s map by `sourceId/backupId`. */
interface Holders {
  sourceId: string;
  backupId: string;
  in: Set<BackupStore>;
}

/**
 * Lists every target's backups (of `sourceId`, when given): which targets hold each backup, and
 * which targets could be listed at all. A target that cannot be listed is reported in
 * `result.unreachable` and logged; any other error is thrown.
 */
async function listHolders(
  stores: BackupStore[],
  sourceId: string | undefined,
  result: ReplicateResult,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<{ holders: Map<string, Holders>; reachable: BackupStore[] }> {
  const holders = new Map<string, Holders>();
  const reachable: BackupStore[] = [];
  for (const store of stores) {
    try {
      for (const id of await listBackupIds(store, sourceId, signal)) {
        const key = `${id.sourceId}/${id.backupId}`;
        if (!holders.has(key)) holders.set(key, { ...id, in: new Set() });
        holders.get(key)!.in.add(store);
      }
      reachable.push(store);
    } catch (error) {
      if (!isTargetFailure(error)) throw error;
      result.unreachable.push({ store: store.name, error: error.message });
      logger.warn({ store: store.name, err: error.message }, 'storage target unreachable; skipped');
    }
  }
  return { holders, reachable };
}

/** What {@link copyToTarget} reads and records into during one {@link replicate} run. */
interface CopyRun {
  /** Every target, in config order. */
  stores: BackupStore[];
  holders: Map<string, Holders>;
  /** Targets found down mid-run, with why; {@link copyToTarget} adds to it. */
  down: Map<BackupStore, string>;
  result: ReplicateResult;
  logger: Logger;
  signal: AbortSignal | undefined;
  /** The byte counter for copies of the backup `subject` (one running total over the run). */
  onBytes: (subject: string) => (n: number) => void;
}

/**
 * Copies `backup` to `to` from the first target (in config order) that holds a good copy, and
 * records the copy, or each bad copy met, in `run.result`. A failure of a source target moves on
 * to the next; a failure of `to` marks it down in `run.down`. Returns '' once copied, else why it
 * was not (one sentence), for the caller to report.
 */
async function copyToTarget(backup: Holders, to: BackupStore, run: CopyRun): Promise<string> {
  const { result, logger, signal } = run;
  const base = { sourceId: backup.sourceId, backupId: backup.backupId };
  let lastProblem = `no target holds a good copy of it`;
  for (const from of run.stores.filter((s) => backup.in.has(s))) {
    try {
      const { manifest } = await readManifestBytes(from, backup.sourceId, backup.backupId, signal);
      if (manifest.parent !== null && !run.holders.get(`${backup.sourceId}/${manifest.parent}`)?.in.has(to)) {
        lastProblem = `its parent ${manifest.parent} is not in storage "${to.name}"`;
        break;
      }
      const { bytes } = await copyBackup(from, to, manifest, { signal, onBytes: run.onBytes(backup.backupId) });
      backup.in.add(to);
      result.copied.push({ ...base, from: from.name, to: to.name, bytes });
      logger.info({ ...base, from: from.name, to: to.name, bytes }, 'backup copied');
      lastProblem = '';
      break;
    } catch (error) {
      if (error instanceof IntegrityError) {
        // This copy is bad (or its manifest is): say so and read the next one.
        result.badCopies.push({ ...base, store: from.name, error: error.message });
        logger.warn({ ...base, store: from.name, err: error.message }, 'bad copy; trying the next target');
        lastProblem = error.message;
        continue;
      }
      if (!isTargetFailure(error)) throw error;
      // A failure of the source store: try the next; of the target store: give up on it.
      if (error.backend === to.name) {
        run.down.set(to, error.message);
        lastProblem = error.message;
        break;
      }
      lastProblem = error.message;
    }
  }
  return lastProblem;
}
