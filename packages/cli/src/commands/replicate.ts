import { Command } from 'commander';
import { ExitCode, ReplicateIncompleteError, formatBytes } from '@botbackup/core';
import { lowerPriority, readManifest, replicate } from '@botbackup/engine';
import type { WrapAction } from '../command.js';

export function replicateCommand(wrap: WrapAction): Command {
  return new Command('replicate')
    .description('copy every backup that one storage target has and another lacks (checked on the way), and remove leftovers of failed uploads')
    .option('-s, --source <id>', 'only backups of this source')
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        lowerPriority(config.nice);
        const stores = await ctx.stores();
        const result = await replicate({
          stores,
          sourceId: opts.source as string | undefined,
          orphanGraceMs: config.orphanGraceMs,
          // Shipped WAL objects are copied only when signed as this config trusts.
          policy: (await ctx.keyring()).policy,
          logger: ctx.logger,
          onProgress: ctx.progress.update,
          signal: ctx.signal,
        });
        ctx.progress.done();
        const catalog = await ctx.catalog();
        for (const c of result.copied) {
          const store = stores.find((s) => s.name === c.to)!;
          catalog.recordCopy(c.to, await readManifest(store, c.sourceId, c.backupId, ctx.signal), 'unverified', new Date());
        }
        for (const b of result.badCopies) catalog.recordBadCopy(b.store, b.sourceId, b.backupId, b.error, new Date());
        if (ctx.options.json) ctx.printJson(result);
        else {
          for (const u of result.unreachable) ctx.print(`unreachable "${u.store}": ${u.error}`);
          for (const c of result.copied) ctx.print(`copied ${c.backupId} (${c.sourceId}) from "${c.from}" to "${c.to}", ${formatBytes(c.bytes)}`);
          for (const b of result.badCopies) ctx.print(`bad copy of ${b.backupId} in "${b.store}": ${b.error}`);
          for (const f of result.failed) ctx.print(`FAILED to copy ${f.backupId} to "${f.to}": ${f.error}`);
          for (const c of result.wal.copied) ctx.print(`copied ${c.objects} WAL object(s) of "${c.sourceId}" to "${c.to}", ${formatBytes(c.bytes)}`);
          for (const b of result.wal.badCopies) ctx.print(`bad WAL object ${b.key} in "${b.store}": ${b.error}`);
          for (const f of result.wal.failed) ctx.print(`FAILED to copy ${f.key} to "${f.to}": ${f.error}`);
          if (result.removed.length > 0) ctx.print(`removed ${result.removed.length} leftover object(s) of failed uploads`);
          const walCopied = result.wal.copied.reduce((n, c) => n + c.objects, 0);
          const walText =
            walCopied + result.wal.inSync + result.wal.failed.length > 0
              ? `; WAL: ${walCopied} object(s) copied, ${result.wal.inSync} already on every reachable target, ${result.wal.failed.length} failed`
              : '';
          ctx.print(
            `${result.copied.length} cop${result.copied.length === 1 ? 'y' : 'ies'} made, ${result.inSync} backup(s) already on every reachable target, ${result.failed.length} failed${walText}.`,
          );
        }
        const problems = result.failed.length + result.unreachable.length + result.wal.failed.length;
        if (problems > 0) {
          const wal = result.wal.failed[0];
          const first = result.failed[0]
            ? `${result.failed[0].backupId} could not be copied to "${result.failed[0].to}" (${result.failed[0].error.replace(/\.$/, '')})`
            : result.unreachable[0]
              ? `storage "${result.unreachable[0].store}" is unreachable (${result.unreachable[0].error.replace(/\.$/, '')})`
              : `${wal!.key} could not be copied to "${wal!.to}" (${wal!.error.replace(/\.$/, '')})`;
          const noGoodCopy =
            result.failed.some((f) => result.badCopies.some((b) => b.backupId === f.backupId)) ||
            result.wal.failed.some((f) => result.wal.badCopies.some((b) => b.key === f.key));
          throw new ReplicateIncompleteError(
            `Replication is incomplete: ${first}${problems > 1 ? `, and ${problems - 1} more problem(s) listed above` : ''}; run it again once the target is back.`,
            noGoodCopy ? ExitCode.integrity : ExitCode.storage,
          );
        }
      }),
    );
}
