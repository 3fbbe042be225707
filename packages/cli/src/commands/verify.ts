import { Command } from 'commander';
import { BotbackupError, ExitCode, UsageError } from '@botbackup/core';
import { listBackups, lowerPriority, verifyBackup } from '@botbackup/engine';
import { withBackupSelection } from '../context.js';
import type { CommandAction } from '../main.js';
import { formatBytes } from '../output.js';

export function verifyCommand(wrap: (action: CommandAction) => (...args: unknown[]) => Promise<void>): Command {
  return withBackupSelection(
    new Command('verify')
      .description('check backups against their checksums (--deep: also restore to a temp folder and run integrity_check)')
      .argument('[backup]', 'backup id, unique id prefix, or "latest"')
      .option('--all', 'verify every backup')
      .option('--deep', 'restore into a temp folder and run PRAGMA integrity_check'),
  ).action(
    wrap(async (ctx, args, opts) => {
      if (!opts.all && args[0] === undefined) throw new UsageError('Name a backup to verify, or pass --all.');
      const store = await ctx.store(opts.storage as string | undefined);
      const config = await ctx.config();
      lowerPriority(config.nice);
      const source = opts.source as string | undefined;
      const targets = opts.all
        ? await listBackups(store, source, ctx.signal)
        : [{ manifest: (await ctx.resolveBackup(args[0]!, opts)).manifest, backupId: '', sourceId: '', error: undefined }];
      const results: { id: string; ok: boolean; error?: string; code?: string; durationMs?: number }[] = [];
      for (const target of targets) {
        const id = target.manifest?.id ?? target.backupId;
        if (!target.manifest) {
          results.push({ id, ok: false, error: target.error?.message ?? 'unreadable manifest', code: 'BAD_MANIFEST' });
          ctx.print(`FAILED ${id}: ${target.error?.message}`);
          continue;
        }
        try {
          const r = await verifyBackup({
            store,
            manifest: target.manifest,
            deep: Boolean(opts.deep),
            tmpDir: config.tmpDir,
            onProgress: ctx.progress.update,
            signal: ctx.signal,
          });
          ctx.progress.done();
          results.push({ id, ok: true, durationMs: Math.round(r.durationMs) });
          ctx.print(
            `ok     ${id}: ${r.entries} entries, ${formatBytes(r.storedBytes)} checked${r.deep ? ' and restored with integrity_check' : ''} in ${(r.durationMs / 1000).toFixed(1)} s`,
          );
        } catch (error) {
          ctx.progress.done();
          if (!(error instanceof BotbackupError) || error.exitCode !== ExitCode.integrity) throw error;
          results.push({ id, ok: false, error: error.message, code: error.code });
          ctx.print(`FAILED ${id}: ${error.message}`);
        }
      }
      if (ctx.options.json) ctx.printJson(results);
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0) {
        throw new BotbackupError(
          'VERIFY_FAILED',
          failed.length === 1 ? failed[0]!.error! : `${failed.length} of ${results.length} backups failed verification (listed above).`,
          ExitCode.integrity,
        );
      }
    }),
  );
}
