export * from './start-worker.js';
export * from './process-job.js';
export * from './source-lock.js';
export * from './health.js';
export * from './drill-history.js';
