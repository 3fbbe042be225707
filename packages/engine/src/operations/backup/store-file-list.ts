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
  const file = path.join(run.staging, 'files.ndjson');
  const writer = new FileListWriter(file, backupId);
  const stored = readLocalFileList(packed.storedList, 'of this backup');
  try {
    for await (const record of lists ? mergeByPath(keptInAncestors(lists.plannedList, backupId), stored) : stored) await writer.add(record);
  } finally {
    await writer.close();
  }
  const key = repositoryKeys.fileList(source.id, backupId, config.compression.codec);
  const written = await storeObject(run, key, [createReadStream(file, { highWaterMark: 1 << 20 }), createCompressStream(config.compression.codec, config.compression.level)]);
  const deleted: string[] = [];
  if (lists) for await (const gone of pathsGone(readLocalFileList(lists.parentList, 'of the parent'), readLocalFileList(file, 'of this backup'))) deleted.push(gone);
  return {
    object: { key, role: 'file-list', ...written, compression: config.compression.codec, encryption: null },
    fileList: writer.counts.toJSON(),
    deleted,
  };
}

/** The planned records of files an ancestor stores (the others were to be stored by this backup). */
async function* keptInAncestors(plannedList: string, backupId: string): AsyncGenerator<ManifestFile> {
  for await (const record of readLocalFileList(plannedList, 'planned')) if (record.storedIn !== backupId) yield record;
}
