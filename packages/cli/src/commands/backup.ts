import { Command, Option } from 'commander';
import { lowerPriority, runBackup } from '@botbackup/engine';
import { backupInfo } from '../backup-info.js';
import type { CommandAction } from '../main.js';
import { formatBytes } from '../output.js';

export function backupCommand(wrap: (action: CommandAction) => (...args: unknown[]) => Promise<void>): Command {
  return new Command('backup')
    .description('make a full backup of a source now')
    .option('-s, --source <id>', 'source to back up (needed when the config has several)')
    .addOption(new Option('--full', 'a full backup (the only kind so far; incrementals come later)').default(true))
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        lowerPriority(config.nice);
        const result = await runBackup({
          config,
          sourceId: opts.source as string | undefined,
          stores: await ctx.stores(),
          logger: ctx.logger,
          onProgress: ctx.progress.update,
          signal: ctx.signal,
        });
        ctx.progress.done();
        const m = result.manifest;
        if (ctx.options.json) {
          ctx.printJson({ ...backupInfo(m), stored: result.stored });
          return;
        }
        ctx.print(
          `Backup ${m.id} of "${m.source.id}": ${m.entries.length} entries, ${formatBytes(m.stats.entryBytes)} read, ${formatBytes(m.stats.storedBytes)} stored (${m.compression.codec}) in ${(m.stats.durationMs / 1000).toFixed(1)} s.`,
        );
        for (const s of result.stored) ctx.print(`  stored in "${s.store}" (${s.location})`);
      }),
    );
}
