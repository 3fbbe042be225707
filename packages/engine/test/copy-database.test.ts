import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyDatabase, snapshotDatabase, WalRestartedError } from '@botbackup/engine';
import { useTempDir } from '../../../test/helpers/bot.js';

/** Digest of every row of every table, as one connection sees it. */
function contentDigest(db: Database.Database): string {
  const hash = createHash('sha256');
  const tables = db.prepare("select name from sqlite_schema where type = 'table' order by name").pluck().all() as string[];
  for (const table of tables) {
    hash.update(`table ${table}\n`);
    for (const row of db.prepare(`select * from "${table}" order by rowid`).raw().iterate()) hash.update(JSON.stringify(row));
  }
  return hash.digest('hex');
}

type Op =
  | { kind: 'insert'; rows: number }
  | { kind: 'update'; fraction: number }
  | { kind: 'delete'; fraction: number }
  | { kind: 'checkpoint'; mode: 'PASSIVE' | 'FULL' | 'RESTART' | 'TRUNCATE' }
  | { kind: 'vacuum' }
  | { kind: 'schema' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), rows: fc.integer({ min: 1, max: 3000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('update' as const), fraction: fc.double({ min: 0.01, max: 0.5, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), fraction: fc.double({ min: 0.01, max: 0.6, noNaN: true }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('checkpoint' as const),
      mode: fc.constantFrom('PASSIVE' as const, 'FULL' as const, 'RESTART' as const, 'TRUNCATE' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'vacuum' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'schema' as const }) },
);

function apply(db: Database.Database, op: Op, seq: number): void {
  switch (op.kind) {
    case 'insert': {
      const ins = db.prepare('insert into deals (ts, symbol, price, note) values (?, ?, ?, ?)');
      db.transaction(() => {
        for (let i = 0; i < op.rows; i++) ins.run(seq * 1e6 + i, i % 3 ? 'BTCUSDT' : 'ETHUSDT', 1000 + i, 'n'.repeat(i % 200));
      })();
      return;
    }
    case 'update':
      db.prepare('update deals set price = price + 1, note = note || ? where abs(random() % 1000) < ?').run(`u${seq}`, Math.round(op.fraction * 1000));
      return;
    case 'delete':
      db.prepare('delete from deals where abs(random() % 1000) < ?').run(Math.round(op.fraction * 1000));
      return;
    case 'checkpoint':
      db.pragma(`wal_checkpoint(${op.mode})`);
      return;
    case 'vacuum':
      db.exec('vacuum');
      return;
    case 'schema':
      db.exec(`create table if not exists extra_${seq % 3} (id integer primary key, v text); insert into extra_${seq % 3} (v) values ('x${seq}')`);
      return;
  }
}

describe('snapshot copy of a WAL-mode database', () => {
  const tmp = useTempDir('all');

  it('equals what SQLite sees, after any history of writes, checkpoints, VACUUM and uncommitted spills', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.boolean(), async (ops, leaveUncommitted) => {
        run++;
        const file = path.join(tmp.dir, `p${run}.db`);
        const copy = path.join(tmp.dir, `p${run}.copy.db`);
        const writer = new Database(file);
        writer.pragma('journal_mode = WAL');
        // Frames stay in the WAL until a checkpoint op, as with a busy bot between checkpoints.
        writer.pragma('wal_autocheckpoint = 0');
        writer.exec('create table deals (id integer primary key, ts integer, symbol text, price real, note text); create index deals_ts on deals(ts)');
        ops.forEach((op, i) => apply(writer, op, i));
        const expected = contentDigest(writer);
        const expectedPages = Number(writer.pragma('page_count', { simple: true }));
        let spill: Database.Database | undefined;
        if (leaveUncommitted) {
          // A second connection with a tiny cache writes a big transaction and leaves it open:
          // its pages spill into the WAL without a commit frame, and must not be copied.
          spill = new Database(file);
          spill.pragma('cache_size = 10');
          spill.exec('begin');
          const ins = spill.prepare('insert into deals (ts, symbol, price, note) values (1, ?, 1, ?)');
          for (let i = 0; i < 2000; i++) ins.run('SPILL', 'x'.repeat(300));
        }
        try {
          const snap = await snapshotDatabase({ path: file, relativePath: 'p.db', name: 'p' }, copy);
          const restored = new Database(copy, { readonly: true });
          try {
            expect(restored.pragma('integrity_check', { simple: true })).toBe('ok');
            expect(contentDigest(restored)).toBe(expected);
            expect(snap.pageCount).toBe(expectedPages);
          } finally {
            restored.close();
          }
        } finally {
          spill?.exec('rollback');
          spill?.close();
          writer.close();
          await fs.rm(copy, { force: true });
        }
      }),
      { numRuns: 25 },
    );
  });

  it('notices a WAL restart during the copy and copies again', async () => {
    const file = path.join(tmp.dir, 'restart.db');
    const copy = path.join(tmp.dir, 'restart.copy.db');
    const { writer, ins } = checkpointedWalDatabase(file);
    const pageSize = Number(writer.pragma('page_size', { simple: true }));
    // A reader pinned now, without knowing its snapshot's frames, sits on read-lock 0, which
    // does not prevent a restart: copyDatabase must notice it from the WAL header.
    const reader = new Database(file, { readonly: true });
    reader.exec('BEGIN');
    reader.prepare('select count(*) from sqlite_schema').get();
    let wrote = false;
    const attempt = () =>
      copyDatabase(file, copy, {
        pageSize,
        wal: true,
        onProgress: () => {
          if (wrote) return;
          wrote = true;
          // Restart the WAL and fill it past the first frames the copy may have read.
          writer.transaction(() => {
            for (let i = 0; i < 50; i++) ins.run('during the copy');
          })();
        },
      });
    // The copy scans the old WAL, the writer restarts it during the copy: the copy must fail.
    await expect(attempt()).rejects.toThrow(WalRestartedError);
    reader.exec('COMMIT');
    reader.close();
    writer.close();
  });

  // Without a frame in the WAL the pinned reader reads the database file alone (read-lock 0) and
  // the writer may restart the WAL under it; with one, the reader holds a mark in the WAL.
  it.each([
    ['a fully checkpointed WAL, restarted after the pin', false],
    ['a committed frame in the WAL', true],
  ])('a pinned snapshot is copied exactly, whatever the writer does meanwhile: %s', async (_name, frameInWal) => {
    const file = path.join(tmp.dir, `pinned-${String(frameInWal)}.db`);
    const copy = path.join(tmp.dir, `pinned-${String(frameInWal)}.copy.db`);
    const { writer, ins } = checkpointedWalDatabase(file);
    if (frameInWal) writer.transaction(() => ins.run('one committed row in the WAL'))();
    let calls = 0;
    const snap = await snapshotDatabase({ path: file, relativePath: 'r.db', name: 'r' }, copy, {
      onPinned: async () => {
        // Between the pin and the copy: commits (the first restarts a fully checkpointed WAL), and checkpoints.
        for (let i = 0; i < 3; i++) {
          writer.transaction(() => ins.run('after the pin'))();
          writer.pragma('wal_checkpoint(PASSIVE)');
        }
      },
      onProgress: () => calls++,
    });
    expect(calls).toBeGreaterThan(0);
    const restored = new Database(copy, { readonly: true });
    expect(restored.pragma('integrity_check', { simple: true })).toBe('ok');
    // Exactly the pinned state: the rows committed after the pin are not in the copy.
    expect(Number(restored.prepare('select count(*) from deals').pluck().get())).toBe(frameInWal ? 20_001 : 20_000);
    // The writer did commit meanwhile.
    expect(Number(writer.prepare('select count(*) from deals').pluck().get())).toBe(frameInWal ? 20_004 : 20_003);
    expect(snap.pageCount).toBe(Number(restored.pragma('page_count', { simple: true })));
    restored.close();
    writer.close();
  });
});

/**
 * A WAL-mode database of 20,000 rows with autocheckpoint off, fully checkpointed but not
 * truncated: the next commit restarts the WAL from its start. Returns the open writer.
 */
function checkpointedWalDatabase(file: string): { writer: Database.Database; ins: Database.Statement } {
  const writer = new Database(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('wal_autocheckpoint = 0');
  writer.exec('create table deals (id integer primary key, note text)');
  const ins = writer.prepare('insert into deals (note) values (?)');
  writer.transaction(() => {
    for (let i = 0; i < 20_000; i++) ins.run('before '.repeat(20));
  })();
  writer.pragma('wal_checkpoint(FULL)');
  return { writer, ins };
}
