import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { serializeManifest, type Manifest } from '@botbackup/core';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { storedFiles, writeStoredFiles } from './helpers/file-list.js';

/**
 * A restore of one file stops reading once it has it, so it never reaches the end of the link's
 * file list, where that list's sha256 is checked. What it writes must still be the version the
 * restored backup's own list (read whole, and checked) records, not whatever a tampered link's
 * list and archive agree on.
 */
describe('restore --only through a chain', () => {
  const tmp = useTempDir();

  it("refuses a file whose link's archive and file list were both altered to agree with each other", async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const config = await writeConfig(tmp.dir, { root, repo });
    const backup = async (...args: string[]) => JSON.parse((await runCli(['--config', config, '--json', 'backup', ...args])).stdout) as { id: string };
    const full = await backup();
    await fs.appendFile(path.join(root, 'logs/bot.log'), 'more\n');
    const inc = await backup('--incremental');
    const manifestFile = path.join(repo, 'manifests/testbot', `${full.id}.json`);
    const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as Manifest;
    const archive = manifest.objects.find((o) => o.role === 'archive')!;

    // The full backup's archive, rebuilt by the system tools with another config/bot.json.
    const unpacked = path.join(tmp.dir, 'unpacked');
    await fs.mkdir(unpacked);
    const order = execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -tf -', 'sh', path.join(repo, archive.key)], { encoding: 'utf8' })
      .trim()
      .split('\n');
    execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -xf - -C "$2"', 'sh', path.join(repo, archive.key), unpacked]);
    const evil = '{"exchange":"evil","withdraw":"attacker"}';
    await fs.writeFile(path.join(unpacked, 'config/bot.json'), evil);
    await fs.writeFile(path.join(tmp.dir, 'order'), `${order.join('\n')}\n`);
    const rebuilt = execFileSync('sh', ['-c', 'tar -cf - -C "$1" --no-recursion -T "$2" | zstd -q -c', 'sh', unpacked, path.join(tmp.dir, 'order')]);
    await fs.writeFile(path.join(repo, archive.key), rebuilt);
    // Its file list agrees with the new content; the manifest's record of the list is left alone
    // (a reader that read the list to its end would notice), the archive's is updated (unsigned repository).
    const files = storedFiles(repo, manifest).map((f) =>
      f.path === 'config/bot.json' ? { ...f, size: evil.length, sha256: createHash('sha256').update(evil).digest('hex') } : f,
    );
    writeStoredFiles(repo, manifest, files);
    Object.assign(archive, { size: rebuilt.length, sha256: createHash('sha256').update(rebuilt).digest('hex') });
    await fs.writeFile(manifestFile, serializeManifest(manifest));

    const target = path.join(tmp.dir, 'one');
    const one = await runCli(['--config', config, 'restore', '--only', 'config/bot.json', '--from', inc.id, '--target', target]);
    expect(one.code, one.stderr).toBe(6);
    expect(one.stderr).toMatch(/"config\/bot\.json" is not the version .* records; the backup was tampered with/);
    await expect(fs.stat(target)).rejects.toThrow();
  });
});
