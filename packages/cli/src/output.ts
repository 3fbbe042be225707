import { formatBytes } from '@botbackup/core';

/** An ISO time (a manifest's, a job's) as `list`, `status` and `jobs` show it: `2026-11-26 06:40:15Z`. */
export function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Renders rows as an aligned plain-text table. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

/**
 * One line per place where leftovers of interrupted runs were removed: the temp folders of dead
 * runs (database copies), then each target's `.part` files and empty folders.
 */
export function cleanupLines(cleaned: {
  folders?: readonly { path: string; bytes: number }[];
  targets?: readonly { store: string; kind: 'part' | 'folder' | 'upload'; bytes: number }[];
}): string[] {
  const lines: string[] = [];
  const folders = cleaned.folders ?? [];
  if (folders.length > 0) {
    const bytes = folders.reduce((sum, f) => sum + f.bytes, 0);
    lines.push(
      `removed ${folders.length === 1 ? 'the temporary copy' : `${folders.length} temporary copies`} of interrupted backups (${formatBytes(bytes)}): ${folders.map((f) => f.path).join(', ')}`,
    );
  }
  const stores = [...new Set((cleaned.targets ?? []).map((t) => t.store))];
  for (const store of stores) {
    const mine = cleaned.targets!.filter((t) => t.store === store);
    const parts = mine.filter((t) => t.kind === 'part');
    const uploads = mine.filter((t) => t.kind === 'upload');
    const dirs = mine.length - parts.length - uploads.length;
    const what = [
      ...(parts.length > 0
        ? [`${parts.length} .part file${parts.length === 1 ? '' : 's'} of interrupted uploads (${formatBytes(parts.reduce((sum, p) => sum + p.bytes, 0))})`]
        : []),
      ...(uploads.length > 0
        ? [`${uploads.length} unfinished multipart upload${uploads.length === 1 ? '' : 's'} (${formatBytes(uploads.reduce((sum, u) => sum + u.bytes, 0))})`]
        : []),
      ...(dirs > 0 ? [`${dirs} empty folder${dirs === 1 ? '' : 's'}`] : []),
    ];
    lines.push(`removed ${what.join(' and ')} in "${store}"`);
  }
  return lines;
}
