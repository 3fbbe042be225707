import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { IntegrityError, repositoryKeys, type Config, type Manifest } from '@botbackup/core';
import { loadConfig, loadFiles, restoreBackup, runBackup, verifyBackup } from '@botbackup/engine';
import { createStore, type BackupStore } from '@botbackup/storage';
import { createBot, listFiles, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';

const mutateScript = path.join(path.dirname(new URL(import.meta.url).pathname), 'helpers/mutate.mjs');

/** Changes the database from a separate process, like the bot does. */
function mutate(dbFile: string, sql: string): void {
  execFileSync(process.execPath, [mutateScript, dbFile, sql]);
}

/** What a restore of a point must give back: every file's sha256 and the database's. */
interface Point {
  manifest: Manifest;
  files: Record<string, string>;
  dbSha256: string;
  deals: number;
  hasPositions: boolean;
}

async function fileState(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  // logs/old.log is older than the log window: never backed up.
  for (const f of await listFiles(root)) if (!f.startsWith('data/') && f !== 'logs/old.log') out[f] = await sha256File(path.join(root, f));
  return out;
}

function countDeals(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS c FROM deals').get() as { c: number }).c;
  } finally {
    db.close();
  }
}

async function setup(dir: string, extra = ''): Promise<{ root: string; dbFile: string; config: Config; store: BackupStore }> {
  const root = path.join(dir, 'bot');
  await createBot(root, { deals: 20_000 });
  const config = await loadConfig(await writeConfig(dir, { root, repo: path.join(dir, 'repo'), extra }));
  return { root, dbFile: path.join(root, 'data/trades.db'), config, store: createStore(config.storage[0]!) };
}

