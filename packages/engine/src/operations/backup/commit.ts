import fs from 'node:fs/promises';
import { entryCount, manifestBytes, repositoryKeys, signedManifestBytes, type Manifest } from '@botbackup/core';
import type { BackupResult, BackupRun } from './run.js';

/**
 * Writes the manifest (signed when there is a worker key) to every live target, after the
 * `beforeCommit` hook had its last chance to refuse (a worker that lost its source's lock). The
 * manifest goes last: from this moment on the backup exists, wherever it was written.
 */
export async function commitBackup(run: BackupRun, manifest: Manifest): Promise<void> {
  const { options, targets } = run;
  await options.beforeCommit?.();
  const manifestKey = repositoryKeys.manifest(run.source.id, run.backupId);
  run.manifestKey = manifestKey;
  // As bytes built piece by piece: the text of a million files' manifest is longer than any string.
  const text = run.workerKey ? signedManifestBytes(manifest, run.workerKey) : manifestBytes(manifest);
  await targets.each((store) => store.put(manifestKey, text, { signal: options.signal }), options.signal);
  run.log.info(
    {
      type: manifest.type,
      parent: manifest.parent,
      entries: entryCount(manifest),
      entryBytes: manifest.stats.entryBytes,
      storedBytes: manifest.stats.storedBytes,
      durationMs: manifest.stats.durationMs,
      stores: targets.alive.map((s) => s.name),
      failed: [...targets.failed.keys()].map((s) => s.name),
    },
    targets.failed.size > 0 ? 'backup committed, degraded' : 'backup committed',
  );
}

/** What runBackup returns for a committed backup: where it is, where it is not, what was repaired and cleaned first. */
export function backupResult(run: BackupRun, manifest: Manifest, repaired: BackupResult['repaired']): BackupResult {
  const { targets } = run;
  return {
    manifest,
    stored: targets.alive.map((store) => ({ store: store.name, location: store.location, manifestKey: run.manifestKey! })),
    failed: [...targets.failed].map(([store, error]) => ({ store: store.name, location: store.location, error: error.message })),
    repaired,
    cleaned: run.cleaned,
  };
}

/**
 * After a failure: stops the snapshots, then removes what was written, the manifest first (a
 * backup is visible exactly while it exists), then its objects; not on a store known to be down:
 * replicate removes what is left there. Returns the error to throw: an abort's reason when the
 * caller aborted.
 */
export async function abandonBackup(run: BackupRun, error: unknown): Promise<unknown> {
  const { options, targets, manifestKey } = run;
  run.stop.abort();
  const reachable = options.stores.filter((s) => targets.failed.get(s)?.storageCode !== 'UNAVAILABLE');
  if (manifestKey !== undefined) await Promise.all(reachable.map((store) => store.delete(manifestKey).catch(() => undefined)));
  await Promise.all(reachable.flatMap((store) => run.written.map((key) => store.delete(key).catch(() => undefined))));
  return options.signal?.aborted ? (options.signal.reason ?? error) : error;
}

/** Whatever happened: waits for the snapshots' copies and checks to settle, then removes their staging folder. */
export async function removeStaging(run: BackupRun): Promise<void> {
  await Promise.allSettled([...run.snapshots.values()].map((h) => h.done));
  await fs.rm(run.staging, { recursive: true, force: true });
}
