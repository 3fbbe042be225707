import { describe, expect, it } from 'vitest';
import { DEFAULT_INCREMENTAL_LIMITS } from './config/index.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { PAGE_HASH_SIZE, type PageMap } from './page-delta.js';
import { planFile, planIncremental, type PlannedFile } from './plan-backup.js';

const PARENT = '20261125T020000.000Z-aaaaaaaaaa';
const NEW = '20261126T020000.000Z-bbbbbbbbbb';
const OLDER = '20261120T000000.000Z-ffffffffff';

/** A page map whose page n hashes to `values[n-1]` (one byte is enough to tell pages apart). */
function map(values: number[], pageSize = 4096): PageMap {
  const hashes = new Uint8Array(values.length * PAGE_HASH_SIZE);
  values.forEach((v, i) => (hashes[i * PAGE_HASH_SIZE] = v));
  return { algorithm: 'xxh64', pageSize, pageCount: values.length, hashes };
}

function file(path: string, sha: string, size = 100): PlannedFile {
  return { path, kind: 'config', mode: 0o600, size, mtime: '2026-11-26T00:00:00.000Z', sha256: sha.repeat(64) };
}

function parent(overrides: Partial<Pick<Manifest, 'id' | 'chainDepth'>> = {}): Pick<Manifest, 'id' | 'chainDepth'> {
  return { id: PARENT, chainDepth: 0, ...overrides };
}

describe('planFile', () => {
  /** The parent's record of a.json: stored in an older backup, with an older mode and time. */
  const old: ManifestFile = { ...file('a.json', 'a'), mode: 0o644, mtime: '2026-11-20T00:00:00.000Z', storedIn: OLDER };

  it('keeps an unchanged file where the parent’s record says it is stored, with the file’s current mode and time', () => {
    const now = file('a.json', 'a');
    expect(planFile(now, old, NEW)).toEqual({ ...now, storedIn: OLDER });
  });

  it('stores a file whose hash, size or link target changed in the new backup', () => {
    expect(planFile(file('a.json', 'b'), old, NEW)).toEqual({ ...file('a.json', 'b'), storedIn: NEW });
    expect(planFile(file('a.json', 'a', 101), old, NEW)).toEqual({ ...file('a.json', 'a', 101), storedIn: NEW });
    const link = { ...file('a.json', 'a', 0), linkTarget: 'x.json' };
    const oldLink: ManifestFile = { ...link, storedIn: OLDER };
    expect(planFile(link, oldLink, NEW).storedIn).toBe(OLDER);
    expect(planFile({ ...link, linkTarget: 'y.json' }, oldLink, NEW)).toEqual({ ...link, linkTarget: 'y.json', storedIn: NEW });
    // A link replaced by a regular file of the same (empty-text) hash and size is still a change.
    const { linkTarget: _t, ...plain } = link;
    expect(planFile(plain, oldLink, NEW).storedIn).toBe(NEW);
  });

  it('stores a file the parent did not have in the new backup', () => {
    expect(planFile(file('new.json', 'e'), undefined, NEW)).toEqual({ ...file('new.json', 'e'), storedIn: NEW });
  });
});

