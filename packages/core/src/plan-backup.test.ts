import { describe, expect, it } from 'vitest';
import { DEFAULT_INCREMENTAL_LIMITS } from './config/index.js';
import type { Manifest } from './manifest.js';
import { PAGE_HASH_SIZE, type PageMap } from './page-delta.js';
import { planIncremental, type PlannedFile } from './plan-backup.js';

const PARENT = '20261125T020000.000Z-aaaaaaaaaa';
const NEW = '20261126T020000.000Z-bbbbbbbbbb';

/** A page map whose page n hashes to `values[n-1]` (one byte is enough to tell pages apart). */
function map(values: number[], pageSize = 4096): PageMap {
  const hashes = new Uint8Array(values.length * PAGE_HASH_SIZE);
  values.forEach((v, i) => (hashes[i * PAGE_HASH_SIZE] = v));
  return { algorithm: 'xxh64', pageSize, pageCount: values.length, hashes };
}

function file(path: string, sha: string, size = 100): PlannedFile {
  return { path, kind: 'config', mode: 0o600, size, mtime: '2026-11-26T00:00:00.000Z', sha256: sha.repeat(64) };
}

function parent(overrides: Partial<Manifest> = {}): Manifest {
  return {
    id: PARENT,
    chainDepth: 0,
    files: [
      { ...file('a.json', 'a'), storedIn: '20261120T000000.000Z-ffffffffff' },
      { ...file('b.json', 'b'), storedIn: PARENT },
      { ...file('gone.json', 'c'), storedIn: PARENT },
    ],
    ...overrides,
  } as Manifest;
}

describe('planIncremental', () => {
  const base = map(Array.from({ length: 100 }, (_, i) => i + 1));

  it('stores changed and new files, keeps unchanged ones where they are stored, and lists deleted ones', () => {
    const plan = planIncremental({
      backupId: NEW,
      parent: parent(),
      parentPageMaps: new Map(),
      limits: { maxChainLength: 14, maxDeltaRatio: 1 },
      files: [file('a.json', 'a'), file('b.json', 'd'), file('new.json', 'e')],
      databases: [],
    });
    if (plan.type !== 'incremental') throw new Error(plan.reason);
    expect(plan.changed.map((f) => f.path)).toEqual(['b.json', 'new.json']);
    expect(plan.files.map((f) => [f.path, f.storedIn])).toEqual([
      ['a.json', '20261120T000000.000Z-ffffffffff'],
      ['b.json', NEW],
      ['new.json', NEW],
    ]);
    expect(plan.deleted).toEqual(['gone.json']);
    expect(plan.chainDepth).toBe(1);
  });

  it('makes a database a delta of its changed and appended pages, or a snapshot when the parent has no usable map', () => {
    const next = map([...Array.from({ length: 100 }, (_, i) => (i === 10 || i === 11 || i === 50 ? 200 : i + 1)), 201, 202]);
    const plan = planIncremental({
      backupId: NEW,
      parent: parent(),
      parentPageMaps: new Map([
        ['db/trades.db', base],
        ['db/other.db', map([1, 2], 1024)],
      ]),
      limits: DEFAULT_INCREMENTAL_LIMITS,
      files: [],
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
  });

  it('a database that shrank needs only its changed pages: the new page count cuts the rest', () => {
    const plan = planIncremental({
      backupId: NEW,
      parent: parent({ files: [] }),
      parentPageMaps: new Map([['t.db', base]]),
      limits: DEFAULT_INCREMENTAL_LIMITS,
      files: [],
      databases: [{ path: 't.db', pageSize: 4096, pageCount: 60, pageMap: map(Array.from({ length: 60 }, (_, i) => (i === 0 ? 99 : i + 1))) }],
    });
    if (plan.type !== 'incremental') throw new Error(plan.reason);
    expect(plan.databases.get('t.db')).toMatchObject({ type: 'delta', basePageCount: 100, pages: 1, runs: [{ first: 1, count: 1 }] });
  });

  it('becomes full when the chain would pass its limit, or the change passes the size threshold, and says why', () => {
    const input = {
      backupId: NEW,
      parentPageMaps: new Map([['t.db', base]]),
      files: [],
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
});
