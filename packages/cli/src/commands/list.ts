import { Command } from 'commander';
import { listBackups } from '@botbackup/engine';
import { backupInfo } from '../backup-info.js';
import { withBackupSelection } from '../context.js';
import type { CommandAction } from '../main.js';
import { formatBytes, formatTable } from '../output.js';

export function listCommand(wrap: (action: CommandAction) => (...args: unknown[]) => Promise<void>): Command {
  return withBackupSelection(new Command('list').description('list the backups in storage, oldest first')).action(
    wrap(async (ctx, _args, opts) => {
      const store = await ctx.store(opts.storage as string | undefined);
      const listed = await listBackups(store, opts.source as string | undefined, ctx.signal);
      if (ctx.options.json) {
        ctx.printJson(listed.map((b) => (b.manifest ? backupInfo(b.manifest) : { id: b.backupId, source: b.sourceId, error: b.error?.message })));
        return;
      }
      if (listed.length === 0) {
        ctx.print(`No backups in "${store.name}" (${store.location}) yet.`);
        return;
      }
      const rows = listed.map((b) =>
        b.manifest
          ? [
              b.backupId,
              b.sourceId,
              b.manifest.type === 'full' ? 'full' : `incr ${b.manifest.chainDepth}`,
              b.manifest.completedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
              String(b.manifest.entries.length),
              formatBytes(b.manifest.stats.entryBytes),
              formatBytes(b.manifest.stats.storedBytes),
            ]
          : [b.backupId, b.sourceId, 'DAMAGED', b.error?.message ?? '', '', '', ''],
      );
      ctx.print(formatTable(['ID', 'SOURCE', 'TYPE', 'COMPLETED', 'ENTRIES', 'SIZE', 'STORED'], rows));
    }),
  );
}
