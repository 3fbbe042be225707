export { Catalog, type CatalogBackup, type CatalogCopy, defaultCatalogPath, isGoodBackup } from './catalog.js';
export { removeLeftovers, storageNow } from './leftovers.js';
export { fetchFileList, FileListWriter, findFile, listedEntries, loadFiles, readLocalFileList, streamFileList } from './file-list.js';
export {
  BrokenLinkError,
  checkChainObjects,
  checkStoredObject,
  findBackupByTrigger,
  listBackupIds,
  listBackups,
  loadChain,
  parseTimeRef,
  readManifest,
  readManifestBytes,
  readVerifiedObject,
  resolveBackupInStores,
  resolveBackupRef,
} from './repository.js';
export { makeOwnedTempDir, removeStaleTemp, removeStaleUploads, type StaleTempCleanup } from './stale-temp.js';
export { isTargetFailure } from './target-failure.js';
export {
  encodeGeneration,
  encodePack,
  encodeSegment,
  listWal,
  type ListedSegment,
  openSegment,
  type PackContent,
  readGeneration,
  readGenerationBytes,
  readSegment,
  type SegmentContent,
  type StoredSegment,
  type WalListing,
} from './wal-segments.js';
