import { z } from 'zod';
import { COMPRESSION_CODECS, FILE_KINDS } from './config.js';
import { IntegrityError } from './errors.js';

/** The manifest schema version this build writes. Readers accept this and every older one. */
export const MANIFEST_SCHEMA_VERSION = 2;
export const MANIFEST_FORMAT = 'botbackup.manifest';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** One member of this backup's archive. */
const entrySchema = z.object({
  /** Path inside the archive and, on restore, relative to the target folder (forward slashes). */
  path: z.string().min(1),
  kind: z.enum([...FILE_KINDS, 'database', 'database-delta']),
  mode: z.number().int().min(0).max(0o7777),
  size: z.number().int().min(0),
  mtime: z.string(),
  sha256: sha256Hex,
});

/** One file as of this backup (the complete set, whichever backup's archive holds its content). */
const fileSchema = z.object({
  path: z.string().min(1),
  kind: z.enum(FILE_KINDS),
  mode: z.number().int().min(0).max(0o7777),
  size: z.number().int().min(0),
  mtime: z.string(),
  sha256: sha256Hex,
  /** The backup whose archive holds this content, as an entry of the same path: this one or an ancestor. */
  storedIn: z.string(),
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
});

const objectSchema = z.object({
  key: z.string(),
  role: z.enum(['archive', 'page-map']),
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
  /** The archive's members, in archive order. */
  entries: z.array(entrySchema),
  /** Every file as of this backup (databases are in `databases`). */
  files: z.array(fileSchema),
  /** Files the parent had that this backup no longer has. */
  deleted: z.array(z.string()),
  objects: z.array(objectSchema).min(1),
  excluded: z.array(z.object({ path: z.string(), reason: z.string() })),
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
  const result = manifestSchema.safeParse(version === 1 ? upgradeSchema1(raw) : raw);
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
}

/** Everything a restore of this backup brings back: its files, then its databases. */
export function restorableItems(manifest: Manifest): RestorableItem[] {
  return [
    ...manifest.files.map((f) => ({ path: f.path, kind: f.kind, mode: f.mode, size: f.size, mtime: f.mtime, sha256: f.sha256 })),
    ...manifest.databases.map((d) => ({ path: d.path, kind: 'database' as const, mode: d.mode, size: d.size, mtime: manifest.startedAt, sha256: d.sha256 })),
  ];
}
