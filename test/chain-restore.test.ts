import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { decodeDeltaHeader, encodeDeltaHeader, IntegrityError, serializeManifest, type Config, type Manifest } from '@botbackup/core';
import { loadConfig, restoreBackup, runBackup } from '@botbackup/engine';
import { createStore, type BackupStore } from '@botbackup/storage';
import { createBot, listFiles, sha256File, useTempDir, writeConfig } from './helpers/bot.js';

// A chain is restored newest first, each page written once (docs/format.md, "Incremental
// chains"): these chains change the same pages in several links, grow and shrink the file, and
// every point must come back byte-identical; a delta that lies must still be refused.

const mutateScript = path.join(path.dirname(new URL(import.meta.url).pathname), 'helpers/mutate.mjs');

/** Changes the database from a separate process (better-sqlite3), which checkpoints on close. */
function mutate(dbFile: string, sql: string): void {
  execFileSync(process.execPath, [mutateScript, dbFile, sql]);
}

async function setup(dir: string, codec: 'zstd' | 'none' = 'zstd'): Promise<{ root: string; dbFile: string; config: Config; store: BackupStore }> {
  const root = path.join(dir, 'bot');
  await createBot(root, { deals: 5000 });
  // Every link stays an incremental, even a VACUUM that rewrites most pages.
  const file = await writeConfig(dir, { root, repo: path.join(dir, 'repo'), codec, extra: 'defaults: { incremental: { maxDeltaRatio: 1 } }\n' });
  const config = await loadConfig(file);
  return { root, dbFile: path.join(root, 'data/trades.db'), config, store: createStore(config.storage[0]!) };
}

