import { describe, expect, it } from 'vitest';
import { BackupNotFoundError, type Manifest, type ManifestDatabase, type ManifestFile } from '@botbackup/core';
import { BrokenLinkError } from '../../repository/index.js';
import { planMembers, restoredMode, selectEntries, type ArchiveRead } from './plan.js';
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

/** A plan as plain data: link id → member path → action type (and the delta's expectation). */
function shape(reads: ArchiveRead[]): Record<string, Record<string, string>> {
  return Object.fromEntries(
    reads.map(({ link, members }) => [
      link.id,
      Object.fromEntries(
        [...members].map(([member, action]) => [
          member,
          `${action.type}:${action.item.path}${action.type === 'delta' ? `@${action.expected.basePageCount}+${action.expected.pages}` : ''}`,
        ]),
      ),
    ]),
  );
}

describe('selectEntries', () => {
  const m = manifest(
    'b1',
    null,
    [file('config.json', 'b1'), file('keys/api.key', 'b1', { kind: 'secret' }), file('keys/old/x.key', 'b1'), file('keysmith.txt', 'b1')],
    [snapshot('data/bot.sqlite')],
  );

  it('selects everything without --only: files, then databases', () => {
    expect(selectEntries(m, undefined).map((e) => e.path)).toEqual(['config.json', 'keys/api.key', 'keys/old/x.key', 'keysmith.txt', 'data/bot.sqlite']);
  });

  it('selects a path and everything under it, not its namesakes', () => {
    expect(selectEntries(m, 'keys').map((e) => e.path)).toEqual(['keys/api.key', 'keys/old/x.key']);
    expect(selectEntries(m, './keys/').map((e) => e.path)).toEqual(['keys/api.key', 'keys/old/x.key']);
    expect(selectEntries(m, 'data/bot.sqlite').map((e) => [e.path, e.kind, e.mtime])).toEqual([['data/bot.sqlite', 'database', m.startedAt]]);
  });

  it('refuses a path the backup does not hold', () => {
    expect(() => selectEntries(m, 'nope')).toThrow(BackupNotFoundError);
    expect(() => selectEntries(m, 'key')).toThrow('Backup b1 holds no file or folder "key"; run "botbackup show b1" to see its contents.');
  });
});

describe('planMembers', () => {
  it('reads a full backup from its own archive', () => {
    const m = manifest('b1', null, [file('a.txt', 'b1')], [snapshot('bot.db')]);
    expect(shape(planMembers([m], m, selectEntries(m, undefined)))).toEqual({ b1: { 'a.txt': 'file:a.txt', 'db/bot.db': 'snapshot:bot.db' } });
  });

  it('takes each file from the backup that stored it, and a database from its last snapshot plus every delta after it', () => {
    const b1 = manifest('b1', null, [file('a.txt', 'b1'), file('b.txt', 'b1')], [snapshot('bot.db')]);
    const b2 = manifest('b2', 'b1', [file('a.txt', 'b1'), file('b.txt', 'b2')], [delta('bot.db', 8, 2, 'd2')]);
    const b3 = manifest('b3', 'b2', [file('a.txt', 'b1'), file('b.txt', 'b2'), file('c.txt', 'b3')], [delta('bot.db', 8, 1, 'd3')]);
    const reads = planMembers([b1, b2, b3], b3, selectEntries(b3, undefined));
    expect(reads.map(({ link }) => link.id)).toEqual(['b1', 'b2', 'b3']);
    expect(shape(reads)).toEqual({
      b1: { 'a.txt': 'file:a.txt', 'db/bot.db': 'snapshot:bot.db' },
      b2: { 'b.txt': 'file:b.txt', d2: 'delta:bot.db@8+2' },
      b3: { 'c.txt': 'file:c.txt', d3: 'delta:bot.db@8+1' },
    });
  });

  it('stops at the newest snapshot and reads only the archives --only needs, oldest first', () => {
    const b1 = manifest('b1', null, [file('a.txt', 'b1')], [snapshot('bot.db')]);
    const b2 = manifest('b2', 'b1', [file('a.txt', 'b1')], [snapshot('bot.db', 's2')]);
    const b3 = manifest('b3', 'b2', [file('a.txt', 'b1')], [delta('bot.db', 8, 3, 'd3')]);
    expect(shape(planMembers([b1, b2, b3], b3, selectEntries(b3, 'bot.db')))).toEqual({ b2: { s2: 'snapshot:bot.db' }, b3: { d3: 'delta:bot.db@8+3' } });
    expect(shape(planMembers([b1, b2, b3], b3, selectEntries(b3, 'a.txt')))).toEqual({ b1: { 'a.txt': 'file:a.txt' } });
  });

  it('names the broken link when the chain lacks what a manifest points to', () => {
    const b1 = manifest('b1', null, [], [snapshot('bot.db')]);
    const orphan = manifest('b2', 'b1', [file('a.txt', 'b0')], []);
    expect(() => planMembers([b1, orphan], orphan, selectEntries(orphan, undefined))).toThrow(
      new BrokenLinkError('b0', orphan, '"a.txt" is stored in it, but it is not in the chain'),
    );

    const noCopy = manifest('b2', 'b1', [], [delta('other.db', 8, 1)]);
    const error = catchError(() => planMembers([b1, noCopy], noCopy, selectEntries(noCopy, undefined)));
    expect(error).toBeInstanceOf(BrokenLinkError);
    expect((error as BrokenLinkError).link).toBe('b1');
    expect((error as Error).message).toContain('it holds no copy of the database "other.db" that the next link builds on');

    const first = manifest('b1', null, [], [delta('bot.db', 8, 1)]);
    const next = manifest('b2', 'b1', [], [delta('bot.db', 8, 1)]);
    expect(() => planMembers([first, next], next, selectEntries(next, undefined))).toThrow('its database "bot.db" is a delta with no snapshot before it');
  });
});

describe('restoredMode', () => {
  it('restores secrets 0600 and other files with their permission bits', () => {
    expect(restoredMode({ path: 'k', kind: 'secret', mode: 0o644, size: 0, mtime: '', sha256: SHA })).toBe(0o600);
    expect(restoredMode({ path: 'c', kind: 'config', mode: 0o4755, size: 0, mtime: '', sha256: SHA })).toBe(0o755);
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
