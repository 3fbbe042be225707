import { Command } from 'commander';
import { BackupNotFoundError, BotbackupError, ExitCode, IntegrityError, UsageError, type Manifest } from '@botbackup/core';
import { copyBackup, isTargetFailure, listBackupIds, lowerPriority, readManifest, verifyBackup } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import { withBackupSelection } from '../context.js';
import type { CommandAction } from '../main.js';
import { formatBytes } from '../output.js';

interface CopyResult {
  id: string;
  source: string;
  store: string;
  ok: boolean;
  error?: string;
  code?: string;
  durationMs?: number;
  /** With --repair: the store whose good copy replaced this one. */
  repairedFrom?: string;
}

export function verifyCommand(wrap: (action: CommandAction) => (...args: unknown[]) => Promise<void>): Command {
  return withBackupSelection(
    new Command('verify')
      .description('check every copy of backups against their checksums (--deep: also restore to a temp folder and run integrity_check)')
      .argument('[backup]', 'backup id, unique id prefix, or "latest"')
      .option('--all', 'verify every backup')
      .option('--deep', 'restore into a temp folder and run PRAGMA integrity_check')
      .option('--repair', 'replace a missing or bad copy with a good one from another target (checked on the way)'),
  ).action(
    wrap(async (ctx, args, opts) => {
      if (!opts.all && args[0] === undefined) throw new UsageError('Name a backup to verify, or pass --all.');
      const stores = await ctx.readStores(opts.storage as string | undefined);
      const config = await ctx.config();
      const catalog = await ctx.catalog();
      lowerPriority(config.nice);
      const source = opts.source as string | undefined;
      const unreachable = new Map<BackupStore, string>();
      let backups: { sourceId: string; backupId: string }[];
      if (opts.all) {
        const seen = new Map<string, { sourceId: string; backupId: string }>();
        for (const store of stores) {
          try {
            for (const id of await listBackupIds(store, source, ctx.signal)) seen.set(`${id.sourceId}/${id.backupId}`, id);
          } catch (error) {
            if (!isTargetFailure(error)) throw error;
            unreachable.set(store, error.message);
          }
        }
        backups = [...seen.values()].sort((a, b) => (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
      } else {
        const { manifest } = await ctx.resolveBackup(args[0]!, opts);
        backups = [{ sourceId: manifest.source.id, backupId: manifest.id }];
      }

      const results: CopyResult[] = [];
      for (const backup of backups) {
        const base = { id: backup.backupId, source: backup.sourceId };
        const good: { store: BackupStore; manifest: Manifest }[] = [];
        const bad: { store: BackupStore; result: CopyResult }[] = [];
        for (const store of stores) {
          const fail = (error: BotbackupError) => {
            const result: CopyResult = { ...base, store: store.name, ok: false, error: error.message, code: error.code };
            results.push(result);
            if (error instanceof IntegrityError || error instanceof BackupNotFoundError) {
              catalog.recordBadCopy(store.name, backup.sourceId, backup.backupId, error.message, new Date());
              bad.push({ store, result });
            }
            ctx.print(`FAILED ${backup.backupId} in "${store.name}": ${error.message}`);
          };
          if (unreachable.has(store)) {
            fail(new BotbackupError('STORAGE_UNAVAILABLE', unreachable.get(store)!, ExitCode.storage));
            continue;
          }
          try {
            const manifest = await readManifest(store, backup.sourceId, backup.backupId, ctx.signal);
            const r = await verifyBackup({
              store,
              manifest,
              deep: Boolean(opts.deep),
              tmpDir: config.tmpDir,
              onProgress: ctx.progress.update,
              signal: ctx.signal,
            });
            ctx.progress.done();
            catalog.recordCopy(store.name, manifest, 'verified', new Date());
            good.push({ store, manifest });
            results.push({ ...base, store: store.name, ok: true, durationMs: Math.round(r.durationMs) });
            ctx.print(
              `ok     ${backup.backupId} in "${store.name}": ${r.entries} entries, ${formatBytes(r.storedBytes)} checked${r.deep ? ' and restored with integrity_check' : ''} in ${(r.durationMs / 1000).toFixed(1)} s`,
            );
          } catch (error) {
            ctx.progress.done();
            if (error instanceof BackupNotFoundError) {
              fail(new BackupNotFoundError(`Backup ${backup.backupId} is missing in storage "${store.name}"; run "botbackup replicate" to copy it there.`));
            } else if (error instanceof IntegrityError || (isTargetFailure(error) && !ctx.signal.aborted)) {
              fail(error);
            } else throw error;
          }
        }
        if (opts.repair && good.length > 0) {
          const from = good[0]!;
          for (const { store, result } of bad) {
            await copyBackup(from.store, store, from.manifest, { signal: ctx.signal });
            catalog.recordCopy(store.name, from.manifest, 'verified', new Date());
            result.repairedFrom = from.store.name;
            ctx.print(`repaired ${backup.backupId} in "${store.name}" with the copy in "${from.store.name}"`);
          }
        }
      }
      if (ctx.options.json) ctx.printJson(results);
      const failed = results.filter((r) => !r.ok && r.repairedFrom === undefined);
      if (failed.length > 0) {
        const integrity = failed.some((r) => r.code !== 'STORAGE_UNAVAILABLE' && !r.code?.startsWith('STORAGE_'));
        throw new BotbackupError(
          'VERIFY_FAILED',
          failed.length === 1
            ? failed[0]!.error!
            : `${failed.length} of ${results.length} copies failed verification (listed above)${opts.repair ? '' : '; "botbackup verify --repair" replaces bad copies with good ones'}.`,
          integrity ? ExitCode.integrity : ExitCode.storage,
        );
      }
    }),
  );
}
