import { Command } from 'commander';
import { ExitCode, formatSeconds } from '@botbackup/core';
import { recoverSource } from '@botbackup/engine';
import type { WrapAction } from '../command.js';

export function recoverCommand(wrap: WrapAction): Command {
  return new Command('recover')
    .description("check the bot's databases and files where it expects them, and restore what is missing or damaged from the newest usable backup")
    .option('--source <id>', 'the source to check (needed when the config has several)')
    .option('--force', 'recover even though another process (the bot) has a database open')
    .option('--allow-new', 'no database and no backup at all is a new bot: exit 0 instead of 13')
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        const result = await recoverSource({
          config,
          sourceId: opts.source as string | undefined,
          stores: await ctx.stores(),
          keyring: await ctx.keyring(),
          force: Boolean(opts.force),
          allowNew: Boolean(opts.allowNew),
          logger: ctx.logger,
          onProgress: ctx.progress.update,
          signal: ctx.signal,
        });
        if (result.status === 'recovered')
          ctx.interruptLine = `Interrupted after source "${result.sourceId}" was recovered from backup ${result.backupId}; it is kept.`;
        ctx.progress.done();
        if (result.status === 'recovered') ctx.exitCode = ExitCode.recovered;
        if (ctx.options.json) {
          ctx.printJson(result);
          return;
        }
        if (result.interrupted) ctx.print(`First ${result.interrupted}.`);
        for (const warning of result.warnings) ctx.print(`  warning: ${warning}`);
        if (result.status === 'healthy') {
          ctx.print(
            `Source "${result.sourceId}" is healthy: ${result.databases.length} database(s) pass integrity_check and their checks, no file is missing; nothing was changed.`,
          );
          return;
        }
        if (result.status === 'new') {
          ctx.print(`Source "${result.sourceId}" has no database and no backup yet: a new bot; nothing was changed.`);
          return;
        }
        ctx.print(`Recovered source "${result.sourceId}" from backup ${result.backupId} (storage "${result.store}") in ${formatSeconds(result.durationMs)}.`);
        for (const w of result.wal?.databases ?? []) {
          if (w.commits > 0)
            ctx.print(`  ${w.path}: then ${w.commits} commit(s) from ${w.segments} shipped WAL segment(s), up to ${new Date(w.lastCommitAt!).toISOString()}`);
        }
        for (const skipped of result.skipped) ctx.print(`  skipped ${skipped.backupId}: ${skipped.error}`);
        for (const db of result.databases) {
          if (!db.restored) continue;
          ctx.print(`  ${db.path}: ${db.problem}; restored${db.keptAside.length > 0 ? `, the damaged copy kept as ${db.keptAside.join(', ')}` : ''}`);
        }
        for (const file of result.restoredFiles) ctx.print(`  ${file}: was missing; restored`);
      }),
    );
}
