import { randomBytes } from 'node:crypto';
import { backupIdTime, repositoryKeys } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';

/**
 * Removes the objects under `data/` (of one source, or all) that belong to no backup in
 * `owners` (`<source>/<backup-id>`: the backups some target holds a manifest of) and that are
 * older than `cutoff`, both by their backup id's time and by the object's own modification time:
 * an upload in progress (another host's backup, not committed yet) is never touched. Returns
 * what was removed.
 */
export async function removeLeftovers(
  stores: readonly BackupStore[],
  owners: ReadonlySet<string>,
  options: { sourceId?: string | undefined; cutoff: number; signal?: AbortSignal | undefined },
): Promise<{ store: string; key: string }[]> {
  const removed: { store: string; key: string }[] = [];
  for (const store of stores) {
    for await (const object of store.list(repositoryKeys.dataRoot(options.sourceId), { signal: options.signal })) {
      const owner = repositoryKeys.parseDataKey(object.key);
      if (!owner || owners.has(`${owner.sourceId}/${owner.backupId}`)) continue;
      if (!(idTime(owner.backupId) <= options.cutoff && object.modifiedAt.getTime() <= options.cutoff)) continue;
      await store.delete(object.key, { signal: options.signal });
      removed.push({ store: store.name, key: object.key });
    }
  }
  return removed;
}

/** The start time of a backup id, or +Infinity for a key that is not one (never removed). */
function idTime(backupId: string): number {
  try {
    return backupIdTime(backupId).getTime();
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * The storage's own clock: writes a tiny probe object and reads back its modification time (the
 * server's for S3, the file system's for a folder), then removes it. Grace periods measured
 * against it do not depend on the clock of the host that runs the command.
 */
export async function storageNow(store: BackupStore, signal?: AbortSignal): Promise<Date> {
  const key = `clock/probe-${randomBytes(6).toString('hex')}`;
  await store.put(key, Buffer.alloc(0), { signal });
  try {
    const info = await store.stat(key, { signal });
    return info?.modifiedAt ?? new Date();
  } finally {
    await store.delete(key, { signal }).catch(() => undefined);
  }
}
