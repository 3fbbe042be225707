// The config's public names. Section schemas, the problem checks and the helpers that resolve
// sources stay inside the folder: other code gets a Config from parseConfig, never a schema.
export { COMPRESSION_CODECS, FILE_KINDS, JOB_TYPES, SYMLINK_POLICIES } from './kinds.js';
export type { CompressionCodec, EntryKind, FileKind, JobType, SymlinkPolicy } from './kinds.js';
export { findSource } from './find-source.js';
export { parseConfig } from './parse.js';
export type { ParseConfigOptions } from './parse.js';
export { DEFAULT_LEVEL } from './schema.js';
export type { CheckConfig, CompressionConfig, Config, DatabaseConfig, FileSetConfig, SourceConfig } from './schema.js';
export { DEFAULT_INCREMENTAL_LIMITS } from './policies.js';
export type { IncrementalLimits } from './policies.js';
export type { LocalStorageConfig, S3StorageConfig, StorageConfig } from './storage.js';
export { cronProblem } from './schedule.js';
export type { ScheduleConfig } from './schedule.js';
export { redactUrl } from './redis.js';
export type { RedisConfig } from './redis.js';
export { DEFAULT_WORKER } from './worker.js';
export type { NotifyConfig, WorkerConfig } from './worker.js';
export { DEFAULT_DASHBOARD } from './dashboard.js';
export type { DashboardConfig } from './dashboard.js';
export { AGE_RECIPIENT_PATTERN, SIGNING_PUBLIC_KEY_PATTERN } from './security.js';
export type { EncryptionConfig, SigningConfig } from './security.js';
export { formatFieldPath } from './issues.js';
