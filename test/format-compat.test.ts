import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entryOfFile, serializeManifest, serializeSignedManifest, type Manifest } from '@botbackup/core';
import { parseWorkerKey } from '@botbackup/engine';
import { createBot, listFiles, makeKeys, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';
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

/**
 * Encrypted backups were stored under the plaintext names (`archive.tar.zst`, `pagemap-<db>.bin`)
 * before objects were named for what they are (`.age`). Readers take every key from the signed
 * manifest, so such a repository keeps working. The old backup here is made the way that version
 * wrote it: an encrypted backup's objects renamed back, its manifest naming them so and signed
 * again with the same worker key.
 */
describe('a repository of encrypted backups stored under the names before .age', () => {
  const tmp = useTempDir();

  async function setUp() {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const keys = await makeKeys(tmp.dir);
    const retention = 'defaults:\n  retention: { keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0, grace: 0s }\n';
    const config = await writeConfig(tmp.dir, { root, repo, keys, extra: retention });
    const made = await runCli(['--config', config, '--json', 'backup']);
    expect(made.code, made.stderr).toBe(0);
    const id = (JSON.parse(made.stdout) as { id: string }).id;
    const manifestFile = path.join(repo, 'manifests/testbot', `${id}.json`);
    const current = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as Manifest;
    const oldName = (key: string) => key.replace(/\.age$/, '');
    for (const o of current.objects.filter((o) => o.encryption !== null)) {
      expect(o.key).toMatch(/\/(archive\.tar\.zst|pagemap-trades\.bin)\.age$/);
      await fs.rename(path.join(repo, o.key), path.join(repo, oldName(o.key)));
    }
    const old: Manifest = {
      ...current,
      databases: current.databases.map((db) => ({ ...db, pageMap: db.pageMap && oldName(db.pageMap) })),
      objects: current.objects.map((o) => ({ ...o, key: oldName(o.key) })),
    };
    const worker = parseWorkerKey(await fs.readFile(keys.workerKeyFile, 'utf8'), 'worker.key');
    await fs.writeFile(manifestFile, serializeSignedManifest(old, worker));
    expect(await listFiles(path.join(repo, 'data/testbot', id))).toEqual(['archive.tar.zst', 'files.ndjson.zst', 'pagemap-trades.bin']);
    return { root, repo, config, id };
  }

  it('restores and verifies it, builds an incremental on its page map, and prune deletes its objects', async () => {
    const { root, repo, config, id } = await setUp();
    const cli = async (...args: string[]) => {
      const run = await runCli(['--config', config, ...args]);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      return run.stdout;
    };
    await cli('restore', id, '--target', path.join(tmp.dir, 'restored'));
    for (const f of ['.env', 'keys/binance.key', 'config/bot.json'])
      expect(await sha256File(path.join(tmp.dir, 'restored', f)), f).toBe(await sha256File(path.join(root, f)));
    expect(await cli('verify', id)).toMatch(new RegExp(`^ok +${id} in "local": .*, checked in`, 'm'));

    // The incremental reads the old backup's page map under its old name; its own objects get the new ones.
    await fs.writeFile(path.join(root, 'config/bot.json'), '{"exchange":"kraken"}');
    const inc = JSON.parse(await cli('--json', 'backup', '--incremental')) as { id: string; type: string; parent: string; databases: { stored: string }[] };
    expect([inc.type, inc.parent, inc.databases[0]!.stored]).toEqual(['incremental', id, 'delta']);
    expect(await listFiles(path.join(repo, 'data/testbot', inc.id))).toEqual(['archive.tar.zst.age', 'files.ndjson.zst', 'pagemap-trades.bin.age']);
    await cli('restore', inc.id, '--target', path.join(tmp.dir, 'restored-inc'), '--deep');
    expect(await fs.readFile(path.join(tmp.dir, 'restored-inc/config/bot.json'), 'utf8')).toBe('{"exchange":"kraken"}');

    // A newer full backup alone is kept: the old chain goes, objects with the old names included.
    const full = JSON.parse(await cli('--json', 'backup')) as { id: string };
    await cli('verify', full.id);
    await cli('prune');
    expect(await listFiles(path.join(repo, 'data/testbot'))).toEqual(
      ['archive.tar.zst.age', 'files.ndjson.zst', 'pagemap-trades.bin.age'].map((f) => `${full.id}/${f}`),
    );
  });
});
