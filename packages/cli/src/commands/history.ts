import { formatBytes } from '@botbackup/core';
import { Command } from 'commander';
import { fileHistory, selectSource } from '@botbackup/engine';
import { withBackupSelection } from '../context.js';
import type { WrapAction } from '../command.js';
import { formatTable, formatTime } from '../output.js';

export function historyCommand(wrap: WrapAction): Command {
  return withBackupSelection(
    new Command('history')
      .description('list the versions of a file across backups: the backups where its content changed, appeared or was deleted')
      .argument('<path>', 'the file, relative to the source root (as "botbackup show" lists it)'),
  ).action(
    wrap(async (ctx, args, opts) => {
      const config = await ctx.config();
      const sourceId = selectSource(config, opts.source as string | undefined).id;
      const store = await ctx.store(opts.storage as string | undefined);
      const history = await fileHistory(store, sourceId, args[0]!, ctx.signal);
      // A hash of a short secret lets someone confirm a guess: secret files get none.
      const secret = history.versions.some((v) => v.kind === 'secret');
      const versions = history.versions.map(({ sha256, ...v }) => (secret ? v : { ...v, sha256 }));
      if (ctx.options.json) {
        ctx.printJson({ ...history, versions });
        return;
      }
      for (const u of history.unreadable) ctx.logger.warn({ backupId: u.backupId }, `backup ${u.backupId} left out of the history: ${u.error}`);
      const never = history.versions.length === 1 ? ', unchanged since it first appeared' : '';
      ctx.print(
        `${history.path} (${history.versions.at(-1)!.kind}) in ${history.backups} backup(s) of "${sourceId}" in "${store.name}": ${history.versions.length} version(s)${never}`,
      );
      ctx.print('');
      const headers = secret ? ['BACKUP', 'TIME', 'CHANGE', 'SIZE'] : ['BACKUP', 'TIME', 'CHANGE', 'SIZE', 'SHA256'];
      ctx.print(
        formatTable(
          headers,
          history.versions.map((v) => {
            const row = [v.backupId, formatTime(v.time), v.change, v.size === null ? '-' : formatBytes(v.size)];
            return secret ? row : [...row, v.sha256?.slice(0, 16) ?? '-'];
          }),
        ),
      );
      if (secret) ctx.print('(secret file: no hashes shown)');
    }),
  );
}