describe('restoring a chain newest first', () => {
  const tmp = useTempDir();

  it('a chain whose links rewrite the same pages, grow and shrink the file restores byte-identical at every point', async () => {
    const { dbFile, config, store } = await setup(tmp.dir);
    // The same rows (so the same pages) change in most links; the file grows, shrinks and grows again.
    const changes = [
      'UPDATE deals SET price = price + 1 WHERE id % 10 = 0',
      'UPDATE deals SET price = price + 1 WHERE id % 10 = 0; UPDATE counter SET n = n + 1',
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO deals (ts, symbol, price, qty, note) SELECT 1800000000000 + i, 'SOLUSDT', 150, 1, hex(randomblob(60)) FROM n",
      'UPDATE deals SET qty = qty + 1 WHERE id % 10 = 0 OR id > 5000',
      'DELETE FROM deals WHERE id > 3000; VACUUM',
      'UPDATE deals SET price = price + 1 WHERE id % 10 = 0',
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO deals (ts, symbol, price, qty, note) SELECT 1900000000000 + i, 'BTCUSDT', 1, 1, 'again' FROM n; UPDATE counter SET n = n + 1",
    ];
    const points: { manifest: Manifest; sha256: string }[] = [];
    for (let i = 0; i <= changes.length; i++) {
      if (i > 0) mutate(dbFile, changes[i - 1]!);
      const { manifest } = await runBackup({ config, stores: [store], incremental: i > 0 });
      expect(manifest.type).toBe(i === 0 ? 'full' : 'incremental');
      points.push({ manifest, sha256: await sha256File(dbFile) });
    }
    // The links did rewrite pages an earlier link had rewritten, and the file did shrink.
    const deltas = points.slice(1).map((p) => p.manifest.databases[0]!);
    expect(deltas.every((d) => d.stored.type === 'delta' && d.stored.pages > 0)).toBe(true);
    expect(deltas.some((d) => d.stored.type === 'delta' && d.stored.basePageCount > d.pageCount)).toBe(true);

    for (const [i, point] of points.entries()) {
      const target = path.join(tmp.dir, `restored-${i}`);
      // The newest point also with integrity_check (restore --deep) of the rebuilt database.
      const deep = i === points.length - 1;
      const result = await restoreBackup({ stores: [store], manifest: point.manifest, target, integrityCheck: deep });
      // Reported oldest first, whatever order the archives were read in.
      expect(result.chain).toEqual(points.slice(0, i + 1).map((p) => p.manifest.id));
      expect(await sha256File(path.join(target, 'data/trades.db')), `point ${i}`).toBe(point.sha256);
      expect(result.databases[0]).toMatchObject({ sha256: point.sha256, integrityCheck: deep ? 'ok' : 'not run' });
    }
  }, 120_000);

  describe('a delta that lies is refused, and nothing is restored', () => {
    /** A chain of a full and 3 incrementals that change only the database (each archive is its delta alone). */
    async function chain(): Promise<{ repo: string; store: BackupStore; links: Manifest[] }> {
      const { dbFile, config, store } = await setup(tmp.dir, 'none');
      const links: Manifest[] = [];
      for (let i = 0; i < 4; i++) {
        if (i > 0) mutate(dbFile, `UPDATE deals SET price = price + ${i} WHERE id % 7 = 0`);
        links.push((await runBackup({ config, stores: [store], incremental: i > 0 })).manifest);
      }
      for (const link of links.slice(1)) expect(link.entries.map((e) => e.kind)).toEqual(['database-delta']);
      return { repo: path.join(tmp.dir, 'repo'), store, links };
    }

    /**
     * Rewrites a link's delta with `change` and its manifest to match (entry and archive sizes and
     * sha256, and whatever `edit` changes): an unsigned repository holds what anyone with write
     * access writes, so only the delta's own checks and the rebuilt database's sha256 stand.
     */
    async function forge(repo: string, link: Manifest, change: (delta: Buffer) => Buffer, edit: (m: Manifest) => Manifest = (m) => m): Promise<Manifest> {
      const archive = path.join(repo, link.objects.find((o) => o.role === 'archive')!.key);
      const entry = link.entries[0]!;
      const delta = change(await readMember(archive, entry.path));
      const pack = tar.pack();
      pack.entry({ name: entry.path, size: delta.length, mode: entry.mode, mtime: new Date(entry.mtime) }, delta);
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack) chunks.push(c as Buffer);
      const bytes = Buffer.concat(chunks);
      await fs.writeFile(archive, bytes);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      const forged = edit({
        ...link,
        entries: [{ ...entry, size: delta.length, sha256: sha(delta) }],
        objects: link.objects.map((o) => (o.role === 'archive' ? { ...o, size: bytes.length, sha256: sha(bytes) } : o)),
      });
      await fs.writeFile(path.join(repo, 'manifests', link.source.id, `${link.id}.json`), serializeManifest(forged));
      return forged;
    }

    async function refused(store: BackupStore, manifest: Manifest): Promise<IntegrityError> {
      const target = path.join(tmp.dir, 'restored');
      const error = await restoreBackup({ stores: [store], manifest, target }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IntegrityError);
      await expect(listFiles(target).catch(() => [])).resolves.toEqual([]);
      return error as IntegrityError;
    }

    it('a delta whose base does not fit the link before it (header and manifest both changed)', async () => {
      const { repo, store, links } = await chain();
      const newest = await forge(
        repo,
        links[3]!,
        (delta) => {
          const header = decodeDeltaHeader(delta);
          return Buffer.concat([encodeDeltaHeader({ ...header, basePageCount: header.basePageCount + 1 }), delta.subarray(32)]);
        },
        (m) => ({
          ...m,
          databases: m.databases.map((d) => (d.stored.type === 'delta' ? { ...d, stored: { ...d.stored, basePageCount: d.stored.basePageCount + 1 } } : d)),
        }),
      );
      const error = await refused(store, newest);
      expect(error.code).toBe('BROKEN_CHAIN');
      expect(error.message).toMatch(
        /the page delta "data\/trades\.db\.bbdelta" cannot be applied: it leaves a database of \d+ pages, but the newer backup's delta applies to one of \d+/,
      );
    });

    it('a malformed delta: bytes after its last run', async () => {
      const { repo, store, links } = await chain();
      await forge(repo, links[2]!, (delta) => Buffer.concat([delta, Buffer.alloc(8)]));
      const error = await refused(store, links[3]!);
      expect(error.code).toBe('BROKEN_CHAIN');
      expect(error.message).toContain(`Backup ${links[2]!.id}: the page delta "data/trades.db.bbdelta" cannot be applied: it holds bytes after its last run`);
    });

    it("a delta whose pages were changed: the rebuilt database does not match the newest backup's sha256", async () => {
      const { repo, store, links } = await chain();
      // A byte of the first page of the middle link's first run: a page no newer link rewrites
      // would pass to the result; either way the result must not be accepted.
      const middle = await forge(repo, links[2]!, (delta) => {
        const changed = Buffer.from(delta);
        changed[32 + 8 + 100]! ^= 0xff;
        return changed;
      });
      // Restoring the middle link itself: its own page is in the result for sure.
      const error = await refused(store, middle);
      expect(error.code).toBe('CHECKSUM_MISMATCH');
      expect(error.message).toMatch(/rebuilt from its chain of 3 backups does not match its recorded sha256/);
    });
  });
});

/** The bytes of one member of an uncompressed tar archive. */
async function readMember(archive: string, name: string): Promise<Buffer> {
  const extract = tar.extract();
  const done = (async () => {
    let found: Buffer | undefined;
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.name === name) found = Buffer.concat(chunks);
    }
    return found;
  })();
  extract.end(await fs.readFile(archive));
  const found = await done;
  if (!found) throw new Error(`${archive} holds no ${name}`);
  return found;
}
