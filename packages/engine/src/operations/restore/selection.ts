import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, UsageError, type Manifest, type ManifestFile, type RestorableItem } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { refuseListedPath } from '../../archive/index.js';
import { FileListWriter, isTargetFailure, makeOwnedTempDir, readLocalFileList, streamFileList } from '../../repository/index.js';
import { isSelected, nothingSelected, onlyPath, selectDatabases } from './plan.js';

/**
 * What a restore brings back, kept on disk rather than in memory: the selected files' records
 * (the restored backup's, in path order) in a local file list, how many each link of the chain
 * stores, and the selected databases. A million files cost a file of about 200 MB in botbackup's
 * temp folder and a few numbers here.
 */
export interface Selection {
  list: string;
  files: number;
  /** Selected files per backup id (`storedIn`). */
  filesIn: Map<string, number>;
  databases: RestorableItem[];
  /** The temp folder that holds `list`; removed by {@link disposeSelection}. */
  dir: string;
}

/**
 * Reads the backup's file list (from the first store whose copy of it is good) and keeps what
 * `--only` selects. Refuses, before anything is read from an archive, a path that is unsafe or
 * lies under one of the backup's symbolic links (nothing is ever written through a link); an
 * `--only` that selects nothing is a BackupNotFoundError.
 */
export async function selectFiles(
  stores: readonly BackupStore[],
  manifest: Manifest,
  only: string | undefined,
  signal: AbortSignal | undefined,
  tmpDir?: string,
): Promise<Selection> {
  const dir = await makeOwnedTempDir(tmpDir);
  try {
    const databases = selectDatabases(manifest, only);
    const list = path.join(dir, 'selected-files.ndjson');
    const { files, filesIn } = await fromAnyStore(stores, (store) => writeSelected(store, manifest, onlyPath(only), list, signal), signal);
    if (only !== undefined && files === 0 && databases.length === 0) throw nothingSelected(manifest, only);
    return { list, files, filesIn, databases, dir };
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export async function disposeSelection(selection: Selection): Promise<void> {
  await fs.rm(selection.dir, { recursive: true, force: true });
}

/** The selected files' records, in path order. */
export function selectedFiles(selection: Selection): AsyncGenerator<ManifestFile> {
  return readLocalFileList(selection.list, 'of the restore');
}

/** Every selected item: the files (in path order), then the databases. */
export async function* selectedItems(selection: Selection): AsyncGenerator<Pick<RestorableItem, 'path' | 'kind'>> {
  yield* selectedFiles(selection);
  yield* selection.databases;
}

/** The selected files one link of the chain stores, in its archive's order. */
export async function* filesStoredIn(selection: Selection, linkId: string): AsyncGenerator<ManifestFile> {
  for await (const f of selectedFiles(selection)) if (f.storedIn === linkId) yield f;
}

async function writeSelected(
  store: BackupStore,
  manifest: Manifest,
  wanted: string | undefined,
  list: string,
  signal: AbortSignal | undefined,
): Promise<{ files: number; filesIn: Map<string, number> }> {
  const writer = new FileListWriter(list, manifest.id);
  const filesIn = new Map<string, number>();
  // Links seen so far: a path under one comes after it (a prefix sorts first).
  const links = new Set<string>();
  try {
    for await (const f of streamFileList(store, manifest, signal)) {
      refuseListedPath(manifest.id, f.path, links);
      if (f.linkTarget !== undefined) links.add(f.path);
      if (!isSelected(f.path, wanted)) continue;
      await writer.add(f);
      filesIn.set(f.storedIn, (filesIn.get(f.storedIn) ?? 0) + 1);
    }
  } finally {
    await writer.close();
  }
  return { files: writer.counts.files, filesIn };
}

/** Runs `read` on each store in turn until one succeeds; a bad or unreachable copy is worth the next try, anything else is final. */
async function fromAnyStore<T>(stores: readonly BackupStore[], read: (store: BackupStore) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  let first: unknown;
  for (const store of stores) {
    try {
      return await read(store);
    } catch (error) {
      if (!(error instanceof IntegrityError || isTargetFailure(error)) || signal?.aborted) throw error;
      first ??= error;
    }
  }
  if (first === undefined) throw new UsageError('No storage target to restore from.');
  throw first;
}
