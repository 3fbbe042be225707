import { Command, Option } from 'commander';
import { DegradedError, backupSizes, entryCount, UsageError, formatBackupSizes, formatSeconds } from '@botbackup/core';
import { submitJob } from '../submit-job.js';
import { lowerPriority, runBackup, selectSource } from '@botbackup/engine';
import { backupInfo } from '../backup-info.js';
import type { WrapAction } from '../command.js';
import { cleanupLines } from '../output.js';

export function backupCommand(wrap: WrapAction): Command {
  return new Command('backup')
    .description('back up a source now: a full backup, or with --incremental only what changed since the last one')
    .option('-s, --source <id>', 'source to back up (needed when the config has several)')
    .addOption(new Option('--full', 'a full backup (the default)').conflicts('incremental'))
    .option('-i, --incremental', 'store only what changed since a parent backup (full when there is none to build on)')
    .addOption(
      new Option('--since <backup|time>', 'parent of the incremental: the newest backup at or before this id, prefix or time (default: the newest)').implies({
        incremental: true,
      }),
    )
    .option('--queue', 'hand the backup to a worker through Redis instead of running it here')
    .option('--no-wait', 'with --queue: return once the job is queued')
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        if (opts.since !== undefined && opts.queue) throw new UsageError('--since cannot be queued; run that backup here, without --queue.');
        if (opts.queue) {
          const sourceId = selectSource(config, opts.source as string | undefined).id;
          await submitJob(ctx, { type: opts.incremental ? 'incremental' : 'full', sourceId }, opts.wait as boolean);
          return;
        }
        lowerPriority(config.nice);
        const result = await runBackup({
          config,
          sourceId: opts.source as string | undefined,
          incremental: Boolean(opts.incremental),
          since: opts.since as string | undefined,
          stores: await ctx.stores(),
          keyring: await ctx.keyring(),
          logger: ctx.logger,
          onProgress: ctx.progress.update,
          signal: ctx.signal,
        });
        ctx.interruptLine = `Interrupted after backup ${result.manifest.id} was committed; it is kept.`;
        ctx.progress.done();
        const m = result.manifest;
        const catalog = await ctx.catalog();
        for (const s of result.stored) catalog.recordCopy(s.store, m, 'unverified', new Date());
        if (ctx.options.json) {
          ctx.printJson({ ...backupInfo(m), stored: result.stored, failed: result.failed, repaired: result.repaired, cleaned: result.cleaned });
        } else {
          const kind = m.type === 'incremental' ? `Incremental backup ${m.id} (on ${m.parent}, chain depth ${m.chainDepth})` : `Full backup ${m.id}`;
          ctx.print(
            `${kind} of "${m.source.id}": ${entryCount(m)} entr${entryCount(m) === 1 ? 'y' : 'ies'}, ${formatBackupSizes(backupSizes(m))} (${m.compression.codec}) in ${formatSeconds(m.stats.durationMs)}.`,
          );
          if (m.type === 'full' && opts.incremental) ctx.print(`  full because ${m.fullReason}`);
          for (const db of m.databases) if (db.stored.type === 'delta') ctx.print(`  ${db.path}: ${db.stored.pages} of ${db.pageCount} pages changed`);
          if (m.deleted.length > 0) ctx.print(`  ${m.deleted.length} file(s) deleted since the parent`);
          for (const s of m.skipped ?? []) ctx.print(`  skipped ${s.path}: ${s.reason}`);
          for (const r of result.repaired) ctx.print(`  copied ${r.backupId} of the chain into "${r.store}" first`);
          for (const s of result.stored) ctx.print(`  stored in "${s.store}" (${s.location})`);
          for (const f of result.failed) ctx.print(`  NOT stored in "${f.store}" (${f.location}): ${f.error}`);
          for (const line of cleanupLines(result.cleaned)) ctx.print(`  ${line}`);
        }
        if (result.failed.length > 0) {
          const reasons = result.failed.map((f) => `"${f.store}": ${f.error.replace(/\.$/, '')}`).join('; ');
          throw new DegradedError(
            `Backup ${m.id} was committed to ${result.stored.length} of ${result.stored.length + result.failed.length} storage targets, not to ${reasons}; run "botbackup replicate" once ${result.failed.length === 1 ? 'it is' : 'they are'} back.`,
          );
        }
      }),
    );
}