describe('incremental backups', () => {
  const tmp = useTempDir();

  it('a chain of 12 backups over realistic changes restores every point exactly', async () => {
    // A VACUUM rewrites most pages: let it stay an incremental so the chain is long.
    const { root, dbFile, config, store } = await setup(tmp.dir, 'defaults: { incremental: { maxDeltaRatio: 1 } }');
    const steps: { name: string; change: () => Promise<void> | void }[] = [
      { name: 'full', change: () => undefined },
      { name: 'updates spread over the file', change: () => mutate(dbFile, 'UPDATE deals SET price = price + 1 WHERE id % 97 = 0') },
      {
        name: 'inserts',
        change: () =>
          mutate(
            dbFile,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO deals (ts, symbol, price, qty, note) SELECT 1800000000000 + i, 'SOLUSDT', 150, 1, 'new' FROM n",
          ),
      },
      { name: 'deletes', change: () => mutate(dbFile, 'DELETE FROM deals WHERE id % 3 = 0 AND id < 15000') },
      {
        name: 'a config edit and a deleted key file',
        change: async () => {
          await fs.writeFile(path.join(root, 'config/bot.json'), JSON.stringify({ exchange: 'binance', symbols: ['BTCUSDT', 'SOLUSDT'], risk: 0.02 }));
          await fs.rm(path.join(root, 'keys/binance.key'));
        },
      },
      {
        name: 'a renamed strategy file',
        change: () => fs.rename(path.join(root, 'config/strategies/grid.json'), path.join(root, 'config/strategies/grid-v2.json')),
      },
      { name: 'VACUUM shrinks the file', change: () => mutate(dbFile, 'VACUUM') },
      {
        name: 'a schema change',
        change: () =>
          mutate(
            dbFile,
            "ALTER TABLE deals ADD COLUMN fee REAL; CREATE TABLE positions (symbol TEXT PRIMARY KEY, qty REAL); INSERT INTO positions VALUES ('BTCUSDT', 0.5); UPDATE deals SET fee = 0.1 WHERE id > 19000",
          ),
      },
      { name: 'the key file comes back', change: () => fs.writeFile(path.join(root, 'keys/binance.key'), 'test-private-key\n') },
      { name: 'recent rows updated', change: () => mutate(dbFile, 'UPDATE deals SET qty = qty * 2 WHERE id > (SELECT max(id) - 300 FROM deals)') },
      { name: 'nothing changed', change: () => undefined },
      {
        name: 'a .env edit and more trading',
        change: async () => {
          await fs.appendFile(path.join(root, '.env'), 'BYBIT_API_KEY=k2\n');
          mutate(dbFile, "INSERT INTO deals (ts, symbol, price, qty, note) VALUES (1900000000000, 'BTCUSDT', 1, 1, 'last')");
        },
      },
    ];
    const points: Point[] = [];
    for (const step of steps) {
      await step.change();
      const { manifest } = await runBackup({ config, stores: [store], incremental: points.length > 0 });
      expect(manifest.type, `${step.name}: ${manifest.fullReason}`).toBe(points.length === 0 ? 'full' : 'incremental');
      // The mutator closed its connection, which checkpointed the WAL: the file is the snapshot.
      const dbSha256 = await sha256File(dbFile);
      expect(manifest.databases[0]!.sha256, step.name).toBe(dbSha256);
      const hasPositions = (await listTables(dbFile)).includes('positions');
      points.push({ manifest, files: await fileState(root), dbSha256, deals: countDeals(dbFile), hasPositions });
    }

    const byName = (name: string) => points[steps.findIndex((s) => s.name === name)]!.manifest;
    expect(points.map((p) => p.manifest.chainDepth)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // Only the changed pages are stored: a few percent of the database for row updates.
    const updates = byName('updates spread over the file').databases[0]!;
    expect(updates.stored).toMatchObject({ type: 'delta' });
    expect(updates.stored.type === 'delta' && updates.stored.pages).toBeLessThan(updates.pageCount * 0.5);
    const quiet = byName('nothing changed');
    expect(quiet.databases[0]!.stored).toMatchObject({ type: 'delta', pages: 0 });
    expect(quiet.entries.map((e) => e.kind)).toEqual(['database-delta']);
    expect(quiet.fileList).toMatchObject({ stored: 0 });
    const vacuum = byName('VACUUM shrinks the file').databases[0]!;
    expect(vacuum.stored.type === 'delta' && vacuum.stored.basePageCount).toBeGreaterThan(vacuum.pageCount);
    // Files: stored only when changed; deletions listed; a rename is a delete plus a new file.
    expect(byName('updates spread over the file').entries.filter((e) => e.kind !== 'database-delta')).toEqual([]);
    expect(byName('updates spread over the file').fileList).toMatchObject({ stored: 0, storedBytes: 0 });
    expect(byName('a config edit and a deleted key file').deleted).toEqual(['keys/binance.key']);
    expect(byName('a renamed strategy file').deleted).toEqual(['config/strategies/grid.json']);
    const filesOf = (name: string) => loadFiles(store, byName(name));
    expect((await filesOf('a renamed strategy file')).find((f) => f.path === 'config/strategies/grid-v2.json')!.storedIn).toBe(
      byName('a renamed strategy file').id,
    );
    expect((await filesOf('recent rows updated')).find((f) => f.path === 'keys/binance.key')!.storedIn).toBe(byName('the key file comes back').id);

    for (const [i, point] of points.entries()) {
      const target = path.join(tmp.dir, `restore-${i}`);
      const result = await restoreBackup({ stores: [store], manifest: point.manifest, target });
      expect(result.chain).toHaveLength(i + 1);
      const restoredDb = path.join(target, 'data/trades.db');
      expect(await sha256File(restoredDb), steps[i]!.name).toBe(point.dbSha256);
      expect(await fileState(target), steps[i]!.name).toEqual(point.files);
      expect(countDeals(restoredDb)).toBe(point.deals);
      expect((await listTables(restoredDb)).includes('positions')).toBe(point.hasPositions);
      expect(result.databases[0]!.integrityCheck).toBe('not run');
    }
    // Deep verification rebuilds the newest point from the whole chain.
    await expect(verifyBackup({ store, manifest: points.at(-1)!.manifest, deep: true })).resolves.toMatchObject({ deep: true });
  }, 240_000); // 12 backups and 12 restores, each a CLI process: about 50 s on an idle 2-core machine, so the default 60 s left no margin under load.

  it('an incremental taken while a separate process writes is one committed state', async () => {
    const { dbFile, config, store } = await setup(tmp.dir);
    await runBackup({ config, stores: [store] });
    const writer = startWriter(dbFile);
    try {
      await writer.ready;
      const { manifest } = await runBackup({ config, stores: [store], incremental: true });
      expect(manifest.type, manifest.fullReason ?? '').toBe('incremental');
      const target = path.join(tmp.dir, 'restored');
      await restoreBackup({ stores: [store], manifest, target });
      const db = new Database(path.join(target, 'data/trades.db'), { readonly: true });
      const deals = (db.prepare('SELECT count(*) AS c FROM deals').get() as { c: number }).c;
      const counter = (db.prepare('SELECT n FROM counter').get() as { n: number }).n;
      db.close();
      expect(deals).toBe(counter);
      expect(counter).toBeGreaterThan(20_000);
    } finally {
      await writer.stop();
    }
  });

  it('a missing or corrupt link is named, with the newest backup that can still be restored', async () => {
    const { dbFile, config, store } = await setup(tmp.dir);
    const chain: Manifest[] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0) mutate(dbFile, `UPDATE deals SET price = price + ${i} WHERE id % 50 = ${i}`);
      chain.push((await runBackup({ config, stores: [store], incremental: i > 0 })).manifest);
    }
    const repo = path.join(tmp.dir, 'repo');
    const archiveOf = (m: Manifest) => path.join(repo, m.objects.find((o) => o.role === 'archive')!.key);

    // Corrupt the newest backup's own archive: its parent is the newest that can be restored.
    const own = await fs.readFile(archiveOf(chain[4]!));
    const damaged = Buffer.from(own);
    damaged[damaged.length - 20]! ^= 0xff;
    await fs.writeFile(archiveOf(chain[4]!), damaged);
    const ownBroken = await restoreBackup({ stores: [store], manifest: chain[4]!, target: path.join(tmp.dir, 'r4') }).catch((e: unknown) => e);
    expect((ownBroken as Error).message).toContain(`Backup ${chain[4]!.id} cannot be restored: Backup ${chain[4]!.id} is unusable:`);
    expect((ownBroken as Error).message).toContain(`the newest backup that does not need it is ${chain[3]!.id}`);
    await fs.writeFile(archiveOf(chain[4]!), own);

    // Corrupt link 3: restoring link 4 names it, and link 2 still restores.
    const bytes = await fs.readFile(archiveOf(chain[3]!));
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await fs.writeFile(archiveOf(chain[3]!), bytes);
    const broken = await restoreBackup({ stores: [store], manifest: chain[4]!, target: path.join(tmp.dir, 'r4') }).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(IntegrityError);
    expect((broken as IntegrityError).code).toBe('BROKEN_CHAIN');
    expect((broken as Error).message).toContain(`Backup ${chain[4]!.id} cannot be restored: Backup ${chain[3]!.id}, a link`);
    expect((broken as Error).message).toContain(`the newest backup that does not need it is ${chain[2]!.id}`);
    await expect(fs.stat(path.join(tmp.dir, 'r4'))).rejects.toThrow();
    await restoreBackup({ stores: [store], manifest: chain[2]!, target: path.join(tmp.dir, 'r2') });

    // Remove link 1's manifest: everything after it names it; only the full one is left.
    await fs.rm(path.join(repo, repositoryKeys.manifest(chain[1]!.source.id, chain[1]!.id)));
    const cli = await runCli(['--config', config.file, 'restore', chain[2]!.id, '--target', path.join(tmp.dir, 'r2b')]);
    expect(cli.code).toBe(6);
    expect(cli.stderr).toContain(`Backup ${chain[1]!.id}, a link that ${chain[2]!.id} needs, is unusable`);
    expect(cli.stderr).toContain(`the newest backup that does not need it is ${chain[0]!.id}`);

    // verify notices the broken chain without reading the other links' archives.
    await expect(verifyBackup({ store, manifest: chain[2]! })).rejects.toThrow(/BROKEN_CHAIN|needs|unusable/);
  });

  it('never builds on a broken parent: a missing link or a damaged page map makes the next backup full, with a warning', async () => {
    const { dbFile, config, store } = await setup(tmp.dir);
    const repo = path.join(tmp.dir, 'repo');
    const full = (await runBackup({ config, stores: [store] })).manifest;
    mutate(dbFile, 'UPDATE deals SET qty = 1 WHERE id % 100 = 0');
    const inc = (await runBackup({ config, stores: [store], incremental: true })).manifest;
    expect(inc.parent).toBe(full.id);

    const map = path.join(repo, inc.objects.find((o) => o.role === 'page-map')!.key);
    const bytes = await fs.readFile(map);
    bytes[bytes.length - 1]! ^= 1;
    await fs.writeFile(map, bytes);
    const afterBadMap = (await runBackup({ config, stores: [store], incremental: true })).manifest;
    expect(afterBadMap.type).toBe('full');
    expect(afterBadMap.fullReason).toContain(`the parent ${inc.id} cannot be built on`);
    expect(afterBadMap.warnings.join('\n')).toMatch(/Made a full backup instead of an incremental: .*does not match its sha256/);

    const next = (await runBackup({ config, stores: [store], incremental: true })).manifest;
    expect(next.parent).toBe(afterBadMap.id);
    await fs.rm(path.join(repo, afterBadMap.objects.find((o) => o.role === 'archive')!.key));
    const afterMissing = (await runBackup({ config, stores: [store], incremental: true })).manifest;
    expect(afterMissing.type).toBe('full');
    expect(afterMissing.warnings.join('\n')).toContain(`Backup ${afterBadMap.id} is missing its object data/testbot/${afterBadMap.id}/archive.tar.zst`);
  });

  it('restore --only <path> --from <id> brings back one older version of one file, reading only what holds it', async () => {
    const { root, config } = await setup(tmp.dir);
    const settings = path.join(root, 'config/bot.json');
    const original = await fs.readFile(settings, 'utf8');
    const backup = async (...args: string[]) => JSON.parse((await runCli(['--config', config.file, '--json', 'backup', ...args])).stdout) as { id: string };
    const first = await backup();
    await fs.writeFile(settings, '{"exchange":"bybit"}');
    await backup('--incremental');
    await fs.writeFile(settings, '{"exchange":"okx"}');
    const last = await backup('--incremental');

    const target = path.join(tmp.dir, 'old');
    const r = await runCli(['--config', config.file, '--json', 'restore', '--only', 'config/bot.json', '--from', first.id, '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(path.join(target, 'config/bot.json'), 'utf8')).toBe(original);
    expect(await listFiles(target)).toEqual(['config/bot.json']);
    // The newest point's version of the same file comes from the newest incremental alone.
    const newest = await runCli([
      '--config',
      config.file,
      '--json',
      'restore',
      '--only',
      'config/bot.json',
      '--from',
      last.id,
      '--target',
      path.join(tmp.dir, 'new'),
    ]);
    expect(JSON.parse(newest.stdout)).toMatchObject({ chain: [last.id], files: 1 });
    expect(await fs.readFile(path.join(tmp.dir, 'new/config/bot.json'), 'utf8')).toBe('{"exchange":"okx"}');
    // Reading stops once the wanted file is read and proven: damage past it (in the database, at
    // the archive's end) does not stop restoring one setting, while a whole restore refuses.
    const archive = path.join(tmp.dir, 'repo', 'data/testbot', first.id, 'archive.tar.zst');
    const bytes = await fs.readFile(archive);
    bytes.fill(0, bytes.length - 64);
    await fs.writeFile(archive, bytes);
    const one = await runCli(['--config', config.file, 'restore', '--only', 'config/bot.json', '--from', first.id, '--target', path.join(tmp.dir, 'one')]);
    expect(one.code, one.stderr).toBe(0);
    expect(await fs.readFile(path.join(tmp.dir, 'one/config/bot.json'), 'utf8')).toBe(original);
    const whole = await runCli(['--config', config.file, 'restore', first.id, '--target', path.join(tmp.dir, 'whole')]);
    expect(whole.code).toBe(6);

    // The argument and --from name the same thing; both at once is a usage error.
    const both = await runCli(['--config', config.file, 'restore', last.id, '--from', first.id, '--target', target]);
    expect(both.code).toBe(2);
  });

  it('chain limits, --since and --at through the command line', async () => {
    const { dbFile, config } = await setup(tmp.dir, 'defaults: { incremental: { maxChainLength: 2 } }');
    const backup = async (...args: string[]) => {
      const r = await runCli(['--config', config.file, '--json', 'backup', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { id: string; type: string; parent: string | null; chainDepth: number; fullReason: string | null; startedAt: string };
    };
    const a = await backup();
    const b = await backup('--incremental');
    const c = await backup('--incremental');
    const d = await backup('--incremental');
    expect([a, b, c, d].map((x) => [x.type, x.chainDepth])).toEqual([
      ['full', 0],
      ['incremental', 1],
      ['incremental', 2],
      ['full', 0],
    ]);
    expect(d.fullReason).toBe('the chain reached its limit of 2 incremental backups after a full one');
    // --since: build on an older backup (its chain, not the newest).
    const e = await backup('--since', b.id);
    expect([e.type, e.parent, e.chainDepth]).toEqual(['incremental', b.id, 2]);
    // A change bigger than half of a full backup makes a full one.
    mutate(dbFile, "UPDATE deals SET note = note || '!'");
    const f = await backup('--since', d.id);
    expect(f.type).toBe('full');
    expect(f.fullReason).toMatch(/^the change \(\d+(\.\d)?% of a full backup\) exceeds the limit of 50% for an incremental$/);

    // --at picks the newest backup at or before a time.
    const at = new Date(new Date(c.startedAt).getTime() + 1).toISOString();
    const restored = await runCli(['--config', config.file, '--json', 'restore', '--at', at, '--target', path.join(tmp.dir, 'at')]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ backupId: c.id, chain: [a.id, b.id, c.id] });
    const before = await runCli(['--config', config.file, 'restore', '--at', '2001-01-01', '--target', path.join(tmp.dir, 'none')]);
    expect(before.code).toBe(7);
    expect(before.stderr).toContain(`was made at or before 2001-01-01T00:00:00.000Z; the oldest is ${a.id}`);
    const bad = await runCli(['--config', config.file, 'restore', '--at', 'yesterday', '--target', path.join(tmp.dir, 'none')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--at "yesterday" is not a time');
  });
});

async function listTables(dbFile: string): Promise<string[]> {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[];
  } finally {
    db.close();
  }
}

/** Starts the writer stand-in (test/helpers/writer-process.mjs); `ready` resolves after its first commit. */
function startWriter(dbFile: string): { ready: Promise<void>; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [path.join(path.dirname(mutateScript), 'writer-process.mjs'), dbFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('error', reject);
  });
  return {
    ready,
    stop: async () => {
      if (child.exitCode !== null) return;
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      await closed;
    },
  };
}
