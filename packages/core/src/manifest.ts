import { z } from 'zod';
import { COMPRESSION_CODECS, FILE_KINDS } from './config.js';
import { IntegrityError } from './errors.js';

/** The manifest schema version this build writes. Readers accept this and every older one. */
export const MANIFEST_SCHEMA_VERSION = 1;
export const MANIFEST_FORMAT = 'botbackup.manifest';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

const entrySchema = z.object({
  /** Path inside the archive and, on restore, relative to the target folder (forward slashes). */
  path: z.string().min(1),
  kind: z.enum([...FILE_KINDS, 'database']),
  mode: z.number().int().min(0).max(0o7777),
  size: z.number().int().min(0),
  mtime: z.string(),
  sha256: sha256Hex,
});

const databaseSchema = z.object({
  name: z.string(),
  /** The entry path of the snapshot (see `entries`). */
  path: z.string(),
  journalMode: z.string(),
  pageSize: z.number().int().positive(),
  pageCount: z.number().int().min(0),
  size: z.number().int().min(0),
  sha256: sha256Hex,
  /** Result of PRAGMA quick_check on the snapshot before it was stored: always "ok". */
  quickCheck: z.literal('ok'),
});

const objectSchema = z.object({
  key: z.string(),
  role: z.enum(['archive']),
  /** Bytes as stored. */
  size: z.number().int().min(0),
  /** sha256 of the bytes as stored. */
  sha256: sha256Hex,
  compression: z.enum(COMPRESSION_CODECS),
  /** Reserved for encryption (a later schema); null means plaintext. */
  encryption: z.null(),
});

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  schemaVersion: z.number().int().min(1),
  id: z.string(),
  type: z.enum(['full', 'incremental']),
  /** Parent backup of an incremental; null for a full backup. */
  parent: z.string().nullable(),
  chainDepth: z.number().int().min(0),
  source: z.object({ id: z.string(), host: z.string(), root: z.string() }),
  startedAt: z.string(),
  completedAt: z.string(),
  tool: z.object({ name: z.literal('botbackup'), version: z.string() }),
  sqlite: z.object({ version: z.string() }).nullable(),
  compression: z.object({ codec: z.enum(COMPRESSION_CODECS), level: z.number().int() }),
  databases: z.array(databaseSchema),
  entries: z.array(entrySchema),
  objects: z.array(objectSchema).min(1),
  excluded: z.array(z.object({ path: z.string(), reason: z.string() })),
  warnings: z.array(z.string()),
  stats: z.object({ entryBytes: z.number().int().min(0), storedBytes: z.number().int().min(0), durationMs: z.number().min(0) }),
});

export type ManifestEntry = z.infer<typeof entrySchema>;
export type ManifestDatabase = z.infer<typeof databaseSchema>;
export type ManifestObject = z.infer<typeof objectSchema>;
/** Describes one backup. Written last: a backup exists exactly when its manifest does. */
export type Manifest = z.infer<typeof manifestSchema>;

/** Serializes a manifest: stable key order (as built), two-space indent, trailing newline. */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * Parses and validates a stored manifest. Unknown fields from newer writers of the same schema
 * version are kept out of the result; a newer schema version is refused with a clear error.
 */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
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
  const result = manifestSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new IntegrityError(
      'BAD_MANIFEST',
      `The manifest ${where} is malformed at "${issue.path.join('.')}"; it is damaged or was not written by botbackup.`,
      { subject: where },
    );
  }
  return result.data;
}
