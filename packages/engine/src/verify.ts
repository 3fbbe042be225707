import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Manifest } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { ProgressListener } from './progress.js';
import { archiveObject, readArchive } from './read-archive.js';
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
 * the manifest (deep: a full restore into a temp folder with integrity checks, then removed).
 * Throws the IntegrityError that names the first problem; returns only for a good backup.
 */
export async function verifyBackup(options: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now();
  const { manifest, store } = options;
  const total = archiveObject(manifest).size;
  if (options.deep) {
    const dir = await fs.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'botbackup-verify-'));
    try {
      await restoreBackup({ store, manifest, target: path.join(dir, 'restore'), onProgress: options.onProgress, signal: options.signal });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  } else {
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
