import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker.js';

/** Issue 16: a local target the process may not write, and a worker's check of its targets at start. */
describe('unusable local targets', () => {
  const tmp = useTempDir();

  // Root writes anywhere, so this runs the CLI as the unprivileged user "nobody" (setpriv, from
  // util-linux); it needs root to switch users and is skipped elsewhere rather than faked.
  it.skipIf(process.getuid?.() !== 0)('backup into a folder the process may not write: exit 5, one sentence naming the path', async () => {
    await fs.chmod(tmp.dir, 0o777);
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const repo = path.join(tmp.dir, 'repo');
    await fs.mkdir(repo, { mode: 0o755 });
    await fs.chmod(repo, 0o755);
    const config = await writeConfig(tmp.dir, { root, repo, codec: 'none' });
    // Everything but the target is usable by "nobody": the bot, the config, and its state and cache folders.
    await fs.chmod(config, 0o644);
    await runCli(['chmod', '-R', 'a+rwX', root], { raw: true });
    const home = path.join(tmp.dir, 'home');
    await fs.mkdir(home, { mode: 0o777 });
    await fs.chmod(home, 0o777);
    const r = await runCli(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliBin, '--config', config, 'backup'], {
      raw: true,
      env: { XDG_CACHE_HOME: home, XDG_STATE_HOME: home, HOME: home },
    });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).not.toMatch(/internal error/i);
    const sentences = r.stderr.split('\n').filter((line) => line.startsWith('botbackup:'));
    expect(sentences).toHaveLength(1);
    expect(sentences[0]).toContain(repo);
    expect(sentences[0]).toMatch(/permission denied/);
    expect(await fs.readdir(repo)).toEqual([]);
  });
});
