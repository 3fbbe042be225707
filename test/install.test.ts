import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, createBot, repoRoot, runCli, tempDir, writeConfig } from './helpers/bot.js';

/** The environment without what `npm test` passes down to its children (npm_config_*, npm_package_*), nor a config. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { BOTBACKUP_CONFIG: undefined };
  for (const name of Object.keys(process.env)) if (name.startsWith('npm_')) env[name] = undefined;
  return { ...env, ...extra };
}

/**
 * The README's "Install": `npm install -g` of the clone puts `botbackup` on PATH. npm links a
 * folder (a symbolic link to the clone, whose node_modules and built dist/ it uses), so the
 * install takes a second and needs no registry (--offline proves it).
 */
describe('botbackup installed with npm install -g from the clone', () => {
  let prefix: { dir: string; cleanup: () => Promise<void> };
  let work: { dir: string; cleanup: () => Promise<void> };
  let command: string;

  beforeAll(async () => {
    prefix = await tempDir('bb-install-prefix-');
    work = await tempDir('bb-install-work-');
    // --ignore-scripts: the README's `--allow-scripts=.` lets npm run the clone's build (the root
    // "prepare"), which `npm test` has just done; run here, it would rewrite dist/ under the test
    // files running beside this one.
    const install = await runCli(['npm', 'install', '-g', '--prefix', prefix.dir, '--ignore-scripts', '--offline', '--no-audit', '--no-fund', repoRoot], {
      raw: true,
      cwd: work.dir,
      env: cleanEnv(),
    });
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/EBADENGINE|install-scripts/);
    command = path.join(prefix.dir, 'bin/botbackup');
  });

  afterAll(async () => {
    await prefix?.cleanup();
    await work?.cleanup();
  });

  it("is a command on PATH that runs the clone's CLI from any folder", async () => {
    expect(await fs.realpath(command)).toBe(await fs.realpath(cliBin));
    const { version } = JSON.parse(await fs.readFile(path.join(repoRoot, 'packages/cli/package.json'), 'utf8')) as { version: string };
    const byPath = await runCli(['botbackup', '--version'], {
      raw: true,
      cwd: work.dir,
      env: cleanEnv({ PATH: `${path.join(prefix.dir, 'bin')}${path.delimiter}${process.env.PATH}` }),
    });
    expect(byPath.code, byPath.stderr).toBe(0);
    expect(byPath.stdout.trim()).toBe(version);
  });

  it('backs up a bot folder with a SQLite database to a local folder, and restores it', async () => {
    const bot = path.join(work.dir, 'bot');
    await createBot(bot, { deals: 200 });
    const config = await writeConfig(work.dir, { root: bot, repo: path.join(work.dir, 'backups') });
    const backup = await runCli([command, '--config', config, 'backup', '--json'], { raw: true, cwd: work.dir, env: cleanEnv() });
    expect(backup.code, backup.stderr).toBe(0);
    const list = JSON.parse((await runCli([command, '--config', config, 'list', '--json'], { raw: true, cwd: work.dir, env: cleanEnv() })).stdout) as unknown[];
    expect(list).toHaveLength(1);
    const target = path.join(work.dir, 'restored');
    const restore = await runCli([command, '--config', config, 'restore', 'latest', '--target', target], { raw: true, cwd: work.dir, env: cleanEnv() });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fs.readFile(path.join(target, 'data/trades.db'))).toEqual(await fs.readFile(path.join(bot, 'data/trades.db')));
  });

  it('passes exit codes through unchanged: 2 for bad usage, 3 for a missing config', async () => {
    const usage = await runCli([command, '--no-such-option'], { raw: true, cwd: work.dir, env: cleanEnv() });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^botbackup: /);
    const empty = path.join(work.dir, 'empty');
    await fs.mkdir(empty);
    const noConfig = await runCli([command, 'list'], { raw: true, cwd: empty, env: cleanEnv() });
    expect(noConfig.code).toBe(3);
    expect(noConfig.stderr).toContain(path.join(empty, 'botbackup.yaml'));
  });
});
