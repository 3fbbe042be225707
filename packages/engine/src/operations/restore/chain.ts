import { BackupNotFoundError, IntegrityError, type Manifest } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring } from '../../crypto/index.js';
import type { Logger } from '../../support/index.js';
import { archiveObject } from '../../archive/index.js';
import { BrokenLinkError, checkChainObjects, listBackupIds, loadChain, readManifest } from '../../repository/index.js';
import { planMembers, type ArchiveRead } from './plan.js';
import type { Selection } from './selection.js';

/** The chain a restore reads from one store, checked before any archive is read. */
export interface ResolvedChain {
  /** Every link, oldest first (a full backup, then incrementals up to the one restored). */
  chain: Manifest[];
  /** The archives to read, newest first (see planMembers), and what to take from each. */
  reads: ArchiveRead[];
  /** Links accepted only because of --insecure. */
  warnings: string[];
}

/**
 * Loads the chain of `manifest` from `store`, checks every link's signature (refusing what
 * someone with write access to the storage could have made, before reading it), plans what to
 * read, and checks that each archive to read is there. A broken link is explained (see
 * {@link explainBroken}).
 */
export async function resolveChain(
  store: BackupStore,
  manifest: Manifest,
  selection: Pick<Selection, 'filesIn' | 'databases'>,
  keyring: Keyring,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<ResolvedChain> {
  const chain =
    manifest.parent === null ? [manifest] : await loadChain(store, manifest, signal).catch((error: unknown) => explainBroken(store, manifest, error, signal));
  const warnings: string[] = [];
  for (const link of chain) {
    const warning = keyring.checkSignature(link, `storage "${store.name}"`);
    if (warning !== undefined) {
      warnings.push(warning);
      logger.warn(warning);
    }
  }
  const reads = await Promise.resolve()
    .then(() => planMembers(chain, manifest, selection.filesIn, selection.databases))
    .catch((error: unknown) => explainBroken(store, manifest, error, signal));
  for (const { link } of reads) {
    const object = archiveObject(link);
    if (!(await store.stat(object.key, { signal })) && chain.length > 1) {
      await explainBroken(store, manifest, new BrokenLinkError(link.id, manifest, `its archive ${object.key} is missing in storage "${store.name}"`), signal);
    }
  }
  return { chain, reads, warnings };
}

/**
 * Rethrows a broken link as one error that names it and the newest backup of the source that
 * does not need it (whose chain's manifests and objects are all present), so the user knows
 * what can still be restored.
 */
export async function explainBroken(store: BackupStore, manifest: Manifest, error: unknown, signal: AbortSignal | undefined): Promise<never> {
  if (!(error instanceof BrokenLinkError)) throw error;
  const fallback = await newestRestorableWithout(store, manifest.source.id, error.link, signal).catch(() => undefined);
  const advice = fallback
    ? `the newest backup that does not need it is ${fallback} (restore it with "botbackup restore ${fallback}").`
    : `no other backup of source "${manifest.source.id}" in storage "${store.name}" avoids it.`;
  throw new IntegrityError(
    'BROKEN_CHAIN',
    `Backup ${manifest.id} cannot be restored: ${error.message.replace(/\.$/, '')}; ${advice}`,
    {
      backupId: manifest.id,
      subject: error.link,
    },
    { cause: error },
  );
}

/** The newest backup of a source whose chain does not contain `broken` and has every manifest and object present. */
async function newestRestorableWithout(store: BackupStore, sourceId: string, broken: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  const ids = await listBackupIds(store, sourceId, signal);
  for (const { backupId } of ids.reverse()) {
    if (backupId === broken) continue;
    try {
      const chain = await loadChain(store, await readManifest(store, sourceId, backupId, signal), signal);
      if (chain.some((link) => link.id === broken)) continue;
      await checkChainObjects(store, chain, signal);
      return backupId;
    } catch (error) {
      if (!(error instanceof IntegrityError || error instanceof BackupNotFoundError)) throw error;
    }
  }
  return undefined;
}
