import { backupSizes, type ManifestSummary } from '@botbackup/core';
import { isGoodBackup, type CatalogBackup, type CatalogCopy } from '@botbackup/engine';

/**
 * One backup as the dashboard shows it: what it is, when and how it was made, and the state of
 * each target's copy. Deliberately not the manifest: no file list, no hashes (a hash of a
 * `secret` file is a way to test guesses of it), no object keys.
 */
export interface BackupView {
  sourceId: string;
  backupId: string;
  /** Undefined when no copy of the manifest could be read (then `error` says why). */
  type: 'full' | 'incremental' | undefined;
  /** The host that made it. */
  host: string | undefined;
  startedAt: string | undefined;
  completedAt: string | undefined;
  durationSeconds: number | undefined;
  /** Packed: the bytes of its entries before compression (core's backupSizes, docs/cli.md "Sizes"). */
  entryBytes: number | undefined;
  /** Stored: the bytes its own objects take in a storage target (core's backupSizes). */
  storedBytes: number | undefined;
  /** The queued job and schedule that made it; null when it ran from the command line. */
  trigger: { jobId: string; scheduleId: string | null } | null;
  /** Some target lacks a good copy (see the catalog's definition). */
  degraded: boolean;
  /** Restorable and trusted ({@link isGoodBackup}): its manifest was read, some copy is readable, and no copy is known bad. */
  good: boolean;
  error: string | undefined;
  copies: CatalogCopy[];
  /** How its archive is stored (codec, and for whom it is encrypted), for the restore steps; undefined without a manifest. */
  archive: { compression: 'zstd' | 'gzip' | 'none'; encryption: 'recipients' | 'passphrase' | null } | undefined;
  /** Where its databases go, relative to a restored folder (for the restore steps' integrity check). */
  databases: string[];
}

/** A source's backups, newest first, and its newest good one. */
export interface SourceView {
  sourceId: string;
  /** Whether the config names the source (else its backups were only found in the storage targets). */
  configured: boolean;
  newestGood: { backupId: string; completedAt: string; ageSeconds: number } | undefined;
  backups: BackupView[];
}

/** What the page, `/api/backups` and the backup metrics show. */
export interface BackupsSummary {
  generatedAt: string;
  sources: SourceView[];
  /** Every configured target, and whether the last catalog sync could list it. */
  targets: { name: string; reachable: boolean; error: string | undefined }[];
  /** Set when the catalog could not be synced at all (every target failed); the lists are then empty. */
  error: string | undefined;
}

export interface SummarizeBackupsInput {
  /** Source ids in config order: each gets a section, even without backups. */
  sourceIds: string[];
  targets: string[];
  backups: CatalogBackup[];
  unreachable: { target: string; error: string }[];
  error?: string | undefined;
  now: Date;
}

/**
 * Turns the catalog's view of the repository into the dashboard's: per source (configured ones
 * first, in config order, then any other found in the targets), backups newest first and the
 * newest good one with its age at `now`. Pure. An age is never negative: a backup host whose
 * clock runs ahead of this one's reads as age 0.
 */
export function summarizeBackups(input: SummarizeBackupsInput): BackupsSummary {
  return summarizeGroups(groupBackups(input.sourceIds, input.backups), input);
}

/** One source's backups as the dashboard shows them, newest first, and the newest good one: what a catalog sync gives, before any clock is read. */
export interface SourceBackups {
  sourceId: string;
  configured: boolean;
  backups: BackupView[];
  newestGood: BackupView | undefined;
}

/**
 * The first half of {@link summarizeBackups}, the costly one, done once per catalog sync (pure):
 * each backup's view, grouped by source (configured ones first, in config order) and sorted
 * newest first. The arrays it returns are the same for every request until the next sync, which
 * is what the page's caches (rows, trends) are keyed by.
 */
export function groupBackups(sourceIds: readonly string[], backups: readonly CatalogBackup[]): SourceBackups[] {
  const bySource = new Map<string, { t: number; view: BackupView }[]>(sourceIds.map((id) => [id, []]));
  for (const backup of backups) {
    const list = bySource.get(backup.sourceId) ?? [];
    const view = viewOf(backup);
    list.push({ t: timeOf(view.completedAt), view });
    bySource.set(backup.sourceId, list);
  }
  const configured = new Set(sourceIds);
  return [...bySource.entries()].map(([sourceId, keyed]) => {
    // Newest first by completion time, then by id (ids sort by time of start); each time parsed once.
    keyed.sort((a, b) => (a.t !== b.t ? (a.t < b.t ? 1 : -1) : compareIds(b.view.backupId, a.view.backupId)));
    const views = keyed.map((k) => k.view);
    return { sourceId, configured: configured.has(sourceId), backups: views, newestGood: views.find((b) => b.good) };
  });
}

/** The second half of {@link summarizeBackups}, cheap enough for every request: the newest good backup's age at `now`, and the targets' state. */
export function summarizeGroups(
  groups: readonly SourceBackups[],
  input: Pick<SummarizeBackupsInput, 'targets' | 'unreachable' | 'error' | 'now'>,
): BackupsSummary {
  const sources = groups.map(({ sourceId, configured, backups, newestGood: good }): SourceView => ({
    sourceId,
    configured,
    newestGood: good && {
      backupId: good.backupId,
      completedAt: good.completedAt!,
      ageSeconds: Math.max(0, (input.now.getTime() - Date.parse(good.completedAt!)) / 1000),
    },
    backups,
  }));
  const unreachable = new Map(input.unreachable.map((u) => [u.target, u.error]));
  return {
    generatedAt: input.now.toISOString(),
    sources,
    targets: input.targets.map((name) => ({
      name,
      reachable: !unreachable.has(name) && input.error === undefined,
      error: unreachable.get(name) ?? input.error,
    })),
    error: input.error,
  };
}

function viewOf(backup: CatalogBackup): BackupView {
  const m = backup.manifest;
  const sizes = m && backupSizes(m);
  return {
    sourceId: backup.sourceId,
    backupId: backup.backupId,
    type: m?.type,
    host: m?.source.host,
    startedAt: m?.startedAt,
    completedAt: m?.completedAt,
    durationSeconds: m && m.stats.durationMs / 1000,
    entryBytes: sizes?.entryBytes,
    storedBytes: sizes?.storedBytes,
    trigger: m?.trigger ?? null,
    degraded: backup.degraded,
    good: isGoodBackup(backup),
    error: backup.error,
    copies: backup.copies,
    archive: m && archiveOf(m.objects),
    databases: m?.databases.map((d) => d.path) ?? [],
  };
}

/** The archive object's codec and readers (`recipients+worker` is only ever a page map's). */
function archiveOf(objects: ManifestSummary['objects']): BackupView['archive'] {
  const archive = objects.find((o) => o.role === 'archive');
  if (!archive) return undefined;
  const readers = archive.encryption?.readers;
  return { compression: archive.compression, encryption: readers === undefined ? null : readers === 'passphrase' ? 'passphrase' : 'recipients' };
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function timeOf(iso: string | undefined): number {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(t) ? -Infinity : t;
}
