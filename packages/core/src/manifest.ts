import crypto from 'node:crypto';
import { z } from 'zod';
import { COMPRESSION_CODECS, FILE_KINDS } from './config/index.js';
import { IntegrityError } from './errors.js';
import { parseJsonObjectBytes } from './json-bytes.js';
import { manifestChunks } from './manifest-text.js';
import { walPositionSchema } from './wal-segment.js';
import { applySignaturePolicy, type ManifestSigner, type SignaturePolicy } from './signature-policy.js';

/** The manifest schema version this build writes. Readers accept this and every older one. */
export const MANIFEST_SCHEMA_VERSION = 4;
export const MANIFEST_FORMAT = 'botbackup.manifest';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** The text of a symbolic link, as readlink returns it (relative or absolute). */
const linkTarget = z
  .string()
  .min(1)
  .refine((t) => !t.includes('\0'));

/** One member of this backup's archive. */
const entrySchema = z.object({
  /** Path inside the archive and, on restore, relative to the target folder (forward slashes). */
  path: z.string().min(1),
  kind: z.enum([...FILE_KINDS, 'database', 'database-delta']),
  mode: z.number().int().min(0).max(0o7777),
  size: z.number().int().min(0),
  mtime: z.string(),
  sha256: sha256Hex,
  /**
   * Present on a symbolic link: its target, verbatim (never followed). The tar member is a
   * symlink entry (size 0); `size` is 0 and `sha256` is the hash of the target text.
   */
  linkTarget: linkTarget.optional(),
});

/** One file as of this backup (the complete set, whichever backup's archive holds its content). */
export const fileSchema = z.object({
  path: z.string().min(1),
  kind: z.enum(FILE_KINDS),
  mode: z.number().int().min(0).max(0o7777),
  size: z.number().int().min(0),
  mtime: z.string(),
  sha256: sha256Hex,
  /** The backup whose archive holds this content, as an entry of the same path: this one or an ancestor. */
  storedIn: z.string(),
  /** Present on a symbolic link: its target, verbatim (see the entry's). */
  linkTarget: linkTarget.optional(),
});

const databaseSchema = z.object({
  name: z.string(),
  /** Where the database goes on restore, relative to the target folder. */
  path: z.string(),
  mode: z.number().int().min(0).max(0o7777),
  journalMode: z.string(),
  pageSize: z.number().int().positive(),
  pageCount: z.number().int().min(0),
  size: z.number().int().min(0),
  /** sha256 of the complete database as of this backup (what a restore must rebuild). */
  sha256: sha256Hex,
  /** Result of PRAGMA quick_check on the snapshot before it was stored: always "ok". */
  quickCheck: z.literal('ok'),
  /** How this backup holds it: a whole snapshot, or a page delta on the parent's copy. */
  stored: z.discriminatedUnion('type', [
    z.object({ type: z.literal('snapshot'), entry: z.string() }),
    z.object({
      type: z.literal('delta'),
      entry: z.string(),
      basePageCount: z.number().int().min(0),
      /** Pages the delta holds (changed and appended). */
      pages: z.number().int().min(0),
    }),
  ]),
  /** Key of the page map object (one hash per page of the complete database); null in schema 1. */
  pageMap: z.string().nullable(),
  /**
   * Where the database's WAL stood when the snapshot was taken: its first `frame` frames of the
   * WAL with these salts (a WAL-mode snapshot pinned by a read mark). Continuous shipping's
   * segments continue a backup from exactly there (docs/continuous.md). Absent otherwise.
   */
  wal: walPositionSchema.optional(),
});

