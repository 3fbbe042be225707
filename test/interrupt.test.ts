import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBin, createBot, listFiles, useTempDir, writeConfig } from './helpers/bot.js';

describe('an interrupted backup', () => {
  const tmp = useTempDir();

  it('exits 130 on SIGINT, commits nothing and leaves no staging files', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    const staging = path.join(tmp.dir, 'staging');
    await createBot(root, { deals: 150_000 });
    const config = await writeConfig(tmp.dir, { root, repo, extra: `defaults: { tmpDir: ${JSON.stringify(staging)} }` });
    const child = spawn(process.execPath, [cliBin, '--config', config, 'backup', '--debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Interrupt once the backup is under way: its "backup started" log line is out.
    await new Promise<void>((resolve) => {
      const onData = () => {
        if (stderr.includes('backup started')) {
          child.stderr.off('data', onData);
          resolve();
        }
      };
      child.stderr.on('data', onData);
    });
    child.kill('SIGINT');
    const [code] = (await once(child, 'close')) as [number];
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/botbackup: Interrupted; nothing was committed\./);
    expect((await listFiles(repo).catch(() => [])).filter((f) => !f.startsWith('.tmp/'))).toEqual([]);
    expect(await listFiles(path.join(repo, '.tmp')).catch(() => [])).toEqual([]);
    expect(await fs.readdir(staging)).toEqual([]);
  });
});
