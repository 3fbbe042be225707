import type { Manifest } from '@botbackup/core';

/** The JSON shape `backup --json` prints and `list --json` prints an array of (docs/cli.md). */
export interface BackupInfo {
  id: string;
  type: Manifest['type'];
  source: string;
  host: string;
  startedAt: string;
  completedAt: string;
  durationMs: number;
  entries: number;
  entryBytes: number;
  storedBytes: number;
  compression: Manifest['compression'];
  databases: { name: string; path: string; sha256: string; pageCount: number; pageSize: number }[];
  objects: { key: string; size: number; sha256: string }[];
  warnings: string[];
  stored?: { store: string; location: string; manifestKey: string }[];
}

export function backupInfo(manifest: Manifest): BackupInfo {
  return {
    id: manifest.id,
    type: manifest.type,
    source: manifest.source.id,
    host: manifest.source.host,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
    durationMs: manifest.stats.durationMs,
    entries: manifest.entries.length,
    entryBytes: manifest.stats.entryBytes,
    storedBytes: manifest.stats.storedBytes,
    compression: manifest.compression,
    databases: manifest.databases.map((d) => ({ name: d.name, path: d.path, sha256: d.sha256, pageCount: d.pageCount, pageSize: d.pageSize })),
    objects: manifest.objects.map((o) => ({ key: o.key, size: o.size, sha256: o.sha256 })),
    warnings: manifest.warnings,
  };
}
