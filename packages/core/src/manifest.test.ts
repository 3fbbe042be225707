import { describe, expect, it } from 'vitest';
import { IntegrityError } from './errors.js';
import { MANIFEST_SCHEMA_VERSION, parseManifest, serializeManifest, type Manifest } from './manifest.js';

const manifest: Manifest = {
  format: 'botbackup.manifest',
  schemaVersion: 2,
  id: '20261126T062717.123Z-abcdefghij',
  type: 'full',
  parent: null,
  chainDepth: 0,
  fullReason: 'a full backup was requested',
  source: { id: 'bot', host: 'h', root: '/bot' },
  startedAt: '2026-11-26T06:27:17.123Z',
  completedAt: '2026-11-26T06:27:18.000Z',
  tool: { name: 'botbackup', version: '0.1.0' },
  sqlite: { version: '3.50.0' },
  compression: { codec: 'zstd', level: 3 },
  databases: [],
  entries: [{ path: '.env', kind: 'secret', mode: 0o600, size: 1, mtime: '2026-11-26T06:27:17.123Z', sha256: 'a'.repeat(64) }],
  files: [
    {
      path: '.env',
      kind: 'secret',
      mode: 0o600,
      size: 1,
      mtime: '2026-11-26T06:27:17.123Z',
      sha256: 'a'.repeat(64),
      storedIn: '20261126T062717.123Z-abcdefghij',
    },
  ],
  deleted: [],
  objects: [{ key: 'data/bot/x/archive.tar.zst', role: 'archive', size: 10, sha256: 'b'.repeat(64), compression: 'zstd', encryption: null }],
  excluded: [],
  warnings: [],
  stats: { entryBytes: 1, storedBytes: 10, durationMs: 877 },
};

/** The same backup as schema 1 wrote it (the foundation release): no files, fullReason, deleted, page maps. */
const schema1 = {
  ...manifest,
  schemaVersion: 1,
  databases: [
    {
      name: 'trades',
      path: 'data/trades.db',
      journalMode: 'wal',
      pageSize: 4096,
      pageCount: 2,
      size: 8192,
      sha256: 'c'.repeat(64),
      quickCheck: 'ok',
    },
  ],
  entries: [
    ...manifest.entries,
    { path: 'data/trades.db', kind: 'database', mode: 0o640, size: 8192, mtime: '2026-11-26T06:27:17.123Z', sha256: 'c'.repeat(64) },
  ],
} as Record<string, unknown>;
delete schema1.fullReason;
delete schema1.files;
delete schema1.deleted;

describe('manifest', () => {
  it('reads schema 1 manifests as full backups that stored every file themselves', () => {
    const read = parseManifest(JSON.stringify(schema1), 'm');
    expect(read.files).toEqual(manifest.files);
    expect(read.deleted).toEqual([]);
    expect(read.fullReason).toBe('a full backup was requested');
    expect(read.databases[0]).toMatchObject({ mode: 0o640, stored: { type: 'snapshot', entry: 'data/trades.db' }, pageMap: null });
  });

  it('round-trips through its serialization', () => {
    expect(parseManifest(serializeManifest(manifest), 'm')).toEqual(manifest);
  });

  it('rejects invalid JSON, a wrong shape, and a newer schema version with clear errors', () => {
    expect(() => parseManifest('{"format":', 'm.json')).toThrow(/m.json is not valid JSON/);
    expect(() => parseManifest(JSON.stringify({ ...manifest, entries: [{ path: 'x' }] }), 'm.json')).toThrow(/malformed at "entries.0.kind"/);
    const newer = JSON.stringify({ ...manifest, schemaVersion: MANIFEST_SCHEMA_VERSION + 1 });
    expect(() => parseManifest(newer, 'm.json')).toThrow(IntegrityError);
    expect(() => parseManifest(newer, 'm.json')).toThrow(/newer than this botbackup understands/);
  });
});
