export * from './errors.js';
export * from './duration.js';
export * from './format.js';
export * from './backup-id.js';
export * from './config/index.js';
export * from './manifest.js';
export * from './repository-keys.js';
export * from './page-delta.js';
export * from './plan-backup.js';
export * from './build-manifest.js';
export * from './settings-diff.js';
export * from './jobs.js';
export {
  JobPayloadError,
  jobPayloadSchema,
  jobProgressSchema,
  jobResultSchema,
  parseJobPayload,
  type JobPayload,
  type JobProgress,
  type JobResult,
  type PhaseProgress,
} from './job-contract.js';
export { drillKeys, queueKeys, queueNames, redisKeys } from './redis-keys.js';
export * from './redis-options.js';
export * from './redis-health.js';
export * from './retention.js';
export * from './drills.js';
export * from './manifest-summary.js';
export * from './manifest-text.js';
export * from './file-list.js';
export * from './wal-segment.js';
export * from './plan-point-in-time.js';
export * from './summarize-wal.js';
export * from './plan-wal-retention.js';
export * from './check-wal-sequence.js';
export * from './wal-pieces.js';
export * from './worker-heartbeat.js';
