export { type CollectedFile, collectFiles } from './collect-files.js';
export { CollectedFiles } from './collected-files.js';
export { refuseLinkOnPath, writeLink } from './safe-path.js';
