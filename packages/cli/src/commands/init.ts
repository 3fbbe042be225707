import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { UsageError } from '@botbackup/core';
import { generateIdentity, generateWorkerKey, renderStarterConfig, scanBotDir } from '@botbackup/engine';
import { writeKeyFile } from '../key-file.js';
import type { WrapAction } from '../command.js';

/**
 * Where `init` writes keys: `keys/` beside the config, unless that lies inside the bot's folder
 * (the keys would then be backed up as the bot's own secret files): then the user's config folder.
 */
function defaultKeysDir(base: string, botDir: string, sourceId: string): string {
  const beside = path.join(base, 'keys');
  const rel = path.relative(botDir, beside);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return beside;
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'botbackup', `${sourceId}-keys`);
}

export function initCommand(wrap: WrapAction): Command {
  return new Command('init')
    .description('write a commented starter config that backs up a bot folder to a local folder')
    .argument('<bot-dir>', "the bot's folder")
    .option('--storage <dir>', 'where backups go (default: ./backups beside the config)')
    .option('--id <id>', 'source id (default: the bot folder name)')
    .option('--force', 'replace an existing config file')
    .option(
      '--keys <dir>',
      'where to write the new identity and worker key (default: keys/ beside the config, or ~/.config/botbackup/<id>-keys when that is inside the bot folder)',
    )
    .option('--plaintext', 'no encryption and no signing: make no keys (secret files are then stored readable)')
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
        let keys: { recipient: string; identityFile: string; workerKeyFile: string; publicKey: string } | undefined;
        if (!opts.plaintext) {
          const dir = path.resolve((opts.keys as string | undefined) ?? defaultKeysDir(base, botDir, sourceId));
          const identityFile = path.join(dir, 'identity.txt');
          const workerKeyFile = path.join(dir, 'worker.key');
          const pair = generateIdentity();
          const worker = generateWorkerKey();
          // Never over existing keys: they may be the only way into earlier backups.
          await writeKeyFile(
            identityFile,
            `# botbackup identity: opens every backup; keep a copy OFF this host.\n# public key: ${pair.recipient}\n${pair.identity}\n`,
            false,
          );
          await writeKeyFile(workerKeyFile, worker.text, false);
          keys = { recipient: pair.recipient, identityFile: rel(identityFile), workerKeyFile: rel(workerKeyFile), publicKey: worker.publicKey };
        }
        await fs.writeFile(file, renderStarterConfig(plan, { botDir: rel(botDir), storageDir: rel(storageDir), sourceId, keys }), { mode: 0o600 });
        if (ctx.options.json) {
          ctx.printJson({ config: file, source: sourceId, ...plan, ...(keys ? { recipient: keys.recipient, publicKey: keys.publicKey } : {}) });
          return;
        }
        ctx.print(
          `Wrote ${file}: ${plan.databases.length} database(s), ${plan.files.reduce((n, f) => n + f.matched, 0)} file(s) found. Review it, then run "botbackup backup".`,
        );
        if (keys) {
          ctx.print(`Backups are encrypted to ${keys.recipient} and signed by ${keys.publicKey}.`);
          ctx.print(`Copy ${path.join(base, keys.identityFile)} somewhere safe and off this host: it is the only key that opens the backups.`);
        }
      }),
    );
}
