export * from './start-dashboard.js';
export * from './auth.js';
export * from './summarize-backups.js';
export * from './queue-stats.js';
export * from './render-metrics.js';
export * from './drill-records.js';
export { renderPage, formatAge, type PageInput } from './render-page.js';