const objectSchema = z.object({
  key: z.string(),
  /** Schema 4 adds `file-list`: the backup's file records, one JSON object per line (see file-list.ts). */
  role: z.enum(['archive', 'page-map', 'file-list']),
  /** Bytes as stored. */
  size: z.number().int().min(0),
  /** sha256 of the bytes as stored. */
  sha256: sha256Hex,
  compression: z.enum(COMPRESSION_CODECS),
  /**
   * null: stored as is. Otherwise an age file (compressed first): `recipients` to the configured
   * recipients, `recipients+worker` also to the worker key's own recipient (page maps, which the
   * next incremental must read on a host without the identity), `passphrase` with the passphrase.
   */
  encryption: z.union([z.null(), z.object({ format: z.literal('age'), readers: z.enum(['recipients', 'recipients+worker', 'passphrase']) })]),
});

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  schemaVersion: z.number().int().min(1),
  id: z.string(),
  type: z.enum(['full', 'incremental']),
  /** Parent backup of an incremental; null for a full backup. */
  parent: z.string().nullable(),
  /** 0 for a full backup, the parent's plus one for an incremental. */
  chainDepth: z.number().int().min(0),
  /** Why a backup is full (requested, no usable parent, a chain limit); null for an incremental. */
  fullReason: z.string().nullable(),
  source: z.object({ id: z.string(), host: z.string(), root: z.string() }),
  startedAt: z.string(),
  completedAt: z.string(),
  tool: z.object({ name: z.literal('botbackup'), version: z.string() }),
  sqlite: z.object({ version: z.string() }).nullable(),
  compression: z.object({ codec: z.enum(COMPRESSION_CODECS), level: z.number().int() }),
  databases: z.array(databaseSchema),
  /**
   * The archive's members, in archive order. Schema 4: only those that are not files of the
   * backup (databases, page deltas, the padded copy of a file that shrank while it was read); its
   * file members are the file list's records stored in this backup (see `fileList`).
   */
  entries: z.array(entrySchema),
  /**
   * Every file as of this backup (databases are in `databases`). Schemas 1 to 3 only: schema 4
   * keeps them in the object of role `file-list`, which a backup writes as it packs and a restore
   * reads as a stream, so that neither holds a million files at once (see `fileList`).
   */
  files: z.array(fileSchema).optional(),
  /**
   * Schema 4: what the file list (the `file-list` object, covered by the signature through its
   * sha256 in `objects`) holds: `files` records, `stored` of them stored in this backup's
   * archive, whose sizes add up to `storedBytes`.
   */
  fileList: z.object({ files: z.number().int().min(0), stored: z.number().int().min(0), storedBytes: z.number().int().min(0) }).optional(),
  /** Files the parent had that this backup no longer has. */
  deleted: z.array(z.string()),
  objects: z.array(objectSchema).min(1),
  excluded: z.array(z.object({ path: z.string(), reason: z.string() })),
  /**
   * Files found but not backed up, with why: a file that vanished or changed size while it was
   * read, a symbolic link that leaves the root, loops or dangles (with `symlinks: follow-inside`).
   * Absent in manifests written before it existed.
   */
  skipped: z.array(z.object({ path: z.string(), reason: z.string() })).optional(),
  warnings: z.array(z.string()),
  stats: z.object({ entryBytes: z.number().int().min(0), storedBytes: z.number().int().min(0), durationMs: z.number().min(0) }),
  /**
   * The storage targets the backup was committed to, and those it failed to reach (the backup is
   * degraded when any failed; `replicate` copies it there later). Absent in manifests written
   * before several targets were supported.
   */
  /**
   * What made the backup when it ran as a queued job: the job's id and when it was queued (the
   * same for every retry of it, so a retry finds the backup an earlier attempt committed; ids
   * alone repeat if Redis loses its data) and its schedule. Absent for a
   * backup run from the command line.
   */
  trigger: z.object({ jobId: z.string(), scheduleId: z.string().nullable(), queuedAt: z.string().optional() }).optional(),
  copies: z
    .object({
      written: z.array(z.string()).min(1),
      failed: z.array(z.object({ target: z.string(), error: z.string() })),
    })
    .optional(),
  /**
   * Schema 3, encrypted backups: every content hash (entries, files, databases: every `sha256`
   * but those of `objects`) is an HMAC-SHA256 under the content-hash key, derived from the worker
   * key, so the next incremental compares without any identity while the bucket holds no hash
   * that could confirm a guess of any content. The key is stored here as an age file (base64)
   * for the readers.
   */
  encryption: z
    .object({
      contentHash: z.literal('hmac-sha256'),
      /** The first 16 hex digits of HMAC-SHA256(key, "botbackup key id"): equal ids, comparable hashes. */
      contentHashKeyId: z.string().regex(/^[0-9a-f]{16}$/),
      contentHashKey: z.string().min(1),
    })
    .optional(),
  /** Made by a streamer as the first backup of this generation of continuous shipping (docs/continuous.md). */
  stream: z.object({ generation: z.string() }).optional(),
  /** Schema 3: Ed25519 over the manifest as serialized without this field (always last). */
  signature: z.object({ algorithm: z.literal('ed25519'), publicKey: z.string(), value: z.string() }).optional(),
});

