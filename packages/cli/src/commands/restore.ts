import { Command } from 'commander';
import { restoreBackup } from '@botbackup/engine';
import { withBackupSelection } from '../context.js';
import type { CommandAction } from '../main.js';
import { formatBytes } from '../output.js';

export function restoreCommand(wrap: (action: CommandAction) => (...args: unknown[]) => Promise<void>): Command {
  return withBackupSelection(
    new Command('restore')
      .description('restore a backup (an id, a unique prefix of one, or "latest") into a folder')
      .argument('<backup>', 'backup id, unique id prefix, or "latest"')
      .requiredOption('-t, --target <dir>', 'folder to restore into (created if missing)')
      .option('--only <path>', 'restore only this file or folder of the backup')
      .option('--force', 'replace existing files (atomically, after the new copy is checked)'),
  ).action(
    wrap(async (ctx, args, opts) => {
      const { store, manifest } = await ctx.resolveBackup(args[0]!, opts);
      const result = await restoreBackup({
        store,
        manifest,
        target: opts.target as string,
        force: Boolean(opts.force),
        only: opts.only as string | undefined,
        logger: ctx.logger,
        onProgress: ctx.progress.update,
        signal: ctx.signal,
      });
      ctx.progress.done();
      if (ctx.options.json) {
        ctx.printJson(result);
        return;
      }
      ctx.print(
        `Restored backup ${result.backupId}: ${result.files} file(s), ${formatBytes(result.bytes)} into ${result.target} in ${(result.durationMs / 1000).toFixed(1)} s.`,
      );
      for (const db of result.databases) ctx.print(`  ${db.path}: integrity_check ok, sha256 ${db.sha256}`);
    }),
  );
}
