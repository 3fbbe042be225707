import { describe, expect, it } from 'vitest';
import { buildManifest, type ManifestInput } from './build-manifest.js';
import { DEFAULT_INCREMENTAL_LIMITS } from './config/index.js';
import { manifestBytes, parseManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { PAGE_HASH_SIZE, type PageMap } from './page-delta.js';
import { planIncremental, type PlannedFile } from './plan-backup.js';

const FULL = '20261126T020000.000Z-aaaaaaaaaa';
const NEXT = '20261127T020000.000Z-bbbbbbbbbb';
const MTIME = '2026-11-25T00:00:00.000Z';

function entry(path: string, sha: string, extra: Partial<ManifestEntry> = {}): ManifestEntry {
  return { path, kind: 'config', mode: 0o600, size: 10, mtime: MTIME, sha256: sha.repeat(64), ...extra };
}

/** The planned file the hashing stage makes of an entry (what it will be packed as). */
function planned(e: ManifestEntry): PlannedFile {
  const { path, mode, size, mtime, sha256, linkTarget } = e;
  return { path, kind: e.kind as PlannedFile['kind'], mode, size, mtime, sha256, ...(linkTarget !== undefined ? { linkTarget } : {}) };
}

function pageMap(values: number[]): PageMap {
  const hashes = new Uint8Array(values.length * PAGE_HASH_SIZE);
  values.forEach((v, i) => (hashes[i * PAGE_HASH_SIZE] = v));
  return { algorithm: 'xxh64', pageSize: 4096, pageCount: values.length, hashes };
}

function archive(id: string, size: number): Manifest['objects'][number] {
  return { key: `data/bot/${id}/archive.tar.zst`, role: 'archive', size, sha256: 'f'.repeat(64), compression: 'zstd', encryption: null };
}

const db = { name: 'trades', path: 'data/trades.db', mode: 0o644, journalMode: 'wal', pageSize: 4096, pageCount: 3 as number, size: 3 * 4096 };

/** A full backup of a.json, b.json, a link, d.json and gone.json, and its database as a snapshot; v.json vanished while packed. */
function fullInput(): ManifestInput {
  const entries = [
    entry('a.json', 'a'),
    entry('b.json', 'b'),
    entry('d.json', 'd'),
    entry('gone.json', 'c'),
    entry('link.json', 'e', { size: 0, linkTarget: 'a.json' }),
    entry('.env', '1', { kind: 'secret', size: 5 }),
    entry('data/trades.db', '9', { kind: 'database', size: db.size, mtime: '2026-11-26T02:00:00.000Z' }),
  ];
  return {
    id: FULL,
    plan: { type: 'full', reason: 'a full backup was requested' },
    parent: undefined,
    source: { id: 'bot', host: 'h', root: '/bot' },
    startedAt: new Date('2026-11-26T02:00:00.000Z'),
    completedAt: new Date('2026-11-26T02:00:01.500Z'),
    toolVersion: '0.1.0',
    sqliteVersion: '3.50.0',
    compression: { codec: 'zstd', level: 3 },
    foundPaths: ['.env', 'a.json', 'b.json', 'd.json', 'gone.json', 'link.json', 'v.json'],
    databases: [{ ...db, sha256: undefined, pageMap: `data/bot/${FULL}/pagemap-trades.bin` }],
    entries,
    objects: [archive(FULL, 900), { ...archive(FULL, 24), key: `data/bot/${FULL}/pagemap-trades.bin`, role: 'page-map', compression: 'none' }],
    excluded: [{ path: 'logs/old.log', reason: 'log not modified within 7d' }],
    skipped: [
      { path: 'z.json', reason: 'symbolic link loop' },
      { path: 'v.json', reason: 'vanished before it was read' },
    ],
    warnings: ['a warning'],
    trigger: { jobId: '7', scheduleId: 'nightly', queuedAt: '2026-11-26T01:59:00.000Z' },
    copies: { written: ['local'], failed: [{ target: 's3', error: 'down' }] },
    encryption: undefined,
  };
}

/** The manifest's stored text parses back (the schema accepts it) to the same manifest (zod orders keys its own way). */
function roundTrip(manifest: Manifest): void {
  expect(parseManifest(manifestBytes(manifest), 'test')).toEqual(manifest);
}

describe('buildManifest', () => {
  it('a full backup: every packed file stored in it, from its entry; skipped files left out; members in the stored order', () => {
    const input = fullInput();
    const manifest = buildManifest(input);
    expect(Object.keys(manifest)).toEqual([
      'format',
      'schemaVersion',
      'id',
      'type',
      'parent',
      'chainDepth',
      'fullReason',
      'source',
      'startedAt',
      'completedAt',
      'tool',
      'sqlite',
      'compression',
      'databases',
      'entries',
      'files',
      'deleted',
      'objects',
      'excluded',
      'skipped',
      'warnings',
      'stats',
      'trigger',
      'copies',
    ]);
    expect(manifest).toMatchObject({
      schemaVersion: 3,
      type: 'full',
      parent: null,
      chainDepth: 0,
      fullReason: 'a full backup was requested',
      startedAt: '2026-11-26T02:00:00.000Z',
      completedAt: '2026-11-26T02:00:01.500Z',
      tool: { name: 'botbackup', version: '0.1.0' },
      sqlite: { version: '3.50.0' },
      deleted: [],
      stats: { entryBytes: 4 * 10 + 0 + 5 + db.size, storedBytes: 924, durationMs: 1500 },
    });
    // v.json was found but vanished before it was packed: no entry, not a file of the backup.
    expect(manifest.files.map((f) => [f.path, f.storedIn])).toEqual(
      ['.env', 'a.json', 'b.json', 'd.json', 'gone.json', 'link.json'].map((p) => [p, FULL]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    expect(manifest.files.find((f) => f.path === 'link.json')).toEqual({ ...input.entries[4], storedIn: FULL });
    expect(manifest.files.find((f) => f.path === '.env')).toMatchObject({ kind: 'secret', size: 5 });
    expect(manifest.skipped!.map((s) => s.path)).toEqual(['v.json', 'z.json']);
    expect(input.skipped.map((s) => s.path)).toEqual(['z.json', 'v.json']);
    expect(manifest.databases).toEqual([
      {
        ...db,
        quickCheck: 'ok',
        pageMap: `data/bot/${FULL}/pagemap-trades.bin`,
        sha256: '9'.repeat(64),
        stored: { type: 'snapshot', entry: 'data/trades.db' },
      },
    ]);
    expect(manifest).not.toHaveProperty('encryption');
    expect(buildManifest(input)).toEqual(manifest);
    roundTrip(manifest);
  });

  it('an incremental: unchanged files keep the parent storedIn, changed and new ones are stored here, the parent’s missing files are deleted', () => {
    const parent = buildManifest(fullInput());
    const now = [
      entry('b.json', '2'), // changed
      entry('c.json', '3'), // new
      entry('d.json', '4'), // changed, then vanished while packed
    ];
    const unchanged = ['.env', 'a.json', 'link.json'].map((p) => planned(parent.entries.find((e) => e.path === p)!));
    const plan = planIncremental({
      backupId: NEXT,
      parent,
      parentPageMaps: new Map([[db.path, pageMap([1, 2, 3])]]),
      limits: { ...DEFAULT_INCREMENTAL_LIMITS, maxDeltaRatio: 1 },
      files: [...unchanged, ...now.map(planned)].sort((a, b) => (a.path < b.path ? -1 : 1)),
      databases: [{ path: db.path, pageSize: 4096, pageCount: 4, pageMap: pageMap([1, 7, 3, 8]) }],
    });
    if (plan.type !== 'incremental') throw new Error(plan.reason);
    const deltaEntry = entry('data/trades.db.bbdelta', '5', { kind: 'database-delta', size: 8300 });
    const manifest = buildManifest({
      ...fullInput(),
      id: NEXT,
      plan,
      parent,
      foundPaths: [],
      databases: [{ ...db, pageCount: 4, size: 4 * 4096, sha256: '6'.repeat(64), pageMap: `data/bot/${NEXT}/pagemap-trades.bin` }],
      entries: [now[0]!, now[1]!, deltaEntry],
      objects: [archive(NEXT, 300)],
      skipped: [{ path: 'd.json', reason: 'vanished before it was read' }],
      trigger: undefined,
      copies: { written: ['local', 's3'], failed: [] },
      encryption: { contentHash: 'hmac-sha256', contentHashKeyId: '0123456789abcdef', contentHashKey: 'YWdl' },
    });
    expect(manifest).toMatchObject({ type: 'incremental', parent: FULL, chainDepth: 1, fullReason: null });
    expect(manifest.files.map((f) => [f.path, f.storedIn])).toEqual([
      ['.env', FULL],
      ['a.json', FULL],
      ['b.json', NEXT],
      ['c.json', NEXT],
      ['link.json', FULL],
    ]);
    // An inherited file is the parent's, link target and all.
    expect(manifest.files.find((f) => f.path === 'link.json')).toEqual(parent.files.find((f) => f.path === 'link.json'));
    expect(manifest.files.find((f) => f.path === 'b.json')!.sha256).toBe('2'.repeat(64));
    // d.json changed but vanished while packed: gone from this backup, so deleted like gone.json.
    expect(manifest.deleted).toEqual(['d.json', 'gone.json']);
    expect(manifest.databases[0]).toMatchObject({
      sha256: '6'.repeat(64),
      pageCount: 4,
      stored: { type: 'delta', entry: 'data/trades.db.bbdelta', basePageCount: 3, pages: 2 },
    });
    expect(manifest.stats).toEqual({ entryBytes: 8320, storedBytes: 300, durationMs: 1500 });
    expect(manifest).not.toHaveProperty('trigger');
    expect(Object.keys(manifest).slice(-2)).toEqual(['copies', 'encryption']);
    roundTrip(manifest);
  });

  it('a full backup made where an incremental was asked for names no parent and deletes nothing', () => {
    const parent = buildManifest(fullInput());
    const manifest = buildManifest({ ...fullInput(), id: NEXT, plan: { type: 'full', reason: 'the chain reached its limit' }, parent, foundPaths: ['a.json'] });
    expect(manifest).toMatchObject({ type: 'full', parent: null, chainDepth: 0, fullReason: 'the chain reached its limit', deleted: [] });
    expect(manifest.files.map((f) => [f.path, f.storedIn])).toEqual([['a.json', NEXT]]);
    roundTrip(manifest);
  });
});