export type ManifestEntry = z.infer<typeof entrySchema>;
export type ManifestFile = z.infer<typeof fileSchema>;
export type ManifestDatabase = z.infer<typeof databaseSchema>;
export type ManifestObject = z.infer<typeof objectSchema>;
/** Describes one backup. Written last: a backup exists exactly when its manifest does. */
export type Manifest = z.infer<typeof manifestSchema>;

/** Serializes a manifest: stable key order (as built), two-space indent, trailing newline. */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * The bytes of {@link serializeManifest}, built piece by piece: also for a manifest whose text is
 * longer than V8's longest string (about 512 MiB, a million files), which serializeManifest
 * cannot make at all.
 */
export function manifestBytes(manifest: Manifest): Buffer {
  // Each piece becomes bytes as it is made: the pieces' strings are never all held at once.
  return Buffer.concat(Array.from(manifestChunks(manifest), (chunk) => Buffer.from(chunk)));
}

/** The bytes of {@link serializeSignedManifest}, built as {@link manifestBytes} is. */
export function signedManifestBytes(manifest: Manifest, signer: ManifestSigner): Buffer {
  const { signature: _old, ...unsigned } = manifest;
  const signed = manifestBytes(unsigned);
  const value = signer.sign(signed).toString('base64');
  // The signature is the last member: the unsigned text without its closing "\n}\n", then it.
  const member = `,\n  "signature": ${JSON.stringify({ algorithm: 'ed25519', publicKey: signer.publicKey, value }, null, 2).replace(/\n/g, '\n  ')}\n}\n`;
  const bytes = Buffer.concat([signed.subarray(0, signed.length - 3), Buffer.from(member)]);
  storedHashes.set(manifest, hashManifestBytes(bytes));
  return bytes;
}

/** The sha256 (hex) and size in bytes of a manifest's stored text. */
export interface ManifestHash {
  sha256: string;
  size: number;
}

/** The stored text's hash of manifests parsed here or signed by {@link signedManifestBytes}. */
const storedHashes = new WeakMap<Manifest, ManifestHash>();

/**
 * A manifest's hash, the one definition backup, replicate, verify and the catalog use: the sha256
 * and size of its stored text. That is the bytes it was parsed from (parseManifest; a reparse of
 * them may order keys differently), or the bytes signedManifestBytes made for it, or else the
 * bytes manifestBytes writes for it, hashed piece by piece (no string of the whole manifest).
 */
export function manifestHash(manifest: Manifest): ManifestHash {
  const known = storedHashes.get(manifest);
  if (known) return known;
  const hash = crypto.createHash('sha256');
  let size = 0;
  for (const chunk of manifestChunks(manifest)) {
    hash.update(chunk);
    size += Buffer.byteLength(chunk);
  }
  const result = { sha256: hash.digest('hex'), size };
  storedHashes.set(manifest, result);
  return result;
}

function hashManifestBytes(stored: string | Uint8Array): ManifestHash {
  return { sha256: crypto.createHash('sha256').update(stored).digest('hex'), size: typeof stored === 'string' ? Buffer.byteLength(stored) : stored.length };
}

export type { ManifestSigner } from './signature-policy.js';

/**
 * The stored text of a signed manifest: the manifest serialized without a signature is what is
 * signed, and the signature is appended as the last field, so a reader that removes it and
 * serializes the rest again (JSON keeps the order of keys) gets exactly the signed bytes.
 */
export function serializeSignedManifest(manifest: Manifest, signer: ManifestSigner): string {
  const { signature: _old, ...unsigned } = manifest;
  const text = serializeManifest(unsigned);
  const value = signer.sign(Buffer.from(text)).toString('base64');
  return serializeManifest({ ...unsigned, signature: { algorithm: 'ed25519', publicKey: signer.publicKey, value } });
}

/** Manifests parsed here whose embedded signature is valid for its public key, with that key. */
const validSignatures = new WeakMap<Manifest, string>();

/**
 * Who signed a manifest, as a check of its signature: `valid` with the public key when the
 * signature parsed with it verifies (over the exact stored bytes), `invalid` when one is present
 * but does not verify, `unsigned` when there is none. Whether the key is trusted is the caller's
 * question (see {@link checkManifestSignature}).
 */
