import { entryCount, fileCount, type Manifest } from './manifest.js';

/**
 * A manifest without its per-file lists (`files`, `entries`, `excluded`): everything else, which
 * stays small however many files a backup holds. A full {@link Manifest} is one too.
 */
export type ManifestHeader = Omit<Manifest, 'files' | 'entries' | 'excluded'>;

/**
 * What the local catalog keeps of a manifest: its header, with the lengths of the lists it leaves
 * out. `list`, `status`, prune, replicate and the dashboard need no more; anything that needs the
 * files (show, restore, verify, diff, history) reads the manifest from storage.
 */
export type ManifestSummary = ManifestHeader & {
  counts: { entries: number; files: number; excluded: number };
};

/** The summary of a manifest (the same key order as the manifest, `counts` in place of the lists). */
export function summarizeManifest(manifest: Manifest): ManifestSummary {
  const { files: _files, entries: _entries, excluded, ...header } = manifest;
  return { ...header, counts: { entries: entryCount(manifest), files: fileCount(manifest), excluded: excluded.length } };
}

/** Whether a manifest-like value is a summary (and so has no file lists). */
export function isManifestSummary(manifest: ManifestHeader): manifest is ManifestSummary {
  return 'counts' in manifest && !('files' in manifest);
}

/**
 * A backup's two sizes, the only ones `list`, `show`, `verify`, `status`, `backup`, the dashboard
 * and `/metrics` show of it (docs/cli.md, "Sizes"), under the same names in every JSON output:
 *
 * - `entryBytes`, shown as **packed**: what the backup packed into its archive, before
 *   compression: its files' and databases' bytes (an incremental: the files it stores and its page
 *   deltas).
 * - `storedBytes`, shown as **stored**: what the backup takes in a storage target, the bytes of
 *   its own objects as stored (compressed, and encrypted when it is): everything under
 *   `data/<source>/<backup-id>/`, so archive, file list and page maps; not its manifest (a few KiB
 *   under `manifests/`), and for an incremental not the links it builds on: what it adds.
 */
export interface BackupSizes {
  entryBytes: number;
  storedBytes: number;
}

/**
 * The sizes of a backup, from its manifest or the catalog's summary of it. The stored size is
 * added up from `objects`, the signed record of what is in storage, rather than read from
 * `stats.storedBytes`: every botbackup wrote the same sum there (schema 1 had the archive as its
 * only object), but this way the number is by construction the one a user checks against the
 * objects (`jq '[.objects[].size] | add'`, or the file sizes under the backup's data folder).
 */
export function backupSizes(manifest: Pick<ManifestHeader, 'objects' | 'stats'>): BackupSizes {
  return { entryBytes: manifest.stats.entryBytes, storedBytes: storedBytesOf(manifest.objects) };
}

/** The bytes a backup's objects take as stored (see {@link BackupSizes}): the sum of their sizes. */
export function storedBytesOf(objects: readonly { size: number }[]): number {
  return objects.reduce((sum, o) => sum + o.size, 0);
}
