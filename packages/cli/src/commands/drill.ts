import { Command } from 'commander';
import { UsageError, formatDuration, formatSeconds, type DrillRecord } from '@botbackup/core';
import { catalogDrillHistory, drillError, lowerPriority, runDrill, selectSource } from '@botbackup/engine';
import type { WrapAction } from '../command.js';
import { submitJob } from '../submit-job.js';

export function drillCommand(wrap: WrapAction): Command {
  return new Command('drill')
    .description(
      'restore drill: restore a backup into a scratch folder, check it (checksums, signatures, integrity_check, check queries) and record its restore time',
    )
    .argument('[backup]', 'backup id, unique id prefix, or "latest" (default: the copy the rotation drilled longest ago)')
    .option('-s, --source <id>', 'source to drill (needed when the config has several)')
    .option('--storage <name>', 'drill only the copy in this storage target')
    .option('--queue', 'hand the drill to a worker through Redis instead of running it here')
    .option('--no-wait', 'with --queue: return once the job is queued')
    .action(
      wrap(async (ctx, args, opts) => {
        const config = await ctx.config();
        const sourceId = selectSource(config, opts.source as string | undefined).id;
        const store = opts.storage as string | undefined;
        if (store !== undefined && !config.storage.some((s) => s.name === store)) {
          throw new UsageError(`${config.file} has no storage target "${store}"; it has ${config.storage.map((s) => s.name).join(', ')}.`);
        }
        if (opts.queue) {
          await submitJob(ctx, { type: 'drill', sourceId, backup: args[0], store }, opts.wait as boolean);
          return;
        }
        lowerPriority(config.nice);
        const record = await runDrill({
          config,
          sourceId,
          stores: await ctx.stores(),
          keyring: await ctx.keyring(),
          history: catalogDrillHistory(await ctx.catalog()),
          backup: args[0],
          store,
          logger: ctx.logger,
          onProgress: ctx.progress.update,
          signal: ctx.signal,
        });
        ctx.progress.done();
        if (ctx.options.json) ctx.printJson(record);
        else ctx.print(describeDrill(record));
        if (!record.ok) throw drillError(record);
      }),
    );
}

/** One paragraph for people: the verdict, restore time, data age and each check. */
export function describeDrill(record: DrillRecord): string {
  const what = `backup ${record.backupId} from "${record.store}"`;
  const chain =
    (record.read.length > 1 ? ` (a chain of ${record.read.length} backups)` : '') +
    (record.wal ? ` and ${record.wal.commits} commit(s) of ${record.wal.segments} shipped WAL segment(s) after it, up to ${record.wal.lastCommitAt}` : '');
  const checks = record.checks.length === 0 ? 'none configured' : record.checks.map((c) => `${c.name} ${c.ok ? 'ok' : 'FAILED'}`).join(', ');
  const lines = record.ok
    ? [
        `drill passed: ${what}${chain} restored and checked in ${formatSeconds(record.restoreMs)}; data age ${formatDuration(record.dataAgeMs)}; checks: ${checks}`,
      ]
    : [`drill FAILED: ${what}${chain}: ${record.error}`];
  for (const c of record.checks) lines.push(`  ${c.ok ? 'ok    ' : 'FAILED'} ${c.name}: ${c.detail}`);
  return lines.join('\n');
}
