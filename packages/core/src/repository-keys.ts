import type { CompressionCodec } from './config/index.js';

/**
 * The one place that builds storage keys. Layout (docs/format.md):
 *
 *   manifests/<source>/<backup-id>.json                   the manifest; written last, deleted first
 *   data/<source>/<backup-id>/archive.tar[.zst|.gz][.age]  the archive
 *   data/<source>/<backup-id>/pagemap-<database>.bin[.age] one page map per database
 *   data/<source>/<backup-id>/files.ndjson[.zst|.gz]       the file list (manifest schema 4; never encrypted)
 *   wal/<source>/<generation>/generation.json              where a generation of continuous shipping starts (signed)
 *   wal/<source>/<generation>/<database>/<segment name>    one WAL segment or pack (see formatWalSegmentName)
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
  /** Prefix of the WAL generations of a source (or of every source). */
  walRoot(sourceId?: string): string {
    return sourceId === undefined ? 'wal/' : `wal/${sourceId}/`;
  },
  walGeneration(sourceId: string, generation: string): string {
    return `wal/${sourceId}/${generation}/`;
  },
  /** The generation's start record: written before its first segment. */
  walGenerationRecord(sourceId: string, generation: string): string {
    return `wal/${sourceId}/${generation}/generation.json`;
  },
  walSegmentsPrefix(sourceId: string, generation: string, database: string): string {
    return `wal/${sourceId}/${generation}/${database}/`;
  },
  walSegment(sourceId: string, generation: string, database: string, name: WalSegmentName): string {
    return `wal/${sourceId}/${generation}/${database}/${formatWalSegmentName(name)}`;
  },
  /** The parts of a key under wal/, or undefined for any other key. */
  parseWalKey(
    key: string,
  ):
    | { sourceId: string; generation: string; kind: 'generation' }
    | { sourceId: string; generation: string; kind: 'segment'; database: string; segment: WalSegmentName }
    | undefined {
    const record = /^wal\/([^/]+)\/([^/]+)\/generation\.json$/.exec(key);
    if (record) return { sourceId: record[1]!, generation: record[2]!, kind: 'generation' };
    const match = /^wal\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(key);
    const segment = match ? parseWalSegmentName(match[4]!) : undefined;
    return match && segment ? { sourceId: match[1]!, generation: match[2]!, kind: 'segment', database: match[3]!, segment } : undefined;
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

/**
 * What a segment's key says, so that planning a restore or reporting the RPO needs a listing and
 * no read: its number in the generation (from 1, no gaps), the WAL (salts) and frames it holds,
 * and when its last commit was first seen. The signed header inside repeats all of it, and
 * readers check that the two agree.
 */
export interface WalSegmentName {
  seq: number;
  /**
   * On a pack (many consecutive segments of one WAL stored as one object, docs/format.md): the
   * number of the last segment it holds; it holds `seq` to `lastSeq`. Absent on a segment.
   */
  lastSeq?: number;
  /**
   * On a pack: when the last commit of its first segment was seen (ms), and the longest time
   * between the last commits of two of its consecutive segments, so that the RPO over time (the
   * dashboard's plot) stays readable from a listing once the segments are gone.
   */
  firstSegmentAt?: number;
  maxGapMs?: number;
  salt: [number, number];
  firstFrame: number;
  lastFrame: number;
  /** ms since the epoch when the streamer first saw the segment's last commit. */
  lastCommitAt: number;
}

/** The number of the last segment a segment or pack holds. */
export function lastSeqOf(name: Pick<WalSegmentName, 'seq' | 'lastSeq'>): number {
  return name.lastSeq ?? name.seq;
}

const SEGMENT_NAME = /^(\d{10})-(\d{13})-([0-9a-f]{8})([0-9a-f]{8})-(\d+)-(\d+)\.walseg$/;
const PACK_NAME = /^(\d{10})-(\d{10})-(\d{13})-([0-9a-f]{8})([0-9a-f]{8})-(\d+)-(\d+)-(\d{13})-(\d+)\.walpack$/;

/**
 * `0000000042-1765126800123-0badcafe12345678-101-117.walseg`, and a pack of segments 42 to 97
 * `0000000042-0000000097-1765126800123-0badcafe12345678-101-5117-1765126755123-812.walpack`
 * (then firstSegmentAt and maxGapMs): both sort by their first number, and parse back.
 */
export function formatWalSegmentName(name: WalSegmentName): string {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const seq = (n: number) => String(n).padStart(10, '0');
  const rest = `${String(name.lastCommitAt).padStart(13, '0')}-${hex(name.salt[0])}${hex(name.salt[1])}-${name.firstFrame}-${name.lastFrame}`;
  if (name.lastSeq === undefined) return `${seq(name.seq)}-${rest}.walseg`;
  return `${seq(name.seq)}-${seq(name.lastSeq)}-${rest}-${String(name.firstSegmentAt ?? 0).padStart(13, '0')}-${name.maxGapMs ?? 0}.walpack`;
}

export function parseWalSegmentName(text: string): WalSegmentName | undefined {
  const m = SEGMENT_NAME.exec(text);
  if (m) {
    return {
      seq: Number(m[1]),
      lastCommitAt: Number(m[2]),
      salt: [parseInt(m[3]!, 16), parseInt(m[4]!, 16)],
      firstFrame: Number(m[5]),
      lastFrame: Number(m[6]),
    };
  }
  const p = PACK_NAME.exec(text);
  if (!p || Number(p[2]) <= Number(p[1])) return undefined;
  return {
    seq: Number(p[1]),
    lastSeq: Number(p[2]),
    lastCommitAt: Number(p[3]),
    salt: [parseInt(p[4]!, 16), parseInt(p[5]!, 16)],
    firstFrame: Number(p[6]),
    lastFrame: Number(p[7]),
    firstSegmentAt: Number(p[8]),
    maxGapMs: Number(p[9]),
  };
}
