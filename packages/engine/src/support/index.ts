export { type Logger, silentLogger } from './logger.js';
export { lowerPriority } from './lower-priority.js';
export { type NotificationEvent, sendNotification } from './notify.js';
export { type ProgressEvent, type ProgressListener } from './progress.js';
export { runWorker } from './run-worker.js';
export { settleAll } from './settle.js';
export { createCompressStream, createDecompressStream, hashFile, HashingStream } from './streams.js';
export { TOOL_VERSION } from './version.js';
