import { describe, expect, it } from 'vitest';
import { IntegrityError } from './errors.js';
import { MANIFEST_SCHEMA_VERSION, parseManifest, serializeManifest, type Manifest } from './manifest.js';

const manifest: Manifest = {
  format: 'botbackup.manifest',
  schemaVersion: 1,
  id: '20261126T062717.123Z-abcdefghij',
  type: 'full',
  parent: null,
  chainDepth: 0,
  source: { id: 'bot', host: 'h', root: '/bot' },
  startedAt: '2026-11-26T06:27:17.123Z',
  completedAt: '2026-11-26T06:27:18.000Z',
  tool: { name: 'botbackup', version: '0.1.0' },
  sqlite: { version: '3.50.0' },
  compression: { codec: 'zstd', level: 3 },
  databases: [],
  entries: [{ path: '.env', kind: 'secret', mode: 0o600, size: 1, mtime: '2026-11-26T06:27:17.123Z', sha256: 'a'.repeat(64) }],
  objects: [{ key: 'data/bot/x/archive.tar.zst', role: 'archive', size: 10, sha256: 'b'.repeat(64), compression: 'zstd', encryption: null }],
  excluded: [],
  warnings: [],
  stats: { entryBytes: 1, storedBytes: 10, durationMs: 877 },
};

describe('manifest', () => {
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
