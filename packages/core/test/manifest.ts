import type { Manifest } from '../src/manifest.js';

/**
 * A valid manifest of a full backup of source "bot" holding only an archive object, for tests of
 * the manifest's text and schema: give the fields the test is about (files and entries, schema
 * version, sqlite) and the rest stays a plausible backup.
 */
export function sampleManifest(fields: Partial<Manifest> = {}): Manifest {
  const id = fields.id ?? '20261126T062717.123Z-abcdefghij';
  return {
    format: 'botbackup.manifest',
    schemaVersion: 3,
    id,
    type: 'full',
    parent: null,
    chainDepth: 0,
    fullReason: 'a full backup was requested',
    source: { id: 'bot', host: 'h', root: '/bot' },
    startedAt: '2026-11-26T06:27:17.123Z',
    completedAt: '2026-11-26T06:27:18.000Z',
    tool: { name: 'botbackup', version: '0.1.0' },
    sqlite: null,
    compression: { codec: 'zstd', level: 3 },
    databases: [],
    entries: [],
    files: [],
    deleted: [],
    objects: [{ key: `data/bot/${id}/archive.tar.zst`, role: 'archive', size: 10, sha256: 'b'.repeat(64), compression: 'zstd', encryption: null }],
    excluded: [],
    warnings: [],
    stats: { entryBytes: 1, storedBytes: 10, durationMs: 1 },
    ...fields,
  };
}