describe('planIncremental', () => {
  const base = map(Array.from({ length: 100 }, (_, i) => i + 1));

  it('is an incremental on the parent one deeper in the chain, with the files’ bytes counted', () => {
    const plan = planIncremental({
      parent: parent({ chainDepth: 2 }),
      parentPageMaps: new Map(),
      limits: { maxChainLength: 14, maxDeltaRatio: 1 },
      fileBytes: { changed: 200, all: 300 },
      databases: [],
    });
    expect(plan).toEqual({ type: 'incremental', parent: PARENT, chainDepth: 3, databases: new Map(), bytes: 200, fullBytes: 300 });
  });

  it('makes a database a delta of its changed and appended pages, or a snapshot when the parent has no usable map', () => {
    const next = map([...Array.from({ length: 100 }, (_, i) => (i === 10 || i === 11 || i === 50 ? 200 : i + 1)), 201, 202]);
    const plan = planIncremental({
      parent: parent(),
      parentPageMaps: new Map([
        ['db/trades.db', base],
        ['db/other.db', map([1, 2], 1024)],
      ]),
      limits: DEFAULT_INCREMENTAL_LIMITS,
      fileBytes: { changed: 0, all: 0 },
      databases: [
        { path: 'db/trades.db', pageSize: 4096, pageCount: 102, pageMap: next },
        // Page size changed (VACUUM with a new page_size): no delta possible.
        { path: 'db/other.db', pageSize: 4096, pageCount: 2, pageMap: map([1, 2]) },
        // New database: the parent has none.
        { path: 'db/new.db', pageSize: 4096, pageCount: 1, pageMap: map([9]) },
      ],
    });
    if (plan.type !== 'incremental') throw new Error(plan.reason);
    expect(plan.databases.get('db/trades.db')).toEqual({
      type: 'delta',
      basePageCount: 100,
      pages: 5,
      runs: [
        { first: 11, count: 2 },
        { first: 51, count: 1 },
        { first: 101, count: 2 },
      ],
    });
    expect(plan.databases.get('db/other.db')).toEqual({ type: 'snapshot' });
    expect(plan.databases.get('db/new.db')).toEqual({ type: 'snapshot' });
    expect(plan.fullBytes).toBe((102 + 2 + 1) * 4096);
  });

  it('a database that shrank needs only its changed pages: the new page count cuts the rest', () => {
    const plan = planIncremental({
      parent: parent(),
      parentPageMaps: new Map([['t.db', base]]),
      limits: DEFAULT_INCREMENTAL_LIMITS,
      fileBytes: { changed: 0, all: 0 },
      databases: [{ path: 't.db', pageSize: 4096, pageCount: 60, pageMap: map(Array.from({ length: 60 }, (_, i) => (i === 0 ? 99 : i + 1))) }],
    });
    if (plan.type !== 'incremental') throw new Error(plan.reason);
    expect(plan.databases.get('t.db')).toMatchObject({ type: 'delta', basePageCount: 100, pages: 1, runs: [{ first: 1, count: 1 }] });
  });

  it('becomes full when the chain would pass its limit, or the change passes the size threshold, and says why', () => {
    const input = {
      parentPageMaps: new Map([['t.db', base]]),
      fileBytes: { changed: 0, all: 0 },
      databases: [{ path: 't.db', pageSize: 4096, pageCount: 100, pageMap: map(Array.from({ length: 100 }, (_, i) => (i < 40 ? 255 : i + 1))) }],
    };
    expect(planIncremental({ ...input, parent: parent({ chainDepth: 14 }), limits: DEFAULT_INCREMENTAL_LIMITS })).toEqual({
      type: 'full',
      reason: 'the chain reached its limit of 14 incremental backups after a full one',
    });
    expect(planIncremental({ ...input, parent: parent({ chainDepth: 13 }), limits: DEFAULT_INCREMENTAL_LIMITS }).type).toBe('incremental');
    // 40 of 100 pages changed: above a 30% threshold, below the default 50%.
    const over = planIncremental({ ...input, parent: parent(), limits: { maxChainLength: 14, maxDeltaRatio: 0.3 } });
    expect(over.type).toBe('full');
    expect(over.type === 'full' && over.reason).toMatch(/^the change \(40(\.\d)?% of a full backup\) exceeds the limit of 30% for an incremental$/);
  });

  it('counts the files’ changed bytes against all of them in the delta ratio', () => {
    const input = { parent: parent(), parentPageMaps: new Map(), limits: { maxChainLength: 14, maxDeltaRatio: 0.5 }, databases: [] };
    const under = planIncremental({ ...input, fileBytes: { changed: 400, all: 1000 } });
    expect(under).toMatchObject({ type: 'incremental', bytes: 400, fullBytes: 1000 });
    const over = planIncremental({ ...input, fileBytes: { changed: 600, all: 1000 } });
    expect(over).toEqual({ type: 'full', reason: 'the change (60% of a full backup) exceeds the limit of 50% for an incremental' });
    // Unchanged files dilute a database's change: 40 of 100 pages is 40%, but 40% of (pages + 1 MiB of files) is under 30%.
    const db = { path: 't.db', pageSize: 4096, pageCount: 100, pageMap: map(Array.from({ length: 100 }, (_, i) => (i < 40 ? 255 : i + 1))) };
    const limits = { maxChainLength: 14, maxDeltaRatio: 0.3 };
    const pageMaps = new Map([['t.db', base]]);
    expect(planIncremental({ parent: parent(), parentPageMaps: pageMaps, limits, fileBytes: { changed: 0, all: 0 }, databases: [db] }).type).toBe('full');
    expect(planIncremental({ parent: parent(), parentPageMaps: pageMaps, limits, fileBytes: { changed: 0, all: 1 << 20 }, databases: [db] }).type).toBe(
      'incremental',
    );
  });
});
