import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { entryCount, parseManifest, repositoryKeys } from '@botbackup/core';
import { defaultCatalogPath } from '@botbackup/engine';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { withFiles } from './helpers/file-list.js';

/** Every byte of the catalog: the file and its -wal (where SQLite may still hold recent pages). */
async function catalogBytes(file: string): Promise<string> {
  const parts = await Promise.all([file, `${file}-wal`].map((f) => fs.readFile(f).catch(() => Buffer.alloc(0))));
  return Buffer.concat(parts).toString('latin1');
}

describe('the catalog keeps summaries, not file lists', () => {
  const tmp = useTempDir();

  it('after a backup of many files the catalog holds none of their paths; a schema 1 catalog is migrated and lists the same', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 50 });
    await fs.mkdir(path.join(root, 'config/many'), { recursive: true });
    for (let i = 0; i < 600; i++) await fs.writeFile(path.join(root, 'config/many', `strategy-${String(i).padStart(4, '0')}-zqx.json`), `{"i":${i}}`);
    const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
    const env = { XDG_STATE_HOME: path.join(tmp.dir, 'state') };
    const cli = (...args: string[]) => runCli(['--config', config, ...args], { env });
    const backup = await cli('--json', 'backup');
    expect(backup.code, backup.stderr).toBe(0);
    const id = JSON.parse(backup.stdout).id as string;
    const manifestFile = path.join(tmp.dir, 'repo', repositoryKeys.manifest('testbot', id));
    const manifest = withFiles(path.join(tmp.dir, 'repo'), parseManifest(await fs.readFile(manifestFile, 'utf8'), 'test'));
    expect(manifest.files.length).toBeGreaterThan(600);

    const catalogFile = defaultCatalogPath(config, env);
    const listed = await cli('list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const before = JSON.parse(listed.stdout) as { id: string; files: number; entries: number; copies: { state: string }[] }[];
    expect(before.map((b) => [b.id, b.files, b.entries])).toEqual([[id, manifest.files.length, entryCount(manifest)]]);
    const table = (await cli('list')).stdout;
    const bytes = await catalogBytes(catalogFile);
    expect(bytes).toContain(id);
    expect(bytes).not.toContain('-zqx.json');
    expect(bytes).not.toContain('strategies/grid.json');

    // The layout of schema 1: the whole manifest in `json`. Also a verified copy, which must survive.
    const raw = new Database(catalogFile);
    raw.prepare('UPDATE manifests SET json = ?').run(JSON.stringify(manifest));
    raw.prepare("UPDATE copies SET state = 'verified'").run();
    raw.pragma('user_version = 1');
    raw.close();
    expect(await catalogBytes(catalogFile)).toContain('-zqx.json');

    const after = JSON.parse((await cli('list', '--json')).stdout) as typeof before;
    expect(after.map((b) => ({ ...b, copies: b.copies.map((c) => ({ ...c, state: 'unverified' })) }))).toEqual(before);
    expect(after[0]!.copies.map((c) => c.state)).toEqual(['verified']);
    expect((await cli('list')).stdout).toBe(table.replace('local:unverified', 'local:verified'));
    const migrated = new Database(catalogFile, { readonly: true });
    try {
      expect(migrated.pragma('user_version', { simple: true })).toBe(2);
      const rows = migrated.prepare('SELECT json FROM manifests').all() as { json: string }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.json).not.toContain('-zqx.json');
      expect(JSON.parse(rows[0]!.json).counts).toEqual({ entries: entryCount(manifest), files: manifest.files.length, excluded: manifest.excluded.length });
    } finally {
      migrated.close();
    }
    expect(await catalogBytes(catalogFile)).not.toContain('-zqx.json');
  });
});
