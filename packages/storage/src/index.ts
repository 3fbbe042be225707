export * from './backup-store.js';
export * from './local-store.js';
export * from './create-store.js';
export * from './write-file.js';
