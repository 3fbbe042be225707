import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entryOfFile, serializeManifest, type Manifest } from '@botbackup/core';
import { createBot, listFiles, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';
import { fileListPath, storedFiles } from './helpers/file-list.js';

/**
 * Backups written before manifest schema 4 keep their files inline (`files`, and every archive
 * member in `entries`). A repository made by an older botbackup must keep restoring, verifying
 * and serving as the parent of an incremental. The schema 3 backup here is made the way that
 * version wrote it: from a schema 4 backup of the same bot, its file list put back inline and its
 * file list object removed (the archive is the same: files in path order, then the database).
 */
describe('a repository of schema 3 backups (files inline in the manifest)', () => {
  const tmp = useTempDir();

  async function setUp() {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const config = await writeConfig(tmp.dir, { root, repo });
    const made = await runCli(['--config', config, '--json', 'backup']);
    expect(made.code, made.stderr).toBe(0);
    const id = (JSON.parse(made.stdout) as { id: string }).id;
    const manifestFile = path.join(repo, 'manifests/testbot', `${id}.json`);
    const v4 = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as Manifest;
    const files = storedFiles(repo, v4);
    await fs.rm(fileListPath(repo, v4));
    const { fileList: _list, ...rest } = v4;
    const v3: Manifest = {
      ...rest,
      schemaVersion: 3,
      entries: [...files.filter((f) => f.storedIn === id).map(entryOfFile), ...v4.entries],
      files,
      objects: v4.objects.filter((o) => o.role !== 'file-list'),
    };
    await fs.writeFile(manifestFile, serializeManifest(v3));
    return { root, repo, config, id, files };
  }

  it('restores and verifies it, and shows its files', async () => {
    const { root, config, id, files } = await setUp();
    const target = path.join(tmp.dir, 'restored');
    const restore = await runCli(['--config', config, 'restore', id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    const want = [...files.map((f) => f.path), 'data/trades.db'].sort();
    expect(want.length).toBeGreaterThan(4);
    expect(await listFiles(target)).toEqual(want);
    for (const f of want.filter((f) => !f.startsWith('data/'))) expect(await sha256File(path.join(target, f)), f).toBe(await sha256File(path.join(root, f)));
    const only = await runCli(['--config', config, 'restore', id, '--only', 'config', '--target', path.join(tmp.dir, 'only')]);
    expect(only.code, only.stderr).toBe(0);
    expect(await listFiles(path.join(tmp.dir, 'only'))).toEqual(want.filter((f) => f.startsWith('config/')));
    const verify = await runCli(['--config', config, 'verify', id]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const show = await runCli(['--config', config, 'show', id]);
    expect(show.stdout).toMatch(/^config\/bot\.json\s+config/m);
  });

  it('builds an incremental (schema 4) on it, which restores through the mixed chain', async () => {
    const { root, repo, config, id } = await setUp();
    await fs.writeFile(path.join(root, 'config/bot.json'), '{"exchange":"kraken"}');
    const made = await runCli(['--config', config, '--json', 'backup', '--incremental']);
    expect(made.code, made.stderr).toBe(0);
    const inc = JSON.parse(made.stdout) as { id: string; type: string; parent: string };
    expect([inc.type, inc.parent]).toEqual(['incremental', id]);
    const manifest = JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${inc.id}.json`), 'utf8')) as Manifest;
    expect(manifest.schemaVersion).toBe(4);
    const files = storedFiles(repo, manifest);
    expect(files.filter((f) => f.storedIn === inc.id).map((f) => f.path)).toEqual(['config/bot.json']);
    expect(files.find((f) => f.path === '.env')?.storedIn).toBe(id);
    const target = path.join(tmp.dir, 'restored');
    const restore = await runCli(['--config', config, 'restore', inc.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fs.readFile(path.join(target, 'config/bot.json'), 'utf8')).toBe('{"exchange":"kraken"}');
    expect(await sha256File(path.join(target, '.env'))).toBe(await sha256File(path.join(root, '.env')));
  });
});