export function manifestSignature(manifest: Manifest): { status: 'valid'; publicKey: string } | { status: 'invalid' | 'unsigned' } {
  const key = validSignatures.get(manifest);
  if (key !== undefined) return { status: 'valid', publicKey: key };
  return { status: manifest.signature ? 'invalid' : 'unsigned' };
}

export type { SignaturePolicy } from './signature-policy.js';

/**
 * Checks a manifest against the trusted keys. Returns undefined when it is acceptable (signed by
 * a trusted key, or no key is trusted at all: an unsigned repository), or a warning when it is
 * accepted only because of --insecure; throws an IntegrityError `SIGNATURE` otherwise.
 */
export function checkManifestSignature(manifest: Manifest, policy: SignaturePolicy, where: string): string | undefined {
  return applySignaturePolicy(manifestSignature(manifest), policy, `Backup ${manifest.id} (${where})`, { backupId: manifest.id, subject: where });
}

/** The public key of an Ed25519 key object, as `ed25519:<base64 of the raw 32 bytes>`. */
export function signingPublicKeyText(key: crypto.KeyObject): string {
  return `ed25519:${Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url').toString('base64')}`;
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function verifySignature(text: string | Uint8Array, raw: Record<string, unknown>): string | undefined {
  const signature = raw.signature as { algorithm?: unknown; publicKey?: unknown; value?: unknown } | undefined;
  if (!signature || signature.algorithm !== 'ed25519' || typeof signature.publicKey !== 'string' || typeof signature.value !== 'string') return undefined;
  const match = /^ed25519:([A-Za-z0-9+/]{43}=)$/.exec(signature.publicKey);
  if (!match) return undefined;
  const { signature: _sig, ...unsigned } = raw;
  // The stored text must be exactly the signed text plus the signature field.
  if (typeof text === 'string' ? serializeManifest(raw as Manifest) !== text : !sameBytes(raw as Manifest, text)) return undefined;
  const signed = typeof text === 'string' ? Buffer.from(serializeManifest(unsigned as Manifest)) : manifestBytes(unsigned as Manifest);
  try {
    const key = crypto.createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(match[1]!, 'base64')]), format: 'der', type: 'spki' });
    return crypto.verify(null, signed, key, Buffer.from(signature.value, 'base64')) ? signature.publicKey : undefined;
  } catch {
    return undefined;
  }
}

/** Whether serializeManifest(manifest) is exactly these bytes (compared piece by piece). */
function sameBytes(manifest: Manifest, bytes: Uint8Array): boolean {
  const stored = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  for (const chunk of manifestChunks(manifest)) {
    const piece = Buffer.from(chunk);
    if (at + piece.length > stored.length || !piece.equals(stored.subarray(at, at + piece.length))) return false;
    at += piece.length;
  }
  return at === stored.length;
}

/** Stored manifests up to this many bytes are parsed as one string; longer ones piece by piece. */
const LARGE_MANIFEST_BYTES = 256 * 1024 * 1024;

/**
 * Parses and validates a stored manifest, given as text or as its UTF-8 bytes (bytes of over
 * 256 MiB, `largeAbove`, are parsed without one string of the whole text, which V8 cannot make
 * past 512 MiB). Unknown fields from newer writers of the same schema version are kept out of
 * the result; a newer schema version is refused with a clear error.
 */
