import { Command } from 'commander';
import { formatSeconds } from '@botbackup/core';
import { lowerPriority, selectSource, streamSource, type StreamEvent } from '@botbackup/engine';
import type { WrapAction } from '../command.js';
import type { CommandContext } from '../context.js';

export function streamCommand(wrap: WrapAction): Command {
  return new Command('stream')
    .description("continuous protection until Ctrl-C or SIGTERM: ship a continuous source's newly committed WAL frames to every target each second")
    .option('-s, --source <id>', 'source to stream (needed when the config has several; it must set continuous: true)')
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        const source = selectSource(config, opts.source as string | undefined);
        lowerPriority(config.nice);
        let announced = false;
        await streamSource({
          config,
          sourceId: source.id,
          stores: await ctx.stores(),
          keyring: await ctx.keyring(),
          logger: ctx.logger,
          signal: ctx.signal,
          onEvent: (event) => {
            printEvent(ctx, event);
            if (!announced && event.type === 'generation') {
              announced = true;
              ctx.print(`Streaming "${source.id}" to ${config.storage.map((s) => s.name).join(', ')}; stop it with Ctrl-C or SIGTERM.`);
            }
          },
        });
      }),
    );
}

/** One line per event a user should see; each shipped segment only with -v (or as JSON with --json). */
function printEvent(ctx: CommandContext, event: StreamEvent): void {
  if (ctx.options.json) {
    // One JSON line per event on stdout (ctx.print is for people, and silent under --json).
    process.stdout.write(`${JSON.stringify(event)}\n`);
    return;
  }
  switch (event.type) {
    case 'generation':
      ctx.print(event.resumed ? `Continuing generation ${event.generation}.` : `New generation ${event.generation}: ${event.reason}.`);
      return;
    case 'base':
      ctx.print(`Generation ${event.generation}: first backup ${event.backupId} committed.`);
      return;
    case 'base-failed':
      ctx.print(`Generation ${event.generation}: its first backup failed (${event.error}); trying again in a minute.`);
      return;
    case 'shipped':
      if (ctx.logger.isLevelEnabled('info')) {
        ctx.print(
          `${event.database}: segment ${event.seq}, ${event.commits} commit(s), ${event.frames} frame(s), last commit ${formatSeconds(Date.now() - event.lastCommitAt)} ago${event.failed.length ? `; not on ${event.failed.join(', ')} yet` : ''}.`,
        );
      }
      return;
    case 'caught-up':
      ctx.print(`Storage "${event.store}" is caught up (${event.objects} object(s) copied).`);
      return;
    case 'paused':
      ctx.print(`Shipping stopped: ${event.reason}; a new generation starts once the database can be followed again.`);
      return;
    case 'alert':
      ctx.print(`ALERT: ${event.message}.`);
      return;
    case 'recovered':
      ctx.print('Shipping again: every commit is on a target.');
      return;
  }
}
