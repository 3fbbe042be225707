import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBot, listFiles, runCli, useTempDir, writeConfig } from './helpers/bot.js';

// Words a user can act on: commander's usage errors and an unknown --source come as every other
// error does, one `botbackup: ...` line on stderr and exit 2 (docs/cli.md, "Exit codes").

describe('usage errors', () => {
  const tmp = useTempDir('all');
  let config: string;

  beforeAll(async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 10 });
    config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
  });

  it.each([
    [['backup', '--frobnicate'], `unknown option '--frobnicate' for "backup"; see "botbackup backup --help".`],
    [['--frobnicate', 'list'], `unknown option '--frobnicate'; see "botbackup --help".`],
    [['restore', 'latest', '--target', 'x', '--forc'], `unknown option '--forc' for "restore" (did you mean --force?); see "botbackup restore --help".`],
    [['catalog', 'rebuild', '--all'], `unknown option '--all' for "catalog rebuild"; see "botbackup catalog rebuild --help".`],
    [['show'], `missing required argument 'backup' for "show"; see "botbackup show --help".`],
    [['restore', 'latest'], `required option '-t, --target <dir>' not specified for "restore"; see "botbackup restore --help".`],
    [['list', '--storage'], `option '--storage <name>' argument missing; see "botbackup list --help".`],
    [['lst'], `unknown command 'lst' (did you mean list?); see "botbackup --help".`],
    [
      ['health', '--role', 'cook'],
      `option '--role <role>' argument 'cook' is invalid; allowed choices are scheduler, worker, dashboard; see "botbackup health --help".`,
    ],
    [['list', 'extra'], `too many arguments for 'list'; expected 0 arguments but got 1; see "botbackup list --help".`],
  ])('%j: one line on stderr, exit 2', async (args, line) => {
    const cli = await runCli(['--config', config, ...args]);
    expect(cli.stderr).toBe(`botbackup: ${line}\n`);
    expect(cli.stdout).toBe('');
    expect(cli.code).toBe(2);
  });

  it('no command: the help on stderr, then one line; --help and --version print on stdout and exit 0', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^Usage: botbackup \[options\] \[command\]\n[\s\S]*\nbotbackup: name a command \(listed above\)\.\n$/);
    const help = await runCli(['restore', '--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: botbackup restore \[options\] \[backup\]/);
    expect(help.stderr).toBe('');
    const version = await runCli(['--version']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe('an unknown --source', () => {
  const tmp = useTempDir('all');
  let config: string;
  let repo: string;
  let target: string;

  beforeAll(async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 10 });
    repo = path.join(tmp.dir, 'repo');
    target = path.join(tmp.dir, 'restored');
    // Two sources, so that the error lists them; and Redis, so that the queue commands parse their config.
    const other = `  - { id: other, root: ${JSON.stringify(root)}, files: [{ kind: config, include: ["config/*.json"] }] }\n`;
    config = await writeConfig(tmp.dir, { root, repo, extra: 'redis: { url: "redis://127.0.0.1:1" }\n' });
    const text = await fs.readFile(config, 'utf8');
    await fs.writeFile(config, text.replace(/\nstorage:/, `\n${other}storage:`));
    const made = await runCli(['--config', config, 'backup', '--source', 'testbot']);
    expect(made.code, made.stderr).toBe(0);
  });

  // Every command that takes --source.
  it.each([
    ['backup'],
    ['backup', '--incremental'],
    ['backup', '--queue'],
    ['restore', 'latest', '--target', '<target>'],
    ['recover'],
    ['list'],
    ['show', 'latest'],
    ['verify', 'latest'],
    ['verify', '--all'],
    ['drill'],
    ['drill', '--queue'],
    ['prune'],
    ['prune', '--dry-run'],
    ['replicate'],
    ['history', 'config/bot.json'],
    ['diff', 'config/bot.json'],
    ['worker'],
    ['health'],
  ])('%j: the same sentence, exit 2, nothing done', async (...args) => {
    const before = await listFiles(repo);
    const cli = await runCli(['--config', config, ...args.map((a) => (a === '<target>' ? target : a)), '--source', 'nope']);
    expect(cli.stderr).toBe(`botbackup: ${config} has no source "nope"; it has testbot, other.\n`);
    expect(cli.stdout).toBe('');
    expect(cli.code).toBe(2);
    expect(await listFiles(repo)).toEqual(before);
    await expect(fs.stat(target)).rejects.toThrow(/ENOENT/);
  });

  it('a source the config has is accepted', async () => {
    const cli = await runCli(['--config', config, 'list', '--source', 'testbot']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/testbot/);
    const other = await runCli(['--config', config, 'list', '--source', 'other']);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).not.toMatch(/testbot/);
  });
});
