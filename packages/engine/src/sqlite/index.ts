export { checkDatabase, runChecks } from './check-database.js';
export { copyDatabase, WalRestartedError } from './copy-database.js';
export { readCommittedWal } from './committed-wal.js';
export { pageMapOf } from './page-hash.js';
export { assertSourceFile, snapshotDatabase, type SnapshotHandle, startSnapshot } from './snapshot-database.js';
export { tidyWalSidecars, walSidecars } from './sqlite-sidecars.js';
export { WAL_FRAME_HEADER_SIZE } from './sqlite-wal.js';
export { applyWalFrames, commitFrames, WalContinuityError, WalFollower, type WalPosition, type WalSegment } from './wal-follower.js';
export { FollowerProcess } from './follower-process.js';
