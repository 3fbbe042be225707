export { type ArchiveInput, linkTargetHash, packArchive, type PackResult } from './pack-archive.js';
export { applyDelta, createDeltaStream, type ExpectedDelta } from './page-delta-io.js';
export { archiveObject, readArchive } from './read-archive.js';
