import { backupSizes, entryCount, fileCount, isManifestSummary, type Manifest, type ManifestSummary } from '@botbackup/core';

/** The JSON shape `backup --json` prints and `list --json` prints an array of (docs/cli.md). */
export interface BackupInfo {
  id: string;
  type: Manifest['type'];
  /** The backup an incremental builds on; null for a full one. */
  parent: string | null;
  chainDepth: number;
  /** Why the backup is full (e.g. "the chain reached its limit …"); null for an incremental. */
  fullReason: string | null;
  source: string;
  host: string;
  startedAt: string;
  completedAt: string;
  durationMs: number;
  /** Members of this backup's archive. */
  entries: number;
  /** Files as of this backup (stored here or in an earlier link), and files gone since the parent. */
  files: number;
  deleted: string[];
  /** Packed: the bytes of this backup's entries before compression (core's BackupSizes, docs/cli.md "Sizes"). */
  entryBytes: number;
  /** Stored: the bytes this backup's own objects take in a storage target (core's BackupSizes). */
  storedBytes: number;
  compression: Manifest['compression'];
  databases: { name: string; path: string; sha256: string; pageCount: number; pageSize: number; stored: 'snapshot' | 'delta'; deltaPages: number | null }[];
  objects: { key: string; size: number; sha256: string }[];
  warnings: string[];
  /** Files found but not backed up, with why: vanished or shrank while read, links not followed (`symlinks: follow-inside`). */
  skipped: { path: string; reason: string }[];
  stored?: { store: string; location: string; manifestKey: string }[];
}

/** The info of a backup, from its manifest or from the catalog's summary of it (which counts the lists it leaves out). */
export function backupInfo(manifest: Manifest | ManifestSummary): BackupInfo {
  const counts = isManifestSummary(manifest) ? manifest.counts : { entries: entryCount(manifest), files: fileCount(manifest) };
  return {
    id: manifest.id,
    type: manifest.type,
    parent: manifest.parent,
    chainDepth: manifest.chainDepth,
    fullReason: manifest.fullReason,
    source: manifest.source.id,
    host: manifest.source.host,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
    durationMs: manifest.stats.durationMs,
    entries: counts.entries,
    files: counts.files,
    deleted: manifest.deleted,
    ...backupSizes(manifest),
    compression: manifest.compression,
    databases: manifest.databases.map((d) => ({
      name: d.name,
      path: d.path,
      sha256: d.sha256,
      pageCount: d.pageCount,
      pageSize: d.pageSize,
      stored: d.stored.type,
      deltaPages: d.stored.type === 'delta' ? d.stored.pages : null,
    })),
    objects: manifest.objects.map((o) => ({ key: o.key, size: o.size, sha256: o.sha256 })),
    warnings: manifest.warnings,
    skipped: manifest.skipped ?? [],
  };
}
