import { describe, expect, it } from 'vitest';
import { buildManifest, type ManifestInput } from './build-manifest.js';
import { DEFAULT_INCREMENTAL_LIMITS } from './config/index.js';
import { FileListCounts, fileOfEntry, joinByPath, pathsGone } from './file-list.js';
import { manifestBytes, parseManifest, type Manifest, type ManifestEntry, type ManifestFile } from './manifest.js';
import { PAGE_HASH_SIZE, type PageMap } from './page-delta.js';
import { planFile, planIncremental, type PlannedFile } from './plan-backup.js';
import { collect, stream } from '../test/streams.js';

const FULL = '20261126T020000.000Z-aaaaaaaaaa';
const NEXT = '20261127T020000.000Z-bbbbbbbbbb';
const MTIME = '2026-11-25T00:00:00.000Z';

function entry(path: string, sha: string, extra: Partial<ManifestEntry> = {}): ManifestEntry {
  return { path, kind: 'config', mode: 0o600, size: 10, mtime: MTIME, sha256: sha.repeat(64), ...extra };
}

/** The planned file the hashing stage makes of an entry (what it will be packed as). */
function planned(e: ManifestEntry | ManifestFile): PlannedFile {
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

function fileListObject(id: string, size: number): Manifest['objects'][number] {
  return { key: `data/bot/${id}/files.ndjson.zst`, role: 'file-list', size, sha256: 'e'.repeat(64), compression: 'zstd', encryption: null };
}

/** What the manifest says of a file list: counted as the backup writes it. */
function counted(id: string, records: readonly ManifestFile[]): ManifestInput['fileList'] {
  const counts = new FileListCounts(id);
  for (const r of records) counts.add(r);
  return counts.toJSON();
}

const db = { name: 'trades', path: 'data/trades.db', mode: 0o644, journalMode: 'wal', pageSize: 4096, pageCount: 3 as number, size: 3 * 4096 };
const dbEntry = entry('data/trades.db', '9', { kind: 'database', size: db.size, mtime: '2026-11-26T02:00:00.000Z' });

/** The files a full backup packs (path order): a.json, b.json, d.json, gone.json, a link and a secret. */
const fullFiles = [
  entry('.env', '1', { kind: 'secret', size: 5 }),
  entry('a.json', 'a'),
  entry('b.json', 'b'),
  entry('d.json', 'd'),
  entry('gone.json', 'c'),
  entry('link.json', 'e', { size: 0, linkTarget: 'a.json' }),
];

/** A full backup's file list: every file stored in it. */
function fullRecords(id = FULL): ManifestFile[] {
  return fullFiles.map((e) => fileOfEntry(e, id));
}

/** A full backup of {@link fullFiles} and its database as a snapshot; v.json vanished while packed. */
function fullInput(): ManifestInput {
  return {
    id: FULL,
    plan: { type: 'full', reason: 'a full backup was requested' },
    source: { id: 'bot', host: 'h', root: '/bot' },
    startedAt: new Date('2026-11-26T02:00:00.000Z'),
    completedAt: new Date('2026-11-26T02:00:01.500Z'),
    toolVersion: '0.1.0',
    sqliteVersion: '3.50.0',
    compression: { codec: 'zstd', level: 3 },
    databases: [{ ...db, sha256: undefined, pageMap: `data/bot/${FULL}/pagemap-trades.bin` }],
    entries: [dbEntry],
    fileList: counted(FULL, fullRecords()),
    deleted: [],
    objects: [
      archive(FULL, 900),
      { ...archive(FULL, 24), key: `data/bot/${FULL}/pagemap-trades.bin`, role: 'page-map', compression: 'none' },
      fileListObject(FULL, 300),
    ],
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
  it('a full backup: schema 4, its files counted in the file list, only the database among its entries, members in the stored order', () => {
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
      'fileList',
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
      schemaVersion: 4,
      type: 'full',
      parent: null,
      chainDepth: 0,
      fullReason: 'a full backup was requested',
      startedAt: '2026-11-26T02:00:00.000Z',
      completedAt: '2026-11-26T02:00:01.500Z',
      tool: { name: 'botbackup', version: '0.1.0' },
      sqlite: { version: '3.50.0' },
      deleted: [],
      stats: { entryBytes: 4 * 10 + 0 + 5 + db.size, storedBytes: 900 + 24 + 300, durationMs: 1500 },
    });
    expect(manifest).not.toHaveProperty('files');
    // Six files, all stored here; v.json was found but vanished before it was packed, so it is not one of them.
    expect(manifest.fileList).toEqual({ files: 6, stored: 6, storedBytes: 4 * 10 + 0 + 5 });
    expect(manifest.entries).toEqual([dbEntry]);
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
    // Schema 4 names its file list object: without it the manifest does not parse.
    const withoutList = buildManifest({ ...input, objects: input.objects.filter((o) => o.role !== 'file-list') });
    expect(() => parseManifest(manifestBytes(withoutList), 'test')).toThrow(/does not name exactly one file list object/);
  });

  it('an incremental: the file list counts what it stores and what it inherits; the delta is its only entry; deleted passed through', async () => {
    const parent = buildManifest(fullInput());
    const parentRecords = fullRecords();
    const now = [
      entry('b.json', '2'), // changed
      entry('c.json', '3', { size: 7 }), // new
      // d.json changed, then vanished while packed: not in the list.
    ];
    const unchanged = ['.env', 'a.json', 'link.json'].map((p) => planned(parentRecords.find((f) => f.path === p)!));
    const current = [...unchanged, ...now.map(planned)].sort((a, b) => (a.path < b.path ? -1 : 1));
    const records: ManifestFile[] = [];
    for await (const [file, old] of joinByPath(current, stream(parentRecords))) records.push(planFile(file, old, NEXT));
    const deleted = await collect(pathsGone(stream(parentRecords), stream(records)));
    expect(deleted).toEqual(['d.json', 'gone.json']);

    const plan = planIncremental({
      parent,
      parentPageMaps: new Map([[db.path, pageMap([1, 2, 3])]]),
      limits: { ...DEFAULT_INCREMENTAL_LIMITS, maxDeltaRatio: 1 },
      fileBytes: { changed: 17, all: 5 + 10 + 10 + 7 + 0 },
      databases: [{ path: db.path, pageSize: 4096, pageCount: 4, pageMap: pageMap([1, 7, 3, 8]) }],
    });
    if (plan.type !== 'incremental') throw new Error(plan.reason);
    const deltaEntry = entry('data/trades.db.bbdelta', '5', { kind: 'database-delta', size: 8300 });
    const manifest = buildManifest({
      ...fullInput(),
      id: NEXT,
      plan,
      databases: [{ ...db, pageCount: 4, size: 4 * 4096, sha256: '6'.repeat(64), pageMap: `data/bot/${NEXT}/pagemap-trades.bin` }],
      entries: [deltaEntry],
      fileList: counted(NEXT, records),
      deleted,
      objects: [archive(NEXT, 300), fileListObject(NEXT, 120)],
      skipped: [{ path: 'd.json', reason: 'vanished before it was read' }],
      trigger: undefined,
      copies: { written: ['local', 's3'], failed: [] },
      encryption: { contentHash: 'hmac-sha256', contentHashKeyId: '0123456789abcdef', contentHashKey: 'YWdl' },
    });
    expect(manifest).toMatchObject({ schemaVersion: 4, type: 'incremental', parent: FULL, chainDepth: 1, fullReason: null });
    expect(records.map((f) => [f.path, f.storedIn])).toEqual([
      ['.env', FULL],
      ['a.json', FULL],
      ['b.json', NEXT],
      ['c.json', NEXT],
      ['link.json', FULL],
    ]);
    // Five files, of which b.json (10 bytes) and c.json (7) are stored here.
    expect(manifest.fileList).toEqual({ files: 5, stored: 2, storedBytes: 17 });
    expect(manifest).not.toHaveProperty('files');
    expect(manifest.entries).toEqual([deltaEntry]);
    expect(manifest.deleted).toEqual(['d.json', 'gone.json']);
    expect(manifest.databases[0]).toMatchObject({
      sha256: '6'.repeat(64),
      pageCount: 4,
      stored: { type: 'delta', entry: 'data/trades.db.bbdelta', basePageCount: 3, pages: 2 },
    });
    expect(manifest.stats).toEqual({ entryBytes: 17 + 8300, storedBytes: 420, durationMs: 1500 });
    expect(manifest).not.toHaveProperty('trigger');
    expect(Object.keys(manifest).slice(-2)).toEqual(['copies', 'encryption']);
    roundTrip(manifest);
  });

  it('a full backup made where an incremental was asked for names no parent and stores every file itself', () => {
    const records = fullRecords(NEXT).filter((f) => f.path === 'a.json');
    const manifest = buildManifest({
      ...fullInput(),
      id: NEXT,
      plan: { type: 'full', reason: 'the chain reached its limit' },
      fileList: counted(NEXT, records),
      objects: [archive(NEXT, 50), fileListObject(NEXT, 40)],
    });
    expect(manifest).toMatchObject({ type: 'full', parent: null, chainDepth: 0, fullReason: 'the chain reached its limit', deleted: [] });
    expect(manifest.fileList).toEqual({ files: 1, stored: 1, storedBytes: 10 });
    expect(manifest.stats.entryBytes).toBe(10 + db.size);
    roundTrip(manifest);
  });
});
