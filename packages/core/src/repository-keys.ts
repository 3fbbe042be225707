import type { CompressionCodec } from './config/index.js';

/**
 * The one place that builds storage keys. Layout (docs/format.md):
 *
 *   manifests/<source>/<backup-id>.json                   the manifest; written last, deleted first
 *   data/<source>/<backup-id>/archive.tar[.zst|.gz][.age]  the archive
 *   data/<source>/<backup-id>/pagemap-<database>.bin[.age] one page map per database
 *   data/<source>/<backup-id>/files.ndjson[.zst|.gz]       the file list (manifest schema 4; never encrypted)
 *
 * An encrypted object ends in `.age`, so that its name says what opens it (`age -d`, then the
 * codec's tool). Readers never derive a key: they take it from the manifest's `objects`, so
 * backups written before the `.age` names (encrypted objects named like plaintext ones) read
 * the same. A backup exists exactly when its manifest does; anything under data/ without a
 * manifest is an orphan (an interrupted backup or prune).
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
  /** The archive of a backup; `encrypted`: it is an age file (`archive.tar.zst.age`). */
  archive(sourceId: string, backupId: string, codec: CompressionCodec, encrypted: boolean): string {
    return `data/${sourceId}/${backupId}/archive${archiveExtension(codec)}${encrypted ? AGE_EXTENSION : ''}`;
  },
  /** The file list of a backup (manifest schema 4): one JSON record per line, compressed with the archive's codec. */
  fileList(sourceId: string, backupId: string, codec: CompressionCodec): string {
    return `data/${sourceId}/${backupId}/files.ndjson${codec === 'zstd' ? '.zst' : codec === 'gzip' ? '.gz' : ''}`;
  },
  /** The page map of one database of a backup; `encrypted`: it is an age file (`pagemap-trades.bin.age`). */
  pageMap(sourceId: string, backupId: string, databaseName: string, encrypted: boolean): string {
    return `data/${sourceId}/${backupId}/pagemap-${databaseName}.bin${encrypted ? AGE_EXTENSION : ''}`;
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

/** What the name of an encrypted object ends with: age's own convention (`age -o file.age`). */
export const AGE_EXTENSION = '.age';

/** Suffix of a database's page-delta entry in an incremental's archive: `data/trades.db.bbdelta`. */
export const DELTA_SUFFIX = '.bbdelta';
