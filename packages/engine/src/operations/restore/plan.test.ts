import { describe, expect, it } from 'vitest';
import { BackupNotFoundError, type Manifest, type ManifestDatabase, type ManifestFile } from '@botbackup/core';
import { BrokenLinkError } from '../../repository/index.js';
import { isSelected, nothingSelected, onlyPath, planMembers, restoredMode, selectDatabases, type ArchiveRead } from './plan.js';
import { sampleManifest } from '../../../../core/test/manifest.js';

const SHA = 'a'.repeat(64);

function file(path: string, storedIn: string, extra: Partial<ManifestFile> = {}): ManifestFile {
  return { path, kind: 'config', mode: 0o644, size: 10, mtime: '2026-01-01T00:00:00.000Z', sha256: SHA, storedIn, ...extra };
}

function snapshot(path: string, entry = `db/${path}`): ManifestDatabase {
  return database(path, { type: 'snapshot', entry });
}

function delta(path: string, basePageCount: number, pages: number, entry = `db/${path}.delta`): ManifestDatabase {
  return database(path, { type: 'delta', entry, basePageCount, pages });
}

function database(path: string, stored: ManifestDatabase['stored']): ManifestDatabase {
  return {
    name: path,
    path,
    mode: 0o640,
    journalMode: 'wal',
    pageSize: 4096,
    pageCount: 8,
    size: 8 * 4096,
    sha256: SHA,
    quickCheck: 'ok',
    stored,
    pageMap: null,
  };
}

function manifest(id: string, parent: string | null, files: ManifestFile[], databases: ManifestDatabase[] = []): Manifest {
  return sampleManifest({
    schemaVersion: 2,
    id,
    type: parent === null ? 'full' : 'incremental',
    parent,
    fullReason: null,
    source: { id: 'bot', host: 'host', root: '/bot' },
    startedAt: '2026-01-01T00:00:00.000Z',
    completedAt: '2026-01-01T00:00:01.000Z',
    tool: { name: 'botbackup', version: '0.0.0' },
    databases,
    files,
    objects: [{ key: `${id}.tar.zst`, role: 'archive', size: 1, sha256: SHA, compression: 'zstd', encryption: null }],
    stats: { entryBytes: 0, storedBytes: 0, durationMs: 0 },
  });
}

/** How many of the files `--only` selects each link stores, as the selection stream counts them. */
function filesIn(files: readonly ManifestFile[], only: string | undefined): Map<string, number> {
  const wanted = onlyPath(only);
  const counts = new Map<string, number>();
  for (const f of files) if (isSelected(f.path, wanted)) counts.set(f.storedIn, (counts.get(f.storedIn) ?? 0) + 1);
  return counts;
}

/** A plan as plain data: link id → its file count and member path → action type (and the delta's expectation). */
function shape(reads: ArchiveRead[]): Record<string, { files: number; members: Record<string, string> }> {
  return Object.fromEntries(
    reads.map(({ link, files, members }) => [
      link.id,
      {
        files,
        members: Object.fromEntries(
          [...members].map(([member, action]) => [
            member,
            `${action.type}:${action.item.path}${action.type === 'delta' ? `@${action.expected.basePageCount}+${action.expected.pages}` : ''}`,
          ]),
        ),
      },
    ]),
  );
}

describe('onlyPath and isSelected', () => {
  const paths = ['config.json', 'keys', 'keys/api.key', 'keys/old/x.key', 'keysmith.txt', 'keysX', 'keysX/y'];

  it('normalizes --only as the backup writes paths', () => {
    expect(onlyPath(undefined)).toBeUndefined();
    expect(onlyPath('keys')).toBe('keys');
    expect(onlyPath('./keys/')).toBe('keys');
    expect(onlyPath('.//keys//')).toBe('keys');
  });

  it('selects everything without --only', () => {
    expect(paths.filter((p) => isSelected(p, onlyPath(undefined)))).toEqual(paths);
  });

  it('selects a path and everything under it, not its namesakes', () => {
    for (const only of ['keys', './keys/']) {
      expect(paths.filter((p) => isSelected(p, onlyPath(only)))).toEqual(['keys', 'keys/api.key', 'keys/old/x.key']);
    }
    expect(isSelected('keysmith.txt', 'keys')).toBe(false);
    expect(isSelected('keysX', 'keys')).toBe(false);
    expect(isSelected('keys/api.key', 'keys')).toBe(true);
    expect(isSelected('keys/old/x.key', 'keys')).toBe(true);
  });

  it('selects an exact path itself', () => {
    expect(paths.filter((p) => isSelected(p, onlyPath('keys/api.key')))).toEqual(['keys/api.key']);
    expect(isSelected('config.json', onlyPath('./config.json'))).toBe(true);
  });
});

