import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IntegrityError, type Manifest } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { ProgressListener } from './progress.js';
import { archiveObject, readArchive } from './read-archive.js';
import { BrokenLinkError, checkChainObjects, loadChain, readVerifiedObject } from './repository.js';
import { restoreBackup } from './restore.js';

export interface VerifyOptions {
  store: BackupStore;
  manifest: Manifest;
  /** Also restore into a temp folder and run PRAGMA integrity_check on every database. */
  deep?: boolean;
  tmpDir?: string | undefined;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface VerifyResult {
  backupId: string;
  deep: boolean;
  entries: number;
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
  if (options.deep) {
    const dir = await fs.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'botbackup-verify-'));
    try {
      await restoreBackup({ stores: [store], manifest, target: path.join(dir, 'restore'), onProgress: options.onProgress, signal: options.signal });
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
    let read = 0;
    await readArchive({
      store,
      manifest,
      signal: options.signal,
      onBytes: (n) => {
        read += n;
        options.onProgress?.({ phase: 'read', done: read, total });
      },
    });
  }
  return { backupId: manifest.id, deep: options.deep ?? false, entries: manifest.entries.length, storedBytes: total, durationMs: performance.now() - started };
}
