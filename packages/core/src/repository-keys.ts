import type { CompressionCodec } from './config/index.js';

/**
 * The one place that builds storage keys. Layout (docs/format.md):
 *
 *   manifests/<source>/<backup-id>.json          the manifest; written last, deleted first
 *   data/<source>/<backup-id>/archive.tar[.zst|.gz]   the archive
 *   data/<source>/<backup-id>/pagemap-<database>.bin  one page map per database
 *   data/<source>/<backup-id>/files.ndjson[.zst|.gz]  the file list (manifest schema 4)
 *
 * A backup exists exactly when its manifest does; anything under data/ without a manifest is
 * an orphan (an interrupted backup or prune).
 */
export const repositoryKeys = {
  manifestsPrefix(sourceId?: string): string {
    return sourceId === undefined ? 'manifests/' : `manifests/${sourceId}/`;
  },
  manifest(sourceId: string, backupId: string): string {
    return `manifests/${sourceId}/${backupId}.json`;
  },
  dataPrefix(sourceId: string, backupId: string): string {
    return `data/${sourceId}/${backupId}/`;
  },
  archive(sourceId: string, backupId: string, codec: CompressionCodec): string {
    return `data/${sourceId}/${backupId}/archive${archiveExtension(codec)}`;
  },
  /** The file list of a backup (manifest schema 4): one JSON record per line, compressed with the archive's codec. */
  fileList(sourceId: string, backupId: string, codec: CompressionCodec): string {
    return `data/${sourceId}/${backupId}/files.ndjson${codec === 'zstd' ? '.zst' : codec === 'gzip' ? '.gz' : ''}`;
  },
  pageMap(sourceId: string, backupId: string, databaseName: string): string {
    return `data/${sourceId}/${backupId}/pagemap-${databaseName}.bin`;
  },
  /** Prefix of every object of every backup (of one source). */
  dataRoot(sourceId?: string): string {
    return sourceId === undefined ? 'data/' : `data/${sourceId}/`;
  },
  /** The backup an object under data/ belongs to, or undefined for any other key. */
  parseDataKey(key: string): { sourceId: string; backupId: string } | undefined {
    const match = /^data\/([^/]+)\/([^/]+)\/[^/]+$/.exec(key);
    return match ? { sourceId: match[1]!, backupId: match[2]! } : undefined;
  },
  /** Parses a manifest key back into its parts, or undefined for any other key. */
  parseManifestKey(key: string): { sourceId: string; backupId: string } | undefined {
    const match = /^manifests\/([^/]+)\/([^/]+)\.json$/.exec(key);
    return match ? { sourceId: match[1]!, backupId: match[2]! } : undefined;
  },
};

/** File extension of an archive for a codec: `.tar.zst`, `.tar.gz` or `.tar`. */
export function archiveExtension(codec: CompressionCodec): string {
  return codec === 'zstd' ? '.tar.zst' : codec === 'gzip' ? '.tar.gz' : '.tar';
}

/** Suffix of a database's page-delta entry in an incremental's archive: `data/trades.db.bbdelta`. */
export const DELTA_SUFFIX = '.bbdelta';
