import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { snapshotDatabase } from '@botbackup/engine';
import { createBot, listFiles, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';

/**
 * A bot that stopped cleanly leaves a WAL-mode database with no -wal and no -shm. A worker that
 * sees the bot's folder through a read-only mount (the docker-compose deployment) cannot create
 * the -shm a WAL-mode connection needs, so SQLite refuses to open it (SQLITE_CANTOPEN). These
 * tests mount the bot's folder read-only for real (a bind mount, as root) and back it up.
 */
describe.skipIf(process.getuid?.() !== 0)('a stopped bot on a read-only mount', () => {
  const tmp = useTempDir();

  /** The bot's folder at `bot/`, its read-only view at `ro/` (unmounted by the returned function). */
  async function mountReadOnly(): Promise<{ bot: string; ro: string; unmount: () => void }> {
    const bot = path.join(tmp.dir, 'bot');
    const ro = path.join(tmp.dir, 'ro');
    await createBot(bot, { deals: 3000 });
    await fs.mkdir(ro);
    execFileSync('mount', ['--bind', bot, ro]);
    execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
    return { bot, ro, unmount: () => execFileSync('umount', [ro]) };
  }

  const dump = (file: string) => execFileSync('sqlite3', [file, '.dump'], { encoding: 'utf8', maxBuffer: 64 << 20 });

  it('is backed up from the database file alone, and restores to the same rows', async () => {
    const { bot, ro, unmount } = await mountReadOnly();
    try {
      // The precondition the fix is for: what the bot left is a closed WAL database.
      expect(await listFiles(path.join(bot, 'data'))).toEqual(['trades.db']);
      const plain = new Database(path.join(ro, 'data/trades.db'), { readonly: true });
      try {
        expect(() => plain.prepare('select count(*) from deals').get()).toThrow(/unable to open/);
      } finally {
        plain.close();
      }
      const repo = path.join(tmp.dir, 'repo');
      const config = await writeConfig(tmp.dir, { root: ro, repo });
      // -q: no progress events on stderr, where nothing else (no warning) may be.
      const backup = await runCli(['-c', config, '--json', '-q', 'backup']);
      expect(backup.stderr).toBe('');
      expect(backup.code).toBe(0);
      const manifest = JSON.parse(backup.stdout) as { id: string; databases: { sha256: string }[] };
      // The closed file is the whole database: the snapshot is that file, byte for byte.
      expect(manifest.databases[0]!.sha256).toBe(await sha256File(path.join(bot, 'data/trades.db')));
      // Nothing was made beside the database (it could not be, and must not be on a writable one).
      expect(await listFiles(path.join(bot, 'data'))).toEqual(['trades.db']);

      const target = path.join(tmp.dir, 'restored');
      const restore = await runCli(['-c', config, 'restore', manifest.id, '--target', target]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(dump(path.join(target, 'data/trades.db'))).toBe(dump(path.join(bot, 'data/trades.db')));
    } finally {
      unmount();
    }
  });

  it('is copied again when the bot changed the file between the first look and the end of the copy', async () => {
    const { bot, ro, unmount } = await mountReadOnly();
    try {
      const dest = path.join(tmp.dir, 'copy.db');
      let pinnedCalls = 0;
      let copies = 0;
      await snapshotDatabase({ name: 'trades', path: path.join(ro, 'data/trades.db') } as never, dest, {
        // After the file was first looked at, the bot runs, commits a trade and stops again (its
        // clean close checkpoints the trade into the file). No lock tells the copy; the file's
        // state after the copy must, whenever in that window the change came.
        onProgress: (done, total) => (copies += done === total ? 1 : 0),
        onPinned: async () => {
          pinnedCalls++;
          const writer = new Database(path.join(bot, 'data/trades.db'));
          writer.prepare("insert into deals (ts, symbol, price, qty, note) values (1, 'SOLUSDT', 1, 1, 'during the copy')").run();
          writer.close();
        },
      });
      expect(pinnedCalls).toBe(1);
      // The first copy was thrown away, the second kept.
      expect(copies).toBe(2);
      const copy = new Database(dest, { readonly: true });
      expect(copy.prepare("select count(*) as n from deals where symbol = 'SOLUSDT'").get()).toEqual({ n: 1 });
      copy.close();
      expect(dump(dest)).toBe(dump(path.join(bot, 'data/trades.db')));
    } finally {
      unmount();
    }
  });
});
