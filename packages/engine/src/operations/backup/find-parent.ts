import { BackupNotFoundError, decodePageMap, IntegrityError, KeyError, repositoryKeys, type Manifest, type PageMap } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring } from '../../crypto/index.js';
import { checkChainObjects, fetchFileList, isTargetFailure, loadChain, readVerifiedObject, resolveBackupRef } from '../../repository/index.js';
import { copyBackup } from '../replicate.js';
import type { TargetSet } from './target-set.js';

export type ParentSearch =
  | {
      parent: Manifest;
      pageMaps: Map<string, PageMap>;
      /** The parent's file list, fetched and checked into a local file (in path order). */
      parentList: string;
      repaired: { store: string; backupId: string }[];
      warning?: string;
    }
  | { reason: string; warning?: string };

/**
 * The parent of an incremental: the newest backup of the source (or the newest at or before
 * `since`) that any target holds, if it can be built on. The target it was found in must hold
 * its whole chain (every link's manifest, and every object at its recorded size), and its page
 * maps must match their sha256; otherwise the backup becomes full, with a warning, and never
 * builds on a broken parent. Its file list is fetched into `parentList` (checked against its
 * sha256 on the way), for the plan to compare the files with. A target that lacks links of the chain (it was down when they were
 * made) gets them copied first, checked on the way, so every target holds complete chains. A
 * target that fails is dropped from the backup. Content of the older links is `verify`'s job:
 * reading it here would cost as much as a full backup.
 */
export async function findParent(
  targets: TargetSet,
  sourceId: string,
  since: string | undefined,
  keyring: Keyring,
  signal: AbortSignal | undefined,
  parentList: string,
): Promise<ParentSearch> {
  let best: { parent: Manifest; store: BackupStore } | undefined;
  let notFound: BackupNotFoundError | undefined;
  for (const store of targets.alive.slice()) {
    try {
      const parent = await resolveBackupRef(store, since ?? 'latest', sourceId, signal);
      if (!best || parent.id > best.parent.id) best = { parent, store };
    } catch (error) {
      if (error instanceof BackupNotFoundError) notFound ??= error;
      else if (error instanceof IntegrityError) return unusable(since ?? 'latest', error);
      else if (isTargetFailure(error)) targets.fail(store, error);
      else throw error;
    }
  }
  if (!best) {
    if (since === undefined || !notFound) return { reason: `there is no earlier backup of source "${sourceId}" to build on` };
    throw notFound;
  }
  const { parent, store: primary } = best;
  let chain: Manifest[];
  const pageMaps = new Map<string, PageMap>();
  let signatureWarning: string | undefined;
  try {
    chain = await loadChain(primary, parent, signal);
    // Never build on a backup someone else could have written: its hashes decide what is stored.
    for (const link of chain) signatureWarning ??= keyring.checkSignature(link, `storage "${primary.name}"`);
    await checkChainObjects(primary, chain, signal);
    for (const db of parent.databases) {
      if (db.pageMap === null) continue;
      const object = parent.objects.find((o) => o.key === db.pageMap);
      if (!object) throw new IntegrityError('BAD_MANIFEST', `its manifest lists no object ${db.pageMap}`, { backupId: parent.id });
      const stored = await readVerifiedObject(primary, parent, object, signal);
      const bytes = object.encryption ? await keyring.decryptBytes(parent, stored, object.encryption.readers) : stored;
      pageMaps.set(db.path, decodePageMap(bytes, `${object.key} in storage "${primary.name}"`));
    }
    await fetchFileList(primary, parent, parentList, signal);
  } catch (error) {
    if (error instanceof IntegrityError || error instanceof KeyError) return unusable(parent.id, error);
    if (isTargetFailure(error) && !signal?.aborted) {
      targets.fail(primary, error);
      return { reason: `storage "${primary.name}", which holds the parent ${parent.id}, failed while it was read` };
    }
    throw error;
  }
  const repaired: { store: string; backupId: string }[] = [];
  for (const store of targets.alive.slice()) {
    if (store === primary) continue;
    try {
      for (const link of chain) {
        if (await holdsCopy(store, link, signal)) continue;
        await copyBackup(primary, store, link, { signal });
        repaired.push({ store: store.name, backupId: link.id });
      }
    } catch (error) {
      if (error instanceof IntegrityError) return unusable(parent.id, error);
      if (!isTargetFailure(error) || signal?.aborted) throw error;
      targets.fail(store, error);
    }
  }
  return { parent, pageMaps, parentList, repaired, ...(signatureWarning ? { warning: signatureWarning } : {}) };
}

/** True when `store` holds a backup's manifest and every object at its recorded size. */
async function holdsCopy(store: BackupStore, manifest: Manifest, signal: AbortSignal | undefined): Promise<boolean> {
  if (!(await store.stat(repositoryKeys.manifest(manifest.source.id, manifest.id), { signal }))) return false;
  try {
    await checkChainObjects(store, [manifest], signal);
    return true;
  } catch (error) {
    if (error instanceof IntegrityError) return false;
    throw error;
  }
}

function unusable(parent: string, error: Error): { reason: string; warning: string } {
  const reason = `the parent ${parent} cannot be built on (${error.message.replace(/\.$/, '')})`;
  return { reason, warning: `Made a full backup instead of an incremental: ${reason}.` };
}
