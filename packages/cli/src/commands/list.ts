import { backupSizes, formatBytes } from '@botbackup/core';
import { Command } from 'commander';
import { listWal, type CatalogBackup, type CatalogCopy } from '@botbackup/engine';
import type { Config } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { backupInfo, type BackupInfo } from '../backup-info.js';
import { withBackupSelection } from '../context.js';
import type { WrapAction } from '../command.js';
import { formatTable } from '../output.js';
import { continuousStatus } from '../status-model.js';
import { describeContinuous } from './status.js';

/** One element of `list --json` (docs/cli.md): a backup's info, or for a damaged manifest its id and error. */
export type ListedBackupJson = (BackupInfo | { id: string; source: string; error: string | undefined }) & {
  copies: { target: string; state: CatalogCopy['state']; at: string | null; error: string | null }[];
  degraded: boolean;
};

export function listCommand(wrap: WrapAction): Command {
  return withBackupSelection(new Command('list').description('list the backups and the state of their copies in every storage target, oldest first')).action(
    wrap(async (ctx, _args, opts) => {
      const name = opts.storage as string | undefined;
      const stores = name === undefined ? await ctx.stores() : [await ctx.store(name)];
      const catalog = await ctx.catalog();
      const listed = await catalog.sync(stores, { sourceId: opts.source as string | undefined, signal: ctx.signal });
      if (ctx.options.json) {
        ctx.printJson(listed.map(toJson));
        return;
      }
      const continuous = await continuousLines(await ctx.config(), stores, opts.source as string | undefined, ctx.signal);
      if (listed.length === 0) {
        ctx.print([`No backups in ${stores.map((s) => `"${s.name}" (${s.location})`).join(', ')} yet.`, ...continuous].join('\n'));
        return;
      }
      const rows = listed.map((b) => {
        const copies = b.copies.map((c) => `${c.target}:${c.state}`).join(' ') + (b.degraded ? '  DEGRADED' : '');
        const m = b.manifest;
        if (!m) return [b.backupId, b.sourceId, 'DAMAGED', '', '', '', copies];
        const sizes = backupSizes(m);
        return [
          b.backupId,
          b.sourceId,
          m.type === 'full' ? 'full' : `incr ${m.chainDepth}`,
          m.completedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
          formatBytes(sizes.entryBytes),
          formatBytes(sizes.storedBytes),
          copies,
        ];
      });
      ctx.print(formatTable(['ID', 'SOURCE', 'TYPE', 'COMPLETED', 'PACKED', 'STORED', 'COPIES'], rows));
      // Why a manifest is unreadable or a copy bad, under the table (unreachable targets are logged once each).
      const notes = listed.flatMap((b) => [
        ...(b.manifest ? [] : [`${b.backupId}: ${b.error ?? 'its manifest cannot be read'}`]),
        ...b.copies.filter((c) => c.state === 'bad' && c.error && c.error !== b.error).map((c) => `${b.backupId} in "${c.target}": ${c.error}`),
      ]);
      if (notes.length > 0) ctx.print(['', ...notes].join('\n'));
      if (continuous.length > 0) ctx.print(['', ...continuous].join('\n'));
    }),
  );
}

/**
 * A line per database of each continuous source (of `sourceId`, when given) from the WAL segments
 * the listed targets hold: `continuous "bot" trades: newest shipped commit ... (3m ago),
 * generation ..., 180 segments (1.2 MiB)`, and a gap when there is one. Whether anything waits
 * unshipped is `status`'s part (it reads the database too).
 */
async function continuousLines(config: Config, stores: readonly BackupStore[], sourceId: string | undefined, signal: AbortSignal): Promise<string[]> {
  const lines: string[] = [];
  for (const source of config.sources) {
    if (!source.continuous || (sourceId !== undefined && source.id !== sourceId)) continue;
    const results = await Promise.allSettled(stores.map((store) => listWal(store, source.id, signal)));
    const listings = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const status = continuousStatus(source, { listings, unreachable: [], wal: {} }, Date.now());
    if (listings.length === 0 || !status) {
      lines.push(`continuous "${source.id}": its WAL segments could not be listed`);
      continue;
    }
    for (const d of status.databases) {
      const gap = d.generation?.firstMissingSeq != null ? `; GAP: segment ${d.generation.firstMissingSeq} is missing from every target listed` : '';
      lines.push(`continuous "${source.id}" ${d.database}: ${describeContinuous(d)}${gap}`);
    }
  }
  return lines;
}

function toJson(b: CatalogBackup): ListedBackupJson {
  return {
    ...(b.manifest ? backupInfo(b.manifest) : { id: b.backupId, source: b.sourceId, error: b.error }),
    copies: b.copies.map((c) => ({ target: c.target, state: c.state, at: c.at ?? null, error: c.error ?? null })),
    degraded: b.degraded,
  };
}
