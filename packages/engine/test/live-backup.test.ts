import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadConfig, restoreBackup, runBackup } from '@botbackup/engine';
import { createStore } from '@botbackup/storage';
import { createBot, sha256File, useTempDir, writeConfig } from '../../../test/helpers/bot.js';

const writerScript = path.join(path.dirname(new URL(import.meta.url).pathname), '../../../test/helpers/writer-process.mjs');

interface WriterSummary {
  commits: number;
  errors: number;
  lastN: number;
  errorMessages: string[];
}

/** Starts the bot stand-in and resolves once it has committed for the first time. */
async function startWriter(dbFile: string): Promise<{ child: ChildProcessWithoutNullStreams; stop: () => Promise<WriterSummary> }> {
  const child = spawn(process.execPath, [writerScript, dbFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  expect(String(first.value)).toMatch(/^ready \d+$/);
  return {
    child,
    stop: async () => {
      child.kill('SIGTERM');
      const summary = await iterator.next();
      await once(child, 'close');
      return JSON.parse(String(summary.value)) as WriterSummary;
    },
  };
}

/** Reads the writer's committed counter through a separate connection. */
function committedCount(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true, timeout: 10_000 });
  try {
    return (db.prepare('SELECT n FROM counter').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('backup of a database that a separate process keeps writing', () => {
  const tmp = useTempDir();

  it('WAL mode: the writer never fails or waits, and the restore is one committed state', async () => {
    const root = path.join(tmp.dir, 'bot');
    // ~40 MB: the snapshot takes several backup steps.
    await createBot(root, { deals: 150_000 });
    const dbFile = path.join(root, 'data/trades.db');
    const config = await loadConfig(await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') }));
    const store = createStore(config.storage[0]!);
    const writer = await startWriter(dbFile);
    let committedDuringSnapshot = 0;
    try {
      const result = await runBackup({
        config,
        stores: [store],
        onSnapshotPinned: async () => {
          // The snapshot's read transaction is open and no page is copied yet. Keep it so until
          // the writer has committed 20 more transactions: proof that it is not blocked.
          const start = committedCount(dbFile);
          while (committedCount(dbFile) < start + 20) await new Promise((resolve) => setImmediate(resolve));
          committedDuringSnapshot = committedCount(dbFile) - start;
        },
      });
      const summary = await writer.stop();
      expect(summary.errors, summary.errorMessages.join('; ')).toBe(0);
      expect(committedDuringSnapshot).toBeGreaterThanOrEqual(20);
      expect(result.manifest.warnings).toEqual([]);

      const target = path.join(tmp.dir, 'restored');
      await restoreBackup({ stores: [store], manifest: result.manifest, target });
      const restoredFile = path.join(target, 'data/trades.db');
      expect(await sha256File(restoredFile)).toBe(result.manifest.databases[0]!.sha256);
      const db = new Database(restoredFile, { readonly: true });
      const deals = (db.prepare('SELECT count(*) AS c FROM deals').get() as { c: number }).c;
      const counter = (db.prepare('SELECT n FROM counter').get() as { n: number }).n;
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
      // One committed state: every commit adds a deal and bumps the counter together.
      expect(deals).toBe(counter);
      // The state is from when the snapshot began: after the writer's first commit, before
      // the commits it made while the snapshot was being copied.
      expect(counter).toBeGreaterThanOrEqual(150_001);
      expect(counter).toBeLessThanOrEqual(summary.lastN - committedDuringSnapshot);
    } finally {
      if (writer.child.exitCode === null) writer.child.kill('SIGKILL');
    }
  });

  it('rollback-journal mode: warns once, the writer only waits (no error), the copy is consistent', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { journalMode: 'delete', deals: 60_000 });
    const dbFile = path.join(root, 'data/trades.db');
    const config = await loadConfig(await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') }));
    const store = createStore(config.storage[0]!);
    const writer = await startWriter(dbFile);
    try {
      const result = await runBackup({ config, stores: [store] });
      const before = committedCount(dbFile);
      // The writer goes on committing after the backup released its lock.
      const cell = new Int32Array(new SharedArrayBuffer(4));
      while (committedCount(dbFile) < before + 5) Atomics.wait(cell, 0, 0, 2);
      const summary = await writer.stop();
      expect(summary.errors, summary.errorMessages.join('; ')).toBe(0);
      expect(result.manifest.warnings).toHaveLength(1);
      expect(result.manifest.warnings[0]).toMatch(/journal_mode=delete.*Switch it to WAL/);
      expect(result.manifest.databases[0]!.journalMode).toBe('delete');

      const target = path.join(tmp.dir, 'restored');
      await restoreBackup({ stores: [store], manifest: result.manifest, target });
      const db = new Database(path.join(target, 'data/trades.db'), { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const deals = (db.prepare('SELECT count(*) AS c FROM deals').get() as { c: number }).c;
      expect(deals).toBe((db.prepare('SELECT n FROM counter').get() as { n: number }).n);
      db.close();
    } finally {
      if (writer.child.exitCode === null) writer.child.kill('SIGKILL');
    }
  });
});
