export * from './backup-store.js';
export * from './local-store.js';
export * from './create-store.js';
export * from './write-file.js';
export * from './s3-store.js';
export * from './process-tag.js';
