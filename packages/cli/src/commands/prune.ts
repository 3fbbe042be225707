import { Command } from 'commander';
import { formatDuration } from '@botbackup/core';
import { lowerPriority, pruneBackups } from '@botbackup/engine';
import type { WrapAction } from '../command.js';
import { cleanupLines, formatTable } from '../output.js';

export function pruneCommand(wrap: WrapAction): Command {
  return new Command('prune')
    .description('apply the retention policy on every storage target: show what each rule keeps, delete the rest (docs/retention.md)')
    .option('-s, --source <id>', 'only this source')
    .option('-n, --dry-run', 'show the plan, delete nothing')
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        lowerPriority(config.nice);
        const stores = await ctx.stores();

        const result = await pruneBackups({
          config,
          stores,
          sourceId: opts.source as string | undefined,
          dryRun: Boolean(opts.dryRun),
          // Manifests read once, and the newest backup this host verified is always kept.
          catalog: await ctx.catalog(),
          logger: ctx.logger,
          signal: ctx.signal,
        });
        if (ctx.options.json) {
          ctx.printJson(result);
          return;
        }
        const now = Date.parse(result.now);
        const rows = result.backups.map((b) => [
          b.id,
          b.sourceId,
          formatDuration(Math.max(0, now - Date.parse(b.time))),
          b.type ?? '?',
          b.keep ? 'keep' : opts.dryRun ? 'would delete' : b.deleted ? 'deleted' : 'delete',
          b.reasons.join(', '),
        ]);
        if (rows.length > 0) ctx.print(formatTable(['BACKUP', 'SOURCE', 'AGE', 'TYPE', 'DECISION', 'KEPT BY / WHY IT GOES'], rows));
        const walRows = result.wal.map((g) => [
          g.id,
          g.sourceId,
          String(g.segments.kept),
          g.action === 'keep' ? 'keep' : `${opts.dryRun ? 'would delete' : 'deleted'} ${g.segments.deleted}${g.action === 'delete' ? ' (whole)' : ''}`,
          g.reasons.join(', '),
        ]);
        if (walRows.length > 0) ctx.print(formatTable(['WAL GENERATION', 'SOURCE', 'SEGMENTS KEPT', 'DECISION', 'KEPT FOR / WHY IT GOES'], walRows));
        const gone = result.backups.filter((b) => !b.keep).length;
        const walGone = result.wal.reduce((n, g) => n + g.segments.deleted, 0);
        const walWhole = result.wal.filter((g) => g.action === 'delete').length;
        const walText =
          result.wal.length > 0
            ? `; WAL: ${walGone} segment(s)${walWhole > 0 ? ` and ${walWhole} whole generation(s)` : ''} ${opts.dryRun ? 'would be deleted' : 'deleted'}`
            : '';
        ctx.print(
          `${result.backups.length - gone} kept, ${gone} ${opts.dryRun ? 'would be deleted (dry run)' : 'deleted'}${result.leftovers.length > 0 ? `, ${result.leftovers.length} leftover object(s) removed` : ''}${walText}.`,
        );
        for (const line of cleanupLines({ targets: result.temporary })) ctx.print(line);
      }),
    );
}
