import { Command } from 'commander';
import { UsageError, formatBytes, formatSeconds } from '@botbackup/core';
import { parseTimeRef, restoreBackup } from '@botbackup/engine';
import { withBackupSelection } from '../context.js';
import type { WrapAction } from '../command.js';

export function restoreCommand(wrap: WrapAction): Command {
  return withBackupSelection(
    new Command('restore')
      .description('restore a backup (an id, a unique prefix of one, "latest", or a point in time) into a folder')
      .argument('[backup]', 'backup id, unique id prefix, "latest", or a time (the newest backup at or before it)')
      .option('--from <backup>', 'the backup to restore (the same as the argument)')
      .option('--at <time>', 'restore the newest backup made at or before this time (ISO 8601; UTC unless a zone is given)')
      .requiredOption('-t, --target <dir>', 'folder to restore into (created if missing)')
      .option('--only <path>', 'restore only this file or folder of the backup')
      .option('--force', 'replace existing files (all at once through a journal, after the new copy is checked)')
      .option('--deep', 'also run PRAGMA integrity_check on each restored database (its sha256 already proves it is the backed-up copy)'),
  ).action(
    wrap(async (ctx, args, opts) => {
      const refs = [args[0], opts.from, opts.at].filter((r): r is string => typeof r === 'string');
      if (refs.length !== 1) throw new UsageError('Name exactly one backup to restore: an id (or "latest") as the argument, --from <id>, or --at <time>.');
      if (opts.at !== undefined && parseTimeRef(opts.at as string) === undefined) {
        throw new UsageError(`--at "${opts.at as string}" is not a time; use ISO 8601, e.g. 2026-11-26T14:30 (UTC) or 2026-11-26T14:30+02:00.`);
      }
      const { stores, manifest } = await ctx.resolveBackup(refs[0]!, opts);
      const result = await restoreBackup({
        stores,
        manifest,
        target: opts.target as string,
        force: Boolean(opts.force),
        only: opts.only as string | undefined,
        integrityCheck: Boolean(opts.deep),
        tmpDir: (await ctx.config()).tmpDir,
        logger: ctx.logger,
        onProgress: ctx.progress.update,
        keyring: await ctx.keyring(),
        signal: ctx.signal,
      });
      ctx.interruptLine = `Interrupted after backup ${result.backupId} was restored into ${result.target}; it is kept.`;
      ctx.progress.done();
      if (ctx.options.json) {
        ctx.printJson(result);
        return;
      }
      if (result.interrupted) ctx.print(`First ${result.interrupted}.`);
      for (const bad of result.badCopies) ctx.print(`  the copy in "${bad.store}" is not usable: ${bad.error}`);
      for (const warning of result.warnings) ctx.print(`  WARNING: ${warning}`);
      ctx.print(
        `Restored backup ${result.backupId} from "${result.store}": ${result.files} file(s), ${formatBytes(result.bytes)} into ${result.target} in ${formatSeconds(result.durationMs)}.`,
      );
      if (result.chain.length > 1) ctx.print(`  rebuilt from a chain of ${result.chain.length} backups, ${result.chain[0]} to ${result.chain.at(-1)}`);
      for (const db of result.databases)
        ctx.print(`  ${db.path}: sha256 ${db.sha256} matches the backup${db.integrityCheck === 'ok' ? ', integrity_check ok' : ''}`);
    }),
  );
}
