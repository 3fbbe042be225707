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

/** The top folder of the git work tree that holds `dir` (a `.git` folder, or a `.git` file for a worktree or submodule), if any. */
async function gitWorkTree(dir: string): Promise<string | undefined> {
  for (let current = dir; ; current = path.dirname(current)) {
    if (await fs.lstat(path.join(current, '.git')).catch(() => undefined)) return current;
    if (path.dirname(current) === current) return undefined;
  }
}

const KEYS_GITIGNORE =
  '# Written by "botbackup init": this folder holds the identity that opens every backup and the\n# worker key that signs them; git must never commit them.\n*\n';

/**
 * Keeps git from committing the new keys when their folder is inside a git work tree (a config
 * kept in a repository, keys/ beside it): a `.gitignore` in the keys folder that ignores all of
 * it, or, when the folder already has one, the two key files added to it. Returns the
 * `.gitignore` written and the work tree, or nothing outside git.
 */
async function ignoreKeysInGit(keysDir: string): Promise<{ file: string; workTree: string } | undefined> {
  const workTree = await gitWorkTree(keysDir);
  if (!workTree) return undefined;
  const file = path.join(keysDir, '.gitignore');
  const existing = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (existing === undefined) await fs.writeFile(file, KEYS_GITIGNORE, { mode: 0o600 });
  else {
    const lines = new Set(existing.split('\n').map((line) => line.trim()));
    const add = ['/identity.txt', '/worker.key'].filter((line) => !lines.has(line) && !lines.has(line.slice(1)) && !lines.has('*'));
    if (add.length > 0) await fs.appendFile(file, `${existing.endsWith('\n') || existing === '' ? '' : '\n'}${add.join('\n')}\n`);
  }
  return { file, workTree };
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
        let gitignore: { file: string; workTree: string } | undefined;
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
          gitignore = await ignoreKeysInGit(dir);
          keys = { recipient: pair.recipient, identityFile: rel(identityFile), workerKeyFile: rel(workerKeyFile), publicKey: worker.publicKey };
        }
        await fs.writeFile(file, renderStarterConfig(plan, { botDir: rel(botDir), storageDir: rel(storageDir), sourceId, keys }), { mode: 0o600 });
        if (ctx.options.json) {
          ctx.printJson({
            config: file,
            source: sourceId,
            ...plan,
            ...(keys ? { recipient: keys.recipient, publicKey: keys.publicKey } : {}),
            ...(gitignore ? { gitignore: gitignore.file } : {}),
          });
          return;
        }
        ctx.print(
          `Wrote ${file}: ${plan.databases.length} database(s), ${plan.files.reduce((n, f) => n + f.matched, 0)} file(s) found. Review it, then run "botbackup backup".`,
        );
        if (keys) {
          ctx.print(`Backups are encrypted to ${keys.recipient} and signed by ${keys.publicKey}.`);
          ctx.print(`Copy ${path.join(base, keys.identityFile)} somewhere safe and off this host: it is the only key that opens the backups.`);
          if (gitignore) ctx.print(`The keys are inside the git repository ${gitignore.workTree}: ${gitignore.file} keeps git from committing them.`);
        }
      }),
    );
}
