import type { BackupSizes } from './manifest-summary.js';

/**
 * Numbers formatted for people, shared by the CLI and the dashboard so that both show a size or a
 * run's time the same way. Ages and periods are not here: the CLI (`3h 1m`), the dashboard
 * (`3 h 1 min`) and core's messages (`formatDuration` in duration.ts: `26h`) each have a style
 * that their users and tests rely on.
 */
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** A byte count in binary units with one decimal: 512 → "512 B", 1536 → "1.5 KiB", 5 GiB → "5.0 GiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** An elapsed time in milliseconds as seconds with one decimal, as reports of a run show it: 4210 → "4.2 s". */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A backup's sizes as every command and the dashboard word them: "2.4 MiB packed, 603.3 KiB stored" (see {@link BackupSizes}). */
export function formatBackupSizes(sizes: BackupSizes): string {
  return `${formatBytes(sizes.entryBytes)} packed, ${formatBytes(sizes.storedBytes)} stored`;
}
