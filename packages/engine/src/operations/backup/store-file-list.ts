import { createReadStream } from 'node:fs';
import path from 'node:path';
import { mergeByPath, pathsGone, repositoryKeys, type Manifest, type ManifestFile, type ManifestObject } from '@botbackup/core';
import { FileListWriter, readLocalFileList } from '../../repository/index.js';
import { createCompressStream } from '../../support/index.js';
import type { PlannedLists } from './plan.js';
import type { BackupRun } from './run.js';
import { storeObject, type Packed } from './store-archive.js';

/**
 * Writes this backup's file list (manifest schema 4, see core's file-list.ts) and stores it on
 * every live target: the files its archive stores and, for an incremental, the planned records
 * of the files kept where an ancestor stores them, merged in path order (a file planned to be
 * stored again that was not, because it vanished, is in neither). Returns its object, what it
 * holds, and the parent's files it lacks (`deleted`). One record at a time, from local files.
 *
 * The list is compressed with the archive's codec and not encrypted: it holds what a manifest
 * has always held in plain text (paths, sizes, times and content hashes, which are HMACs in an
 * encrypted repository), and the next incremental reads it on a host without the identity.
 */
export async function storeFileList(
  run: BackupRun,
  packed: Packed,
  lists: PlannedLists | undefined,
): Promise<{ object: ManifestObject; fileList: NonNullable<Manifest['fileList']>; deleted: string[] }> {
  const { config, source, backupId } = run;
  // A full backup's list is the files its archive stores, as written while packing.
  const list = lists ? await mergeKept(run, packed, lists.plannedList) : packed.storedList;
  const key = repositoryKeys.fileList(source.id, backupId, config.compression.codec);
  const written = await storeObject(run, key, [
    createReadStream(list.file, { highWaterMark: 1 << 20 }),
    createCompressStream(config.compression.codec, config.compression.level),
  ]);
  const deleted: string[] = [];
  if (lists)
    for await (const gone of pathsGone(readLocalFileList(lists.parentList, 'of the parent'), readLocalFileList(list.file, 'of this backup')))
      deleted.push(gone);
  return {
    object: { key, role: 'file-list', ...written, compression: config.compression.codec, encryption: null },
    fileList: list.counts,
    deleted,
  };
}

/** An incremental's list: the files its archive stores merged with the planned records of those an ancestor stores. */
async function mergeKept(run: BackupRun, packed: Packed, plannedList: string): Promise<Packed['storedList']> {
  const writer = new FileListWriter(path.join(run.staging, 'files.ndjson'), run.backupId);
  try {
    for await (const record of mergeByPath(keptInAncestors(plannedList, run.backupId), readLocalFileList(packed.storedList.file, 'of this backup')))
      await writer.add(record);
  } finally {
    await writer.close();
  }
  return { file: writer.file, counts: writer.counts.toJSON() };
}

/** The planned records of files an ancestor stores (the others were to be stored by this backup). */
async function* keptInAncestors(plannedList: string, backupId: string): AsyncGenerator<ManifestFile> {
  for await (const record of readLocalFileList(plannedList, 'planned')) if (record.storedIn !== backupId) yield record;
}
