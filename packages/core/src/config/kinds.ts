/** What a file set holds; it decides modes on restore and, later, masking and encryption. */
export const FILE_KINDS = ['config', 'secret', 'log', 'other'] as const;
export type FileKind = (typeof FILE_KINDS)[number];
/** Kinds of entries in a backup: files of a file set, or a database snapshot. */
export type EntryKind = FileKind | 'database' | 'database-delta';

export const COMPRESSION_CODECS = ['zstd', 'gzip', 'none'] as const;
export type CompressionCodec = (typeof COMPRESSION_CODECS)[number];

/**
 * How a source's symbolic links are backed up: `store` keeps each as a link (its target text,
 * never followed); `follow-inside` stores a link to a file inside the source root as that file,
 * and skips (and reports) a link that leaves the root, loops or dangles.
 */
export const SYMLINK_POLICIES = ['store', 'follow-inside'] as const;
export type SymlinkPolicy = (typeof SYMLINK_POLICIES)[number];

/** What a scheduled or queued job does. */
export const JOB_TYPES = ['full', 'incremental', 'verify', 'prune', 'replicate', 'drill'] as const;
export type JobType = (typeof JOB_TYPES)[number];
