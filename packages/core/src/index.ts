export * from './errors.js';
export * from './duration.js';
export * from './backup-id.js';
export * from './config.js';
export * from './manifest.js';
export * from './repository-keys.js';
export * from './page-delta.js';
export * from './plan-backup.js';
