// The config lives in ./config/. This file stays only for core/src/jobs.ts, which imports
// './config.js' and is being reworked on another branch; point it at './config/index.js' and
// delete this file once that lands.
export * from './config/index.js';
