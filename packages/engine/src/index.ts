export {
  createCompressStream,
  type Logger,
  lowerPriority,
  type NotificationEvent,
  type ProgressEvent,
  sendNotification,
  silentLogger,
  TOOL_VERSION,
} from './support/index.js';
export {
  checkBackupKeys,
  createAgeDecryptStream,
  createAgeEncryptStream,
  generateIdentity,
  generateWorkerKey,
  Keyring,
  parseWorkerKey,
} from './crypto/index.js';
export { copyDatabase, pageMapOf, readCommittedWal, snapshotDatabase, WalRestartedError } from './sqlite/index.js';
export { applyDelta, createDeltaStream, PageRebuild, ParallelDecompressStream, SerialDecompressStream } from './archive/index.js';
export { collectFiles } from './source/index.js';
export {
  Catalog,
  type CatalogBackup,
  type CatalogCopy,
  defaultCatalogPath,
  findBackupByTrigger,
  isGoodBackup,
  isTargetFailure,
  listBackupIds,
  listWal,
  loadFiles,
  parseTimeRef,
  readManifest,
  resolveBackupInStores,
  type WalListing,
} from './repository/index.js';
export { checkSourceRoots, loadConfig, renderStarterConfig, scanBotDir } from './config/index.js';
export {
  catalogDrillHistory,
  type CopyVerdict,
  diffFileVersions,
  drillError,
  type DrillHistory,
  type FileDiffResult,
  type FileDiffSide,
  fileHistory,
  finishPendingRestore,
  planRestoreAt,
  pruneBackups,
  readGenerations,
  recoverSource,
  replicate,
  restoreBackup,
  runBackup,
  runDrill,
  selectSource,
  type StreamEvent,
  streamSource,
  verifyBackup,
  verifyCopies,
  worstExitCode,
} from './operations/index.js';
