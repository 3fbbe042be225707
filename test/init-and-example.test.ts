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
