export { collectFiles } from './collect-files.js';
export { type CollectedFile, CollectedFiles } from './collected-files.js';
export { refuseLinkOnPath, writeLink } from './safe-path.js';
