import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker.js';

/** Issue 16: a local target the process may not write, and a worker's check of its targets at start. */
describe('unusable local targets', () => {
  const tmp = useTempDir();
  let redis: PrivateRedis;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  });

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

  it('a worker checks its targets at start: one warning naming a target under a regular file, and it starts anyway', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const file = path.join(tmp.dir, 'a-file');
    await fs.writeFile(file, 'not a folder\n');
    const blocked = path.join(file, 'repo');
    const good = path.join(tmp.dir, 'good', 'repo');
    const config = await writeConfig(tmp.dir, {
      root,
      repo: good,
      codec: 'none',
      extra: `redis: { url: "${redis.url}", prefix: tc }\nworker: { sources: [testbot] }\n`,
    });
    const text = (await fs.readFile(config, 'utf8')).replace(
      /^compression:/m,
      `  - { name: blocked, type: local, path: ${JSON.stringify(blocked)} }\ncompression:`,
    );
    await fs.writeFile(config, text);
    const worker = startWorkerProcess(config);
    workers.push(worker);
    await worker.waitFor((r) => r.msg === 'worker started');
    const warnings = worker.records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('storage target'));
    expect(warnings.map((r) => r.msg)).toEqual([
      `storage target "blocked" is unusable: Storage "blocked": ${blocked} is not a folder (a file is in the way); fix the target's path.`,
    ]);
    expect(warnings[0]).toMatchObject({ target: 'blocked', location: blocked });
    // Nothing was created for the good target, which does not exist yet: the check writes nothing.
    await expect(fs.stat(path.join(tmp.dir, 'good'))).rejects.toThrow(/ENOENT/);
  });

  it.skipIf(process.getuid?.() !== 0)('a worker run as nobody warns at start about a target folder it may not write', async () => {
    await fs.chmod(tmp.dir, 0o777);
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    await runCli(['chmod', '-R', 'a+rwX', root], { raw: true });
    const repo = path.join(tmp.dir, 'repo');
    await fs.mkdir(repo);
    await fs.chmod(repo, 0o755);
    const config = await writeConfig(tmp.dir, {
      root,
      repo,
      codec: 'none',
      extra: `redis: { url: "${redis.url}", prefix: tn }\nworker: { sources: [testbot] }\n`,
    });
    await fs.chmod(config, 0o644);
    const home = path.join(tmp.dir, 'home');
    await fs.mkdir(home);
    await fs.chmod(home, 0o777);
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliBin, '--config', config, 'worker'], {
      env: { ...process.env, XDG_CACHE_HOME: home, XDG_STATE_HOME: home, HOME: home },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const records: Record<string, unknown>[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stderr }).on('line', (line) => {
          try {
            records.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            return;
          }
          if (records.at(-1)!.msg === 'worker started') resolve();
        });
        void exited.then((code) => reject(new Error(`the worker exited (${String(code)}) before it started: ${JSON.stringify(records)}`)));
      });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const warnings = records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('storage target'));
    expect(warnings.map((r) => r.msg)).toEqual([
      `storage target "local" is unusable: Storage "local" cannot put in ${repo}: permission denied; check the folder's owner and mode.`,
    ]);
  });
});
