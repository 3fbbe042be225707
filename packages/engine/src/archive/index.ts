export { type ArchiveInput, linkTargetHash, packArchive, type PackResult } from './pack-archive.js';
export { applyDelta, createDeltaStream, type ExpectedDelta } from './page-delta-io.js';
export { PageRebuild } from './page-rebuild.js';
export { archiveObject, readArchive, refuseListedPath } from './read-archive.js';
export { ParallelDecompressStream, SerialDecompressStream } from './parallel-decompress.js';