describe('selectDatabases', () => {
  const m = manifest(
    'b1',
    null,
    [file('config.json', 'b1'), file('keys/api.key', 'b1', { kind: 'secret' })],
    [snapshot('data/bot.sqlite'), snapshot('data/other.sqlite')],
  );

  it('selects every database without --only, as restorable items', () => {
    expect(selectDatabases(m, undefined).map((d) => [d.path, d.kind, d.mtime])).toEqual([
      ['data/bot.sqlite', 'database', m.startedAt],
      ['data/other.sqlite', 'database', m.startedAt],
    ]);
  });

  it('selects only the databases --only names', () => {
    expect(selectDatabases(m, 'data/bot.sqlite').map((d) => [d.path, d.kind, d.mtime])).toEqual([['data/bot.sqlite', 'database', m.startedAt]]);
    expect(selectDatabases(m, './data/').map((d) => d.path)).toEqual(['data/bot.sqlite', 'data/other.sqlite']);
    expect(selectDatabases(m, 'keys')).toEqual([]);
  });
});

describe('nothingSelected', () => {
  it('refuses a path the backup does not hold', () => {
    const m = manifest('b1', null, [file('keys/api.key', 'b1')]);
    const error = nothingSelected(m, 'key');
    expect(error).toBeInstanceOf(BackupNotFoundError);
    expect(error.message).toBe('Backup b1 holds no file or folder "key"; run "botbackup show b1" to see its contents.');
  });
});

