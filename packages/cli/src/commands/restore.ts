import { Command } from 'commander';
import { UsageError, formatBytes, formatSeconds } from '@botbackup/core';
import { parseTimeRef, planRestoreAt, restoreBackup } from '@botbackup/engine';
import { withBackupSelection } from '../context.js';
import type { WrapAction } from '../command.js';

export function restoreCommand(wrap: WrapAction): Command {
  return withBackupSelection(
    new Command('restore')
      .description('restore a backup (an id, a unique prefix of one, "latest", or a point in time) into a folder')
      .argument('[backup]', 'backup id, unique id prefix, "latest", or a time (the newest backup at or before it)')
      .option('--from <backup>', 'the backup to restore (the same as the argument)')
      .option(
        '--at <time>',
        'restore the source as it was at this time (ISO 8601, UTC unless a zone is given, or "5 minutes ago"): the newest backup made before it, and for a continuous source the WAL shipped up to it',
      )
      .requiredOption('-t, --target <dir>', 'folder to restore into (created if missing)')
      .option('--only <path>', 'restore only this file or folder of the backup')
      .option('--force', 'replace existing files (all at once through a journal, after the new copy is checked)')
      .option('--deep', 'also run PRAGMA integrity_check on each restored database (its sha256 already proves it is the backed-up copy)'),
  ).action(
    wrap(async (ctx, args, opts) => {
      const refs = [args[0], opts.from, opts.at].filter((r): r is string => typeof r === 'string');
      if (refs.length !== 1) throw new UsageError('Name exactly one backup to restore: an id (or "latest") as the argument, --from <id>, or --at <time>.');
      const at = opts.at === undefined ? undefined : parseTimeRef(opts.at as string);
      if (opts.at !== undefined && at === undefined) {
        throw new UsageError(
          `--at "${opts.at as string}" is not a time; use ISO 8601, e.g. 2026-11-26T14:30 (UTC) or 2026-11-26T14:30+02:00, or "5 minutes ago".`,
        );
      }
      const config = await ctx.config();
      const sourceId = (opts.source as string | undefined) ?? (config.sources.length === 1 ? config.sources[0]!.id : undefined);
      const continuous = at !== undefined && config.sources.find((s) => s.id === sourceId)?.continuous !== undefined;
      let stores;
      let manifest;
      let replay;
      if (continuous) {
        stores = await ctx.readStores(opts.storage as string | undefined);
        const planned = await planRestoreAt({ stores, sourceId: sourceId!, at, keyring: await ctx.keyring(), signal: ctx.signal });
        manifest = planned.manifest;
        replay = planned.replay;
        if (planned.reason) ctx.print(`No shipped WAL is applied: ${planned.reason}; restoring backup ${manifest.id} alone.`);
        await (await ctx.keyring()).checkOpens(manifest);
      } else {
        ({ stores, manifest } = await ctx.resolveBackup(at ? at.toISOString() : refs[0]!, opts));
      }
      const result = await restoreBackup({
        walReplay: replay,
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
      for (const db of result.databases) {
        const wal = result.wal?.databases.find((w) => w.path === db.path);
        if (wal && wal.commits > 0) {
          ctx.print(
            `  ${db.path}: the backup's copy (sha256 ${db.sha256} matches), then ${wal.commits} commit(s) from ${wal.segments} WAL segment(s) up to ${new Date(wal.lastCommitAt!).toISOString()}; quick_check ok${db.integrityCheck === 'ok' ? ', integrity_check ok' : ''}`,
          );
        } else ctx.print(`  ${db.path}: sha256 ${db.sha256} matches the backup${db.integrityCheck === 'ok' ? ', integrity_check ok' : ''}`);
      }
    }),
  );
}
