import fs from 'node:fs/promises';
import path from 'node:path';
import { backupSizes, fileListObject, IntegrityError, type Manifest } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { ProgressListener } from '../support/index.js';
import { Keyring } from '../crypto/index.js';
import { archiveObject, readArchive } from '../archive/index.js';
import { BrokenLinkError, checkChainObjects, checkStoredObject, listedEntries, loadChain, readVerifiedObject } from '../repository/index.js';
import { restoreBackup } from './restore.js';
import { makeOwnedTempDir } from '../repository/index.js';

export interface VerifyOptions {
  store: BackupStore;
  manifest: Manifest;
  /** Also restore into a temp folder and run PRAGMA integrity_check on every database. */
  deep?: boolean;
  tmpDir?: string | undefined;
  onProgress?: ProgressListener;
  /** Checks signatures and opens encrypted archives (none: plaintext only, signatures not checked). */
  keyring?: Keyring | undefined;
  signal?: AbortSignal;
}

export interface VerifyResult {
  backupId: string;
  deep: boolean;
  /**
   * False when the backup is encrypted and this host has no identity: then only the stored
   * (encrypted) bytes were checked against the signed manifest, not the entries inside them.
   */
  contents: boolean;
  /** Accepted only because of --insecure (see {@link RestoreResult.warnings}). */
  warnings: string[];
  entries: number;
  /** The backup's sizes (core's backupSizes), the same numbers list, show and status give. */
  entryBytes: number;
  storedBytes: number;
  durationMs: number;
}

/**
 * Proves a backup is intact: the stored archive's size and sha256, and every entry's, against
 * the manifest, and its page maps'; for an incremental, also that every link of its chain is
 * present (each link's manifest, and its objects at their recorded sizes; `verify` of each link
 * proves its content). Deep: a restore of the whole chain into a temp folder, which rebuilds and
 * checks every database (sha256 and integrity_check), then removed. Throws the IntegrityError
 * that names the first problem; returns only for a good backup.
 */
export async function verifyBackup(options: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now();
  const { manifest, store } = options;
  const total = archiveObject(manifest).size;
  const keyring = options.keyring ?? Keyring.none();
  const warning = keyring.checkSignature(manifest, `storage "${store.name}"`);
  const warnings = warning === undefined ? [] : [warning];
  const contents = options.deep || (await keyring.canOpenArchives(manifest));
  if (options.deep) {
    const dir = await makeOwnedTempDir(options.tmpDir);
    try {
      const restored = await restoreBackup({
        stores: [store],
        manifest,
        target: path.join(dir, 'restore'),
        integrityCheck: true,
        tmpDir: options.tmpDir,
        onProgress: options.onProgress,
        keyring,
        signal: options.signal,
      });
      for (const w of restored.warnings) if (!warnings.includes(w)) warnings.push(w);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  } else {
    if (manifest.parent !== null) {
      const chain = await loadChain(store, manifest, options.signal);
      await checkChainObjects(store, chain.slice(0, -1), options.signal).catch((error: unknown) => {
        if (!(error instanceof IntegrityError)) throw error;
        throw new BrokenLinkError(error.backupId ?? '?', manifest, error.message, error);
      });
    }
    for (const object of manifest.objects.filter((o) => o.role === 'page-map')) await readVerifiedObject(store, manifest, object, options.signal);
    // The file list is proven as it is read (with the archive), or on its own without an identity.
    const list = fileListObject(manifest);
    if (list && !contents) await checkStoredObject(store, manifest, list, { signal: options.signal });
    let read = 0;
    const onBytes = (n: number) => {
      read += n;
      options.onProgress?.({ phase: 'read', done: read, total });
    };
    if (contents) await readArchive({ store, manifest, listed: listedEntries(store, manifest, options.signal), keyring, signal: options.signal, onBytes });
    // No identity here: the encrypted bytes are still proven against the signed manifest.
    else await checkStoredObject(store, manifest, archiveObject(manifest), { signal: options.signal, onBytes });
  }
  return {
    backupId: manifest.id,
    deep: options.deep ?? false,
    contents,
    warnings,
    entries: manifest.entries.length + (manifest.fileList?.stored ?? 0),
    ...backupSizes(manifest),
    durationMs: performance.now() - started,
  };
}