describe('planMembers', () => {
  it('reads a full backup from its own archive', () => {
    const m = manifest('b1', null, [file('a.txt', 'b1')], [snapshot('bot.db')]);
    expect(shape(planMembers([m], m, filesIn(m.files!, undefined), selectDatabases(m, undefined)))).toEqual({
      b1: { files: 1, members: { 'db/bot.db': 'snapshot:bot.db' } },
    });
  });

  it('counts each file in the backup that stored it, and takes a database from its last snapshot plus every delta after it', () => {
    const b1 = manifest('b1', null, [file('a.txt', 'b1'), file('b.txt', 'b1')], [snapshot('bot.db')]);
    const b2 = manifest('b2', 'b1', [file('a.txt', 'b1'), file('b.txt', 'b2')], [delta('bot.db', 8, 2, 'd2')]);
    const b3 = manifest('b3', 'b2', [file('a.txt', 'b1'), file('b.txt', 'b2'), file('c.txt', 'b3'), file('d.txt', 'b3')], [delta('bot.db', 8, 1, 'd3')]);
    const reads = planMembers([b1, b2, b3], b3, filesIn(b3.files!, undefined), selectDatabases(b3, undefined));
    // Newest first: the deltas, then the snapshot under them, which writes only what they did not.
    expect(reads.map(({ link }) => link.id)).toEqual(['b3', 'b2', 'b1']);
    expect(reads.map(({ link }) => link)).toEqual([b3, b2, b1]);
    expect(shape(reads)).toEqual({
      b1: { files: 1, members: { 'db/bot.db': 'base:bot.db' } },
      b2: { files: 1, members: { d2: 'delta:bot.db@8+2' } },
      b3: { files: 2, members: { d3: 'delta:bot.db@8+1' } },
    });
  });

  it('keeps chain order, newest first, whatever order filesIn names the links in', () => {
    const b1 = manifest('b1', null, [file('a.txt', 'b1')]);
    const b2 = manifest('b2', 'b1', [file('a.txt', 'b1'), file('b.txt', 'b2')]);
    const reads = planMembers(
      [b1, b2],
      b2,
      new Map([
        ['b1', 1],
        ['b2', 1],
      ]),
      [],
    );
    expect(reads.map(({ link }) => link.id)).toEqual(['b2', 'b1']);
  });

  it('stops at the newest snapshot and reads only the archives --only needs, newest first', () => {
    const b1 = manifest('b1', null, [file('a.txt', 'b1')], [snapshot('bot.db')]);
    const b2 = manifest('b2', 'b1', [file('a.txt', 'b1')], [snapshot('bot.db', 's2')]);
    const b3 = manifest('b3', 'b2', [file('a.txt', 'b1')], [delta('bot.db', 8, 3, 'd3')]);
    expect(shape(planMembers([b1, b2, b3], b3, filesIn(b3.files!, 'bot.db'), selectDatabases(b3, 'bot.db')))).toEqual({
      b2: { files: 0, members: { s2: 'base:bot.db' } },
      b3: { files: 0, members: { d3: 'delta:bot.db@8+3' } },
    });
    expect(shape(planMembers([b1, b2, b3], b3, filesIn(b3.files!, 'a.txt'), selectDatabases(b3, 'a.txt')))).toEqual({
      b1: { files: 1, members: {} },
    });
  });

  it('leaves out links with neither files nor members', () => {
    const b1 = manifest('b1', null, [file('a.txt', 'b1')]);
    const b2 = manifest('b2', 'b1', [file('a.txt', 'b1')]);
    expect(shape(planMembers([b1, b2], b2, new Map(), []))).toEqual({});
    expect(shape(planMembers([b1, b2], b2, filesIn(b2.files!, undefined), []))).toEqual({ b1: { files: 1, members: {} } });
  });

  it('names the broken link when the chain lacks what a manifest points to', () => {
    const b1 = manifest('b1', null, [], [snapshot('bot.db')]);
    const orphan = manifest('b2', 'b1', [file('a.txt', 'b0')], []);
    const orphanError = catchError(() => planMembers([b1, orphan], orphan, filesIn(orphan.files!, undefined), selectDatabases(orphan, undefined)));
    expect(orphanError).toBeInstanceOf(BrokenLinkError);
    expect((orphanError as BrokenLinkError).link).toBe('b0');
    expect((orphanError as Error).message).toBe(new BrokenLinkError('b0', orphan, 'files are stored in it, but it is not in the chain').message);
    expect((orphanError as Error).message).toContain('files are stored in it, but it is not in the chain');

    const noCopy = manifest('b2', 'b1', [], [delta('other.db', 8, 1)]);
    const error = catchError(() => planMembers([b1, noCopy], noCopy, filesIn(noCopy.files!, undefined), selectDatabases(noCopy, undefined)));
    expect(error).toBeInstanceOf(BrokenLinkError);
    expect((error as BrokenLinkError).link).toBe('b1');
    expect((error as Error).message).toContain('it holds no copy of the database "other.db" that the next link builds on');

    const first = manifest('b1', null, [], [delta('bot.db', 8, 1)]);
    const next = manifest('b2', 'b1', [], [delta('bot.db', 8, 1)]);
    const deltaError = catchError(() => planMembers([first, next], next, filesIn(next.files!, undefined), selectDatabases(next, undefined)));
    expect(deltaError).toBeInstanceOf(BrokenLinkError);
    expect((deltaError as BrokenLinkError).link).toBe('b1');
    expect((deltaError as Error).message).toContain('its database "bot.db" is a delta with no snapshot before it');
  });
});

describe('restoredMode', () => {
  it('restores secrets 0600 and other files with their permission bits', () => {
    expect(restoredMode({ kind: 'secret', mode: 0o644 })).toBe(0o600);
    expect(restoredMode({ kind: 'config', mode: 0o4755 })).toBe(0o755);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
