import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectFiles, loadConfig } from '@botbackup/engine';
import { createBot, useTempDir, writeConfig } from '../../../test/helpers/bot.js';

describe('collectFiles', () => {
  const tmp = useTempDir();

  it('gives an overlapping file the safest kind and never takes a database or its sidecars as a plain file', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    await fs.writeFile(path.join(root, 'data/trades.db-wal'), 'stale');
    await fs.writeFile(path.join(root, 'data/notes.txt'), 'keep me');
    const extra = `
  - id: wide
    root: ${JSON.stringify(root)}
    databases: [{ path: data/trades.db }]
    files:
      - { kind: other, include: ["**/*"], exclude: ["logs/**"] }
      - { kind: config, include: [".env", "config/**/*.json"] }
      - { kind: secret, include: [".env"] }`;
    const file = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('storage:', `${extra.trimStart().replace(/^/, '  ')}\nstorage:`));
    const config = await loadConfig(file);
    const { files } = await collectFiles(
      config.sources.find((s) => s.id === 'wide')!,
      new Date(),
    );
    const kinds = Object.fromEntries([...files].map((f) => [f.relPath, f.kind]));
    expect(kinds).toEqual({
      '.env': 'secret',
      'config/bot.json': 'config',
      'config/strategies/grid.json': 'config',
      'data/notes.txt': 'other',
      'keys/binance.key': 'other',
    });
  });

  it('takes what the globs match (fixed folders, depths, **), leaves out excluded folders whole, and gives the files in path order', async () => {
    const root = path.join(tmp.dir, 'order');
    // Names around "/" in the order of code units: "a-b" and "a.txt" sort before "a/…", "ab" after.
    for (const f of ['a/b.json', 'a/c/d.json', 'a-b/x.json', 'a.txt.json', 'ab.json', 'cache/big.json', 'cache/deep/more.json', 'far/away/z.json']) {
      await fs.mkdir(path.dirname(path.join(root, f)), { recursive: true });
      await fs.writeFile(path.join(root, f), '{}');
    }
    const source = {
      id: 'order',
      root,
      databases: [],
      files: [
        { kind: 'config', include: ['*.json', 'a/**/*.json', 'a-b/*.json', 'cache/**'], exclude: ['cache'] },
        { kind: 'other', include: ['far/*/z.json'], exclude: [] },
      ],
      symlinks: 'keep',
    } as unknown as Parameters<typeof collectFiles>[0];
    const { files } = await collectFiles(source, new Date());
    const paths = [...files].map((f) => f.relPath);
    expect(paths).toEqual(['a-b/x.json', 'a.txt.json', 'a/b.json', 'a/c/d.json', 'ab.json', 'far/away/z.json']);
    expect(paths).toEqual([...paths].sort());
  });
});
