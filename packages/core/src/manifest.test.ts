import { describe, expect, it } from 'vitest';
import { IntegrityError } from './errors.js';
import {
  MANIFEST_SCHEMA_VERSION,
  checkManifestSignature,
  manifestSignature,
  parseManifest,
  restorableFile,
  serializeManifest,
  serializeSignedManifest,
  type Manifest,
} from './manifest.js';
import { sampleManifest } from '../test/manifest.js';
import { signer } from '../test/signer.js';

const manifest: Manifest = sampleManifest({
  schemaVersion: 2,
  sqlite: { version: '3.50.0' },
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
  objects: [{ key: 'data/bot/x/archive.tar.zst', role: 'archive', size: 10, sha256: 'b'.repeat(64), compression: 'zstd', encryption: null }],
  stats: { entryBytes: 1, storedBytes: 10, durationMs: 877 },
});

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

  it('keeps symbolic links (linkTarget) and skipped files; a manifest without them still reads, and restorableFile carries the link', () => {
    const link = {
      path: 'config/alias.json',
      kind: 'config' as const,
      mode: 0o777,
      size: 0,
      mtime: manifest.startedAt,
      sha256: 'd'.repeat(64),
      linkTarget: 'bot.json',
    };
    const withLinks: Manifest = {
      ...manifest,
      entries: [...manifest.entries, link],
      files: [...manifest.files!, { ...link, storedIn: manifest.id }],
      skipped: [{ path: 'logs/rotated.log', reason: 'vanished before it was read' }],
    };
    const read = parseManifest(serializeManifest(withLinks), 'm');
    expect(read).toEqual(withLinks);
    expect(restorableFile(read.files!.find((f) => f.path === 'config/alias.json')!)).toMatchObject({ linkTarget: 'bot.json', size: 0 });
    expect(restorableFile(read.files!.find((f) => f.path === '.env')!)).not.toHaveProperty('linkTarget');
    expect(parseManifest(serializeManifest(manifest), 'm').skipped).toBeUndefined();
    expect(() => parseManifest(JSON.stringify({ ...withLinks, entries: [{ ...link, linkTarget: '' }] }), 'm.json')).toThrow(
      /malformed at "entries.0.linkTarget"/,
    );
  });

  it('rejects invalid JSON, a wrong shape, and a newer schema version with clear errors', () => {
    expect(() => parseManifest('{"format":', 'm.json')).toThrow(/m.json is not valid JSON/);
    expect(() => parseManifest(JSON.stringify({ ...manifest, entries: [{ path: 'x' }] }), 'm.json')).toThrow(/malformed at "entries.0.kind"/);
    const newer = JSON.stringify({ ...manifest, schemaVersion: MANIFEST_SCHEMA_VERSION + 1 });
    expect(() => parseManifest(newer, 'm.json')).toThrow(IntegrityError);
    expect(() => parseManifest(newer, 'm.json')).toThrow(/newer than this botbackup understands/);
  });

  it('schema 4 keeps its files in exactly one file list object, earlier schemas inline', () => {
    const list = {
      key: 'data/bot/x/files.ndjson.zst',
      role: 'file-list' as const,
      size: 5,
      sha256: 'e'.repeat(64),
      compression: 'zstd' as const,
      encryption: null,
    };
    const { files: _files, ...noFiles } = manifest;
    const schema4: Manifest = { ...noFiles, schemaVersion: 4, fileList: { files: 1, stored: 1, storedBytes: 1 }, objects: [...manifest.objects, list] };
    expect(parseManifest(serializeManifest(schema4), 'm')).toEqual(schema4);
    const bad = (m: object) => () => parseManifest(JSON.stringify(m), 'm.json');
    expect(bad({ ...schema4, files: manifest.files })).toThrow(/lists its files inline/);
    expect(bad({ ...schema4, objects: manifest.objects })).toThrow(/does not name exactly one file list object/);
    expect(bad({ ...schema4, objects: [...schema4.objects, list] })).toThrow(/does not name exactly one file list object/);
    expect(bad({ ...schema4, fileList: undefined })).toThrow(/does not name exactly one file list object/);
    expect(bad(noFiles)).toThrow(/lists no files/);
    expect(bad({ ...manifest, objects: [...manifest.objects, list] })).toThrow(/file list object its schema does not know/);
  });
});

describe('manifest signatures', () => {
  const worker = signer();
  const other = signer();
  const signed = serializeSignedManifest(manifest, worker);
  const where = 'storage "local"';

  it('a signed manifest parses with a valid signature by its key, which is its last field', () => {
    const parsed = parseManifest(signed, 'm');
    expect(manifestSignature(parsed)).toEqual({ status: 'valid', publicKey: worker.publicKey });
    expect(Object.keys(JSON.parse(signed) as object).at(-1)).toBe('signature');
    expect(checkManifestSignature(parsed, { trusted: [worker.publicKey], insecure: false }, where)).toBeUndefined();
    // The signed bytes are exactly the manifest without the signature: signing is deterministic.
    expect(serializeSignedManifest(parsed, worker)).toBe(signed);
  });

  it('any change to the signed text, even one JSON would not see, invalidates it', () => {
    const raw = JSON.parse(signed) as Record<string, unknown>;
    const changes = [
      signed.replace('"size": 10', '"size": 11'),
      signed.replace('"bot"', '"bot2"'),
      // Same JSON value, other bytes: the signature is over the bytes.
      signed.replace('"format"', ' "format"'),
      `${JSON.stringify({ ...raw, warnings: ['x'] }, null, 2)}\n`,
    ];
    for (const text of changes) {
      const parsed = parseManifest(text, 'm');
      expect(manifestSignature(parsed).status).toBe('invalid');
      expect(() => checkManifestSignature(parsed, { trusted: [worker.publicKey], insecure: false }, where)).toThrow(/does not match its content/);
    }
  });

  it('unsigned, untrusted and invalid manifests are refused, or accepted with a warning under --insecure', () => {
    const unsigned = parseManifest(serializeManifest(manifest), 'm');
    const foreign = parseManifest(serializeSignedManifest(manifest, other), 'm');
    const policy = { trusted: [worker.publicKey], insecure: false };
    expect(() => checkManifestSignature(unsigned, policy, where)).toThrow(IntegrityError);
    expect(() => checkManifestSignature(unsigned, policy, where)).toThrow(/is not signed; refusing it/);
    expect(() => checkManifestSignature(foreign, policy, where)).toThrow(`is signed by ${other.publicKey}, which signing.trusted does not list`);
    expect(checkManifestSignature(foreign, { ...policy, insecure: true }, where)).toMatch(/accepted because of --insecure\.$/);
    // No trusted key at all: a plaintext, unsigned repository; nothing is checked.
    expect(checkManifestSignature(unsigned, { trusted: [], insecure: false }, where)).toBeUndefined();
  });

  it('a copy of a parsed manifest is not taken for a verified one', () => {
    const parsed = parseManifest(signed, 'm');
    expect(manifestSignature({ ...parsed }).status).toBe('invalid');
  });
});
