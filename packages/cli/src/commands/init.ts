import fs from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { UsageError } from '@botbackup/core';
import { renderStarterConfig, scanBotDir } from '@botbackup/engine';
import type { CommandAction } from '../main.js';

export function initCommand(wrap: (action: CommandAction) => (...args: unknown[]) => Promise<void>): Command {
  return new Command('init')
    .description('write a commented starter config that backs up a bot folder to a local folder')
    .argument('<bot-dir>', "the bot's folder")
    .option('--storage <dir>', 'where backups go (default: ./backups beside the config)')
    .option('--id <id>', 'source id (default: the bot folder name)')
    .option('--force', 'replace an existing config file')
    .action(
      wrap(async (ctx, args, opts) => {
        const botDir = path.resolve(args[0]!);
        const stat = await fs.stat(botDir).catch(() => undefined);
        if (!stat?.isDirectory()) throw new UsageError(`${botDir} is not a folder; give the bot's folder to "botbackup init".`);
        const file = path.resolve(ctx.configFile);
        if (!opts.force && (await fs.stat(file).catch(() => undefined)))
          throw new UsageError(`${file} already exists; pass --force to replace it, or --config <file> to write elsewhere.`);
        const base = path.dirname(file);
        const rel = (p: string) => path.relative(base, p) || '.';
        const storageDir = path.resolve((opts.storage as string | undefined) ?? path.join(base, 'backups'));
        const sourceId =
          (opts.id as string | undefined) ??
          (path
            .basename(botDir)
            .replace(/[^A-Za-z0-9._-]/g, '-')
            .replace(/^[^A-Za-z0-9]+/, '') ||
            'bot');
        const plan = await scanBotDir(botDir);
        await fs.mkdir(base, { recursive: true });
        await fs.writeFile(file, renderStarterConfig(plan, { botDir: rel(botDir), storageDir: rel(storageDir), sourceId }), { mode: 0o600 });
        if (ctx.options.json) {
          ctx.printJson({ config: file, source: sourceId, ...plan });
          return;
        }
        ctx.print(
          `Wrote ${file}: ${plan.databases.length} database(s), ${plan.files.reduce((n, f) => n + f.matched, 0)} file(s) found. Review it, then run "botbackup backup".`,
        );
      }),
    );
}
