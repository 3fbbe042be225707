import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '@botbackup/core';
import { createBot, repoRoot, runCli, useTempDir } from './helpers/bot.js';

describe('init and the example bot', () => {
  const tmp = useTempDir();

  it('init writes a commented config that finds the database, config, secret and log files, and backs them up', async () => {
    const bot = path.join(tmp.dir, 'mybot');
    await createBot(bot);
    const config = path.join(tmp.dir, 'botbackup.yaml');
    const init = await runCli(['--config', config, 'init', bot, '--json']);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ source: 'mybot', databases: ['data/trades.db'] });
    // Outside a git work tree nothing more is written.
    expect(JSON.parse(init.stdout)).not.toHaveProperty('gitignore');
    expect((await fs.readdir(path.join(tmp.dir, 'keys'))).sort()).toEqual(['identity.txt', 'worker.key']);
    const text = await fs.readFile(config, 'utf8');
    expect(text).toMatch(/^# botbackup configuration/);
    const parsed = parseConfig(text, { file: config, env: {} });
    expect(parsed.sources[0]!.files.map((f) => f.kind)).toEqual(['config', 'secret', 'log']);
    expect(parsed.storage[0]).toMatchObject({ type: 'local', path: path.join(tmp.dir, 'backups') });

    const again = await runCli(['--config', config, 'init', bot]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; pass --force/);

    const backup = await runCli(['--config', config, 'backup', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const show = JSON.parse((await runCli(['--config', config, 'show', 'latest', '--json'])).stdout);
    // The archive's members: the files stored in this backup (its file list) and the database.
    const members = [...show.files.filter((f: { storedIn: string }) => f.storedIn === show.id), ...show.entries];
    expect(members.map((e: { path: string; kind: string }) => `${e.kind}:${e.path}`).sort()).toEqual([
      'config:config/bot.json',
      'config:config/strategies/grid.json',
      'database:data/trades.db',
      'log:logs/bot.log',
      'secret:.env',
      'secret:keys/binance.key',
    ]);
  });

  it('init inside a git repository keeps git from committing the keys, and says so', async () => {
    const repo = path.join(tmp.dir, 'ops');
    await fs.mkdir(repo);
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
    git('init', '-q');
    const bot = path.join(repo, 'mybot');
    await createBot(bot);
    const init = await runCli(['--config', path.join(repo, 'botbackup.yaml'), 'init', bot]);
    expect(init.code, init.stderr).toBe(0);
    const keys = path.join(repo, 'keys');
    expect(init.stdout).toContain(`The keys are inside the git repository ${repo}: ${path.join(keys, '.gitignore')} keeps git from committing them.`);
    // Untracked files as git sees them: the config and the bot, nothing under keys/.
    const untracked = git('status', '--porcelain', '--untracked-files=all').split('\n').filter(Boolean);
    expect(untracked).toContain('?? botbackup.yaml');
    expect(untracked.filter((line) => line.startsWith('?? keys/'))).toEqual([]);
    expect(git('check-ignore', 'keys/identity.txt', 'keys/worker.key').split('\n').filter(Boolean)).toEqual(['keys/identity.txt', 'keys/worker.key']);
    // Even `git add -A` leaves them out.
    git('add', '-A');
    expect(
      git('diff', '--cached', '--name-only')
        .split('\n')
        .filter((name) => name.startsWith('keys/')),
    ).toEqual([]);
    // The config still works: a backup with the keys init made.
    const backup = await runCli(['--config', path.join(repo, 'botbackup.yaml'), 'backup']);
    expect(backup.code, backup.stderr).toBe(0);
  });

  it('init --keys into a folder of a git repository that has a .gitignore adds the key files to it', async () => {
    const repo = path.join(tmp.dir, 'ops');
    const keys = path.join(repo, 'secrets');
    await fs.mkdir(keys, { recursive: true });
    execFileSync('git', ['-C', repo, 'init', '-q']);
    await fs.writeFile(path.join(keys, '.gitignore'), 'notes.txt');
    const bot = path.join(tmp.dir, 'mybot');
    await createBot(bot);
    const init = await runCli(['--config', path.join(tmp.dir, 'botbackup.yaml'), 'init', bot, '--keys', keys, '--json']);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ gitignore: path.join(keys, '.gitignore') });
    expect(await fs.readFile(path.join(keys, '.gitignore'), 'utf8')).toBe('notes.txt\n/identity.txt\n/worker.key\n');
    const ignored = execFileSync('git', ['-C', repo, 'check-ignore', 'secrets/identity.txt', 'secrets/worker.key', 'secrets/notes.txt'], { encoding: 'utf8' });
    expect(ignored.split('\n').filter(Boolean)).toEqual(['secrets/identity.txt', 'secrets/worker.key', 'secrets/notes.txt']);
  });

  it('the shipped example config backs up the shipped example bot (the quick start)', async () => {
    await fs.cp(path.join(repoRoot, 'examples'), path.join(tmp.dir, 'examples'), { recursive: true });
    const config = path.join(tmp.dir, 'examples/botbackup.yaml');
    const backup = await runCli(['backup'], { cwd: tmp.dir, env: { BOTBACKUP_CONFIG: config } });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^Full backup \S+ of "example-bot": 6 entries/);
    const list = JSON.parse((await runCli(['--config', config, 'list', '--json'])).stdout);
    expect(list).toHaveLength(1);
    expect(list[0].databases[0].pageCount).toBeGreaterThan(100);
  });
});
