import { BackupNotFoundError, IntegrityError, StorageError, parseManifest, repositoryKeys, type Manifest } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';

async function readText(store: BackupStore, key: string, signal?: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key, { signal })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and validates one manifest. A missing one is a BackupNotFoundError. */
export async function readManifest(store: BackupStore, sourceId: string, backupId: string, signal?: AbortSignal): Promise<Manifest> {
  const key = repositoryKeys.manifest(sourceId, backupId);
  let text: string;
  try {
    text = await readText(store, key, signal);
  } catch (error) {
    if (error instanceof StorageError && error.storageCode === 'NOT_FOUND') {
      throw new BackupNotFoundError(
        `Backup ${backupId} of source "${sourceId}" has no manifest in storage "${store.name}"; it does not exist or was not completed.`,
      );
    }
    throw error;
  }
  const manifest = parseManifest(text, `${key} in storage "${store.name}"`);
  if (manifest.id !== backupId || manifest.source.id !== sourceId) {
    throw new IntegrityError(
      'BAD_MANIFEST',
      `The manifest ${key} in storage "${store.name}" describes backup ${manifest.id} of "${manifest.source.id}"; it was moved or tampered with.`,
      { backupId, subject: key },
    );
  }
  return manifest;
}

/** Every backup id in a store (optionally of one source), oldest first, from manifest keys only. */
export async function listBackupIds(store: BackupStore, sourceId?: string, signal?: AbortSignal): Promise<{ sourceId: string; backupId: string }[]> {
  const out: { sourceId: string; backupId: string }[] = [];
  for await (const object of store.list(repositoryKeys.manifestsPrefix(sourceId), { signal })) {
    const parsed = repositoryKeys.parseManifestKey(object.key);
    if (parsed) out.push(parsed);
  }
  return out.sort((a, b) => (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
}

export interface ListedBackup {
  sourceId: string;
  backupId: string;
  /** The manifest, or the error that kept it from being read (a damaged manifest is listed, not hidden). */
  manifest: Manifest | undefined;
  error: Error | undefined;
}

/** Every backup in a store with its manifest, oldest first. */
export async function listBackups(store: BackupStore, sourceId?: string, signal?: AbortSignal): Promise<ListedBackup[]> {
  const ids = await listBackupIds(store, sourceId, signal);
  return Promise.all(
    ids.map(async (id) => {
      try {
        return { ...id, manifest: await readManifest(store, id.sourceId, id.backupId, signal), error: undefined };
      } catch (error) {
        if (error instanceof IntegrityError) return { ...id, manifest: undefined, error };
        throw error;
      }
    }),
  );
}

/**
 * Finds the backup a user means: `latest` (newest, of `sourceId` if given), a full id, or a
 * unique prefix of one (as git does with commits).
 */
export async function resolveBackup(store: BackupStore, ref: string, sourceId?: string, signal?: AbortSignal): Promise<Manifest> {
  const ids = await listBackupIds(store, sourceId, signal);
  const scope = sourceId ? ` of source "${sourceId}"` : '';
  if (ref === 'latest') {
    const newest = ids.at(-1);
    if (!newest) throw new BackupNotFoundError(`Storage "${store.name}" holds no backups${scope} yet; run "botbackup backup" first.`);
    return readManifest(store, newest.sourceId, newest.backupId, signal);
  }
  const matches = ids.filter((id) => id.backupId.startsWith(ref));
  const exact = matches.find((id) => id.backupId === ref);
  const chosen = exact ?? (matches.length === 1 ? matches[0] : undefined);
  if (!chosen) {
    if (matches.length > 1) throw new BackupNotFoundError(`"${ref}" matches ${matches.length} backups${scope}; give more of the id (see "botbackup list").`);
    throw new BackupNotFoundError(`No backup "${ref}"${scope} in storage "${store.name}"; see "botbackup list".`);
  }
  return readManifest(store, chosen.sourceId, chosen.backupId, signal);
}