export function parseManifest(stored: string | Uint8Array, where: string, options: { largeAbove?: number } = {}): Manifest {
  const large = typeof stored !== 'string' && stored.length > (options.largeAbove ?? LARGE_MANIFEST_BYTES);
  const text = typeof stored === 'string' || large ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.length).toString('utf8');
  let raw: unknown;
  try {
    raw = typeof text === 'string' ? JSON.parse(text) : parseJsonObjectBytes(text);
  } catch (error) {
    throw new IntegrityError(
      'BAD_MANIFEST',
      `The manifest ${where} is not valid JSON; it is damaged (run "botbackup verify --all").`,
      { subject: where },
      { cause: error },
    );
  }
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === 'number' && version > MANIFEST_SCHEMA_VERSION) {
    throw new IntegrityError(
      'BAD_MANIFEST',
      `The manifest ${where} has schema version ${version}, newer than this botbackup understands (${MANIFEST_SCHEMA_VERSION}); upgrade botbackup.`,
      { subject: where },
    );
  }
  const result = manifestSchema.safeParse(version === 1 ? upgradeSchema1(raw) : raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new IntegrityError(
      'BAD_MANIFEST',
      `The manifest ${where} is malformed at "${issue.path.join('.')}"; it is damaged or was not written by botbackup.`,
      { subject: where },
    );
  }
  const shape = checkFileListShape(result.data);
  if (shape !== undefined)
    throw new IntegrityError('BAD_MANIFEST', `The manifest ${where} ${shape}; it is damaged or was not written by botbackup.`, { subject: where });
  const signer = verifySignature(text, raw as Record<string, unknown>);
  if (signer !== undefined) validSignatures.set(result.data, signer);
  storedHashes.set(result.data, hashManifestBytes(stored));
  return result.data;
}

/** What is wrong with where a manifest keeps its files (schema 4: in one `file-list` object; before: in `files`), if anything. */
function checkFileListShape(manifest: Manifest): string | undefined {
  const lists = manifest.objects.filter((o) => o.role === 'file-list').length;
  if (manifest.schemaVersion < 4)
    return manifest.files === undefined ? 'lists no files' : lists > 0 ? 'has a file list object its schema does not know' : undefined;
  if (manifest.files !== undefined) return 'lists its files inline, which schema 4 keeps in a file list object';
  if (lists !== 1 || manifest.fileList === undefined) return 'does not name exactly one file list object';
  return undefined;
}

/** How many members the backup's archive has (schema 4: its `entries` and the file list's records stored in it). */
export function entryCount(manifest: Pick<Manifest, 'entries' | 'fileList'>): number {
  return manifest.entries.length + (manifest.fileList?.stored ?? 0);
}

/** How many files the backup has. */
export function fileCount(manifest: Pick<Manifest, 'files' | 'fileList'>): number {
  return manifest.fileList?.files ?? manifest.files?.length ?? 0;
}

/** The file list object of a schema 4 manifest; undefined for earlier schemas (their files are in `files`). */
export function fileListObject(manifest: Pick<Manifest, 'objects'>): ManifestObject | undefined {
  return manifest.objects.find((o) => o.role === 'file-list');
}

/**
 * Schema 1 (full backups only) to schema 2: every file was stored in the backup itself, each
 * database as a snapshot entry of its own path, and no page map exists (an incremental on such a
 * parent becomes a full backup).
 */
function upgradeSchema1(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object') return raw;
  const m = raw as Record<string, unknown>;
  const id = m.id;
  const entries = Array.isArray(m.entries) ? (m.entries as Record<string, unknown>[]) : [];
  const databases = Array.isArray(m.databases) ? (m.databases as Record<string, unknown>[]) : [];
  return {
    ...m,
    fullReason: m.type === 'full' ? 'a full backup was requested' : null,
    databases: databases.map((d) => ({
      ...d,
      mode: entries.find((e) => e.path === d.path)?.mode ?? 0o600,
      stored: { type: 'snapshot', entry: d.path },
      pageMap: null,
    })),
    files: entries.filter((e) => e.kind !== 'database').map((e) => ({ ...e, storedIn: id })),
    deleted: [],
  };
}

/** One thing a restore puts into place: a file or a database, as of a backup. */
export interface RestorableItem {
  path: string;
  kind: ManifestFile['kind'] | 'database';
  mode: number;
  size: number;
  mtime: string;
  sha256: string;
  /** A symbolic link with this target (restored as a link, never followed). */
  linkTarget?: string;
}

/** One file of a backup as a restore puts it into place. */
export function restorableFile(f: ManifestFile): RestorableItem {
  return {
    path: f.path,
    kind: f.kind,
    mode: f.mode,
    size: f.size,
    mtime: f.mtime,
    sha256: f.sha256,
    ...(f.linkTarget !== undefined ? { linkTarget: f.linkTarget } : {}),
  };
}

/** The databases of a backup as a restore puts them into place (after its files). */
export function restorableDatabases(manifest: Manifest): RestorableItem[] {
  return manifest.databases.map((d) => ({ path: d.path, kind: 'database' as const, mode: d.mode, size: d.size, mtime: manifest.startedAt, sha256: d.sha256 }));
}
