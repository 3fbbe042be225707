import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBot, makeKeys, repoRoot, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';

/** The shell block of docs/format.md's "Checking and restoring by hand", as documented. */
async function documentedSteps(): Promise<string> {
  const doc = await fs.readFile(path.join(repoRoot, 'docs/format.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Checking and restoring by hand'));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('docs/format.md has no sh block in its manual restore section');
  return block[1]!;
}

describe('a backup restores without botbackup, by the steps in docs/format.md', () => {
  const tmp = useTempDir();

  it.each(['zstd', 'gzip'] as const)('with sha256sum, %s, tar and sqlite3', async (codec) => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const config = await writeConfig(tmp.dir, { root, repo, codec });
    const cli = await runCli(['--config', config, 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const { id } = JSON.parse(cli.stdout) as { id: string };

    let script = (await documentedSteps()).replace(/^ID=.*$/m, `ID=${id} SRC=testbot`);
    if (codec === 'gzip') script = script.replaceAll('zstd -dc', 'gzip -dc');
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: repo, encoding: 'utf8' });
    // sha256sum -c printed OK for the archive, the file list, each of the five files and the database; sqlite3 said ok.
    expect(out.match(/: OK$/gm)).toHaveLength(8);
    expect(out.trim().split('\n').at(-1)).toBe('ok');

    const restored = path.join(repo, 'restored');
    for (const file of ['.env', 'config/bot.json', 'keys/binance.key', 'logs/bot.log']) {
      expect(await sha256File(path.join(restored, file))).toBe(await sha256File(path.join(root, file)));
    }
    const manifest = JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${id}.json`), 'utf8'));
    expect(await sha256File(path.join(restored, 'data/trades.db'))).toBe(manifest.databases[0].sha256);
  });

  it('an incremental rebuilds with tar, zstd and the documented Python delta applier', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root, { deals: 5000 });
    const config = await writeConfig(tmp.dir, { root, repo });
    const backup = async (...args: string[]) =>
      JSON.parse((await runCli(['--config', config, '--json', 'backup', ...args])).stdout) as { id: string; type: string };
    const full = await backup();
    const db = path.join(root, 'data/trades.db');
    execFileSync('sqlite3', [db, 'UPDATE deals SET price = price + 1 WHERE id % 400 = 0; INSERT INTO deals (ts) VALUES (1);']);
    const inc = await backup('--incremental');
    expect(inc.type).toBe('incremental');

    const doc = await fs.readFile(path.join(repoRoot, 'docs/format.md'), 'utf8');
    const python = /```python\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('## Checking and restoring by hand')))![1]!;
    await fs.writeFile(path.join(tmp.dir, 'apply.py'), python);
    const unpack = (id: string) => {
      const dir = path.join(tmp.dir, id);
      execFileSync('mkdir', [dir]);
      execFileSync('bash', ['-euo', 'pipefail', '-c', `zstd -dc data/testbot/${id}/archive.tar.zst | tar -xf - -C ${dir}`], { cwd: repo });
      return dir;
    };
    const base = unpack(full.id);
    const delta = unpack(inc.id);
    execFileSync('python3', [path.join(tmp.dir, 'apply.py'), path.join(delta, 'data/trades.db.bbdelta'), path.join(base, 'data/trades.db')]);
    const manifest = JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${inc.id}.json`), 'utf8'));
    expect(await sha256File(path.join(base, 'data/trades.db'))).toBe(manifest.databases[0].sha256);
  });

  it('an encrypted backup: archive.tar.zst.age and pagemap-trades.bin.age open with age, then zstd and tar, by the documented steps', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const keys = await makeKeys(tmp.dir);
    const cli = await runCli(['--config', await writeConfig(tmp.dir, { root, repo, keys }), 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const { id } = JSON.parse(cli.stdout) as { id: string };
    const folder = path.join(repo, 'data/testbot', id);
    expect((await fs.readdir(folder)).sort()).toEqual(['archive.tar.zst.age', 'files.ndjson.zst', 'pagemap-trades.bin.age']);

    const doc = await fs.readFile(path.join(repoRoot, 'docs/format.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### An encrypted backup'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!.replace(/^ID=.*$/m, `ID=${id} SRC=testbot KEY=${keys.identityFile}`);
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: repo, encoding: 'utf8' });
    // sha256sum -c: the archive and the file list; then the keyed hash of each of the five files and of the database.
    expect(out.match(/: OK$/gm)).toHaveLength(2 + 5 + 1);
    for (const file of ['.env', 'config/bot.json', 'keys/binance.key', 'logs/bot.log']) {
      expect(await sha256File(path.join(repo, 'restored', file))).toBe(await sha256File(path.join(root, file)));
    }
    // The page map, as the text after the block says: `age -d -i "$KEY" pagemap-trades.bin.age`.
    const pageMapCommand = /A page map decrypts the same way \(`(age -d -i "\$KEY" pagemap-trades\.bin\.age)`\)/.exec(section)![1]!;
    const pageMap = execFileSync('bash', ['-euo', 'pipefail', '-c', pageMapCommand], { cwd: folder, env: { ...process.env, KEY: keys.identityFile } });
    expect(pageMap.subarray(0, 8).toString('latin1')).toBe('BBPGMAP1');
  });

  it('a flipped byte makes the documented check fail', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const cli = await runCli(['--config', await writeConfig(tmp.dir, { root, repo }), 'backup', '--json']);
    const { id, objects } = JSON.parse(cli.stdout) as { id: string; objects: { key: string }[] };
    const archive = path.join(repo, objects[0]!.key);
    const bytes = await fs.readFile(archive);
    bytes[100]! ^= 0xff;
    await fs.writeFile(archive, bytes);
    const script = (await documentedSteps()).replace(/^ID=.*$/m, `ID=${id} SRC=testbot`);
    let failure: { status: number; stdout: Buffer } | undefined;
    try {
      execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: repo, stdio: 'pipe' });
    } catch (error) {
      failure = error as { status: number; stdout: Buffer };
    }
    expect(failure?.status).not.toBe(0);
    expect(String(failure?.stdout)).toMatch(new RegExp(`${objects[0]!.key}: FAILED`));
    // Step 1 stopped the script: nothing was unpacked.
    await expect(fs.stat(path.join(repo, 'restored'))).rejects.toThrow();
  });
});
