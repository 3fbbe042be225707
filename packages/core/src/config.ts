import path from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';
import { DEFAULT_RETENTION, type RetentionPolicy } from './retention.js';

/** What a file set holds; it decides modes on restore and, later, masking and encryption. */
export const FILE_KINDS = ['config', 'secret', 'log', 'other'] as const;
export type FileKind = (typeof FILE_KINDS)[number];
/** Kinds of entries in a backup: files of a file set, or a database snapshot. */
export type EntryKind = FileKind | 'database' | 'database-delta';

export const COMPRESSION_CODECS = ['zstd', 'gzip', 'none'] as const;
export type CompressionCodec = (typeof COMPRESSION_CODECS)[number];

const slug = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name of letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit)');
const relPath = z.string().min(1, 'a non-empty path');
const duration = z.string().refine((v) => parseDuration(v) !== undefined, 'a duration such as "12h", "7d" or "2w"');

const databaseSchema = z.strictObject({
  path: relPath,
  name: slug.optional(),
});

const fileSetSchema = z.strictObject({
  kind: z.enum(FILE_KINDS),
  include: z.array(z.string().min(1)).min(1, 'at least one glob'),
  exclude: z.array(z.string().min(1)).default([]),
  /** For `log` file sets: only files modified within this window are taken. */
  maxAge: duration.optional(),
});

const incrementalSchema = z.strictObject({
  /** Incrementals after a full backup before the next backup is full again. */
  maxChainLength: z.number().int().min(0).max(1000).optional(),
  /** An incremental larger than this share of a full backup (uncompressed) is made full instead. */
  maxDeltaRatio: z.number().min(0).max(1).optional(),
});

const keepCount = z.number().int().min(0).max(100_000);
/** Which backups prune keeps (docs/retention.md); every field falls back to defaults.retention, then to the seed's policy. */
const retentionSchema = z.strictObject({
  keepLast: keepCount.optional(),
  daily: keepCount.optional(),
  weekly: keepCount.optional(),
  monthly: keepCount.optional(),
  yearly: keepCount.optional(),
  keepWithin: duration.optional(),
  /** IANA time zone the days, weeks, months and years are counted in. */
  timezone: z.string().min(1).optional(),
  /** Backups younger than this are always kept. */
  grace: duration.optional(),
});
type RetentionSettings = z.infer<typeof retentionSchema>;

const checkSchema = z.strictObject({
  name: slug,
  /** The database (its name) the query runs on; the source's first one by default. */
  database: slug.optional(),
  /** Read-only SQL whose first column of the first row must be true (non-zero, non-empty); :asOfMs is the backup's start time in ms (now, in recover). */
  query: z.string().min(1, 'an SQL query such as "SELECT count(*) > 0 FROM deals"'),
});

/**
 * How a source's symbolic links are backed up: `store` keeps each as a link (its target text,
 * never followed); `follow-inside` stores a link to a file inside the source root as that file,
 * and skips (and reports) a link that leaves the root, loops or dangles.
 */
export const SYMLINK_POLICIES = ['store', 'follow-inside'] as const;
export type SymlinkPolicy = (typeof SYMLINK_POLICIES)[number];

const sourceSchema = z.strictObject({
  id: slug,
  root: relPath,
  databases: z.array(databaseSchema).default([]),
  files: z.array(fileSetSchema).default([]),
  incremental: incrementalSchema.optional(),
  retention: retentionSchema.optional(),
  /** Back up `secret` file sets even though no encryption is configured (they are then stored readable). */
  allowPlaintextSecrets: z.boolean().default(false),
  /** Symbolic links: stored as links (default), or links to files inside the root stored as those files. */
  symlinks: z.enum(SYMLINK_POLICIES).default('store'),
  /** Queries a healthy database answers with a true first value: run by recover on the live database and by drills on restored ones. */
  checks: z.array(checkSchema).default([]),
});

const localStorageSchema = z.strictObject({
  name: slug,
  type: z.literal('local'),
  path: relPath,
});

const s3StorageSchema = z
  .strictObject({
    name: slug,
    type: z.literal('s3'),
    bucket: z.string().min(3, 'a bucket name'),
    /** Key prefix inside the bucket. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9._\/-]*$/, 'letters, digits, ".", "_", "-" and "/"')
      .optional(),
    /** S3-compatible server (MinIO...); AWS S3 when unset. */
    endpoint: z.url('a URL such as http://minio:9000').optional(),
    region: z.string().min(1).optional(),
    forcePathStyle: z.boolean().optional(),
    /** Explicit credentials (use ${VAR} references); otherwise the AWS SDK's default chain (AWS_ACCESS_KEY_ID..., profile). */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    sessionToken: z.string().min(1).optional(),
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
    storageClass: z
      .string()
      .regex(/^[A-Z_]+$/, 'an S3 storage class such as STANDARD_IA')
      .optional(),
    /** A request with no byte sent or received for this long fails the target (default 60s). */
    stallTimeout: duration.optional(),
  })
  .refine((t) => (t.accessKeyId === undefined) === (t.secretAccessKey === undefined), {
    message: 'accessKeyId and secretAccessKey, both or neither',
    path: ['secretAccessKey'],
  });

const storageSchema = z.discriminatedUnion('type', [localStorageSchema, s3StorageSchema]);

/** What a scheduled or queued job does. */
export const JOB_TYPES = ['full', 'incremental', 'verify', 'prune', 'replicate', 'drill'] as const;
export type JobType = (typeof JOB_TYPES)[number];

const scheduleSchema = z.strictObject({
  id: slug,
  /** The source the job is for; replicate may leave it out (every source). */
  source: slug.optional(),
  job: z.enum(JOB_TYPES),
  /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
  cron: z.string().min(1, 'a cron expression such as "0 2 * * *"'),
  /** IANA time zone the cron expression is read in. */
  timezone: z.string().min(1).default('UTC'),
  enabled: z.boolean().default(true),
  /** Backup schedules: every backup this schedule made is kept this long (the seed's retention_days). */
  keepWithin: duration.optional(),
});

const notifySchema = z.strictObject({
  /** A URL that receives a JSON POST per event (Slack and Telegram bots accept such webhooks); use ${VAR} for a token in it. */
  webhook: z.url('an http(s) URL').optional(),
  /** Extra headers of the POST (e.g. Authorization: Bearer ${TOKEN}). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Events to send: a job failed, a failing schedule or source works again, the newest good backup is too old. */
  on: z.array(z.enum(['failure', 'recovery', 'stale'])).default(['failure', 'recovery', 'stale']),
  /** The newest good backup of a source older than this is "stale". */
  staleAfter: duration.default('26h'),
});

const redisSchema = z.strictObject({
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS; use ${VAR} for the password. */
  url: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// URL'),
  /** For rediss://: the CA that signed the server's certificate (PEM file, relative to the config file) and the name checked against it. */
  tls: z
    .strictObject({
      ca: relPath.optional(),
      servername: z.string().min(1).optional(),
    })
    .optional(),
  /** Prefix of every BullMQ key, so several deployments can share one Redis. */
  prefix: slug.default('botbackup'),
});

const workerSchema = z.strictObject({
  /** Sources whose backup jobs this worker runs (it must see their files). */
  sources: z.array(slug).default([]),
  /** Whether it also runs verify, prune, replicate and drill jobs (any host with storage access). */
  maintenance: z.boolean().default(true),
  /** How long a job's lock lasts without renewal: a crashed worker's job is taken over after about this long. */
  lockDuration: duration.default('30s'),
  /** How often workers look for jobs whose worker died. */
  stalledInterval: duration.default('15s'),
  /** A job whose worker died more often than this fails instead of running again. */
  maxStalledCount: z.number().int().min(0).max(10).default(1),
  /** Attempts of a job that fails with a transient error (storage unreachable...), with exponential backoff. */
  attempts: z.number().int().min(1).max(20).default(3),
  /** On SIGTERM, how long the running job may take to finish before it is aborted. */
  drainTimeout: duration.default('60s'),
  /** How long a source's lock is held without renewal (a backup never overlaps another of its source). */
  sourceLockLease: duration.default('60s'),
  /** Finished jobs kept in Redis for inspection: at most this many, and this long. */
  keepCompleted: z.strictObject({ count: z.number().int().min(0).default(1000), age: duration.default('7d') }).default({ count: 1000, age: '7d' }),
  keepFailed: z.strictObject({ count: z.number().int().min(0).default(5000), age: duration.default('30d') }).default({ count: 5000, age: '30d' }),
});

const dashboardSchema = z.strictObject({
  /** Address the dashboard listens on; anything but loopback needs a token or basic auth. */
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port (0: any free port). */
  port: z.number().int().min(0).max(65535).default(8080),
  /** Bearer token (use ${VAR}); also accepted as the password of HTTP basic auth, whatever the user name. */
  token: z.string().min(16, 'a token of at least 16 characters (use ${VAR})').optional(),
  /** HTTP basic auth (use ${VAR} for the password). */
  basic: z.strictObject({ user: z.string().min(1), password: z.string().min(8, 'a password of at least 8 characters (use ${VAR})') }).optional(),
  /** Refuse every change (retry, delete, clean, pause...) through the dashboard. */
  readOnly: z.boolean().default(true),
  /** Host names (as in the Host header, without port) it answers besides its address, localhost and IP addresses: a reverse proxy's name. */
  allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a host name without scheme, port or path (e.g. backups.example.com)')).default([]),
});

/** An age X25519 recipient as age-keygen prints it (bech32, lower case). */
export const AGE_RECIPIENT_PATTERN = /^age1[02-9ac-hj-np-z]{58}$/;
/** A worker's public signing key as `botbackup keygen --worker` prints it. */
export const SIGNING_PUBLIC_KEY_PATTERN = /^ed25519:[A-Za-z0-9+/]{43}=$/;

const encryptionSchema = z
  .strictObject({
    /** Public keys (age1...) every backup is encrypted to; the identities stay offline, on the hosts that restore. */
    recipients: z.array(z.string().regex(AGE_RECIPIENT_PATTERN, 'an age recipient (age1..., as "botbackup keygen" prints it)')).min(1).optional(),
    /** Instead of recipients: a passphrase (use ${VAR}); every host that backs up then can also read. */
    passphrase: z.string().min(12, 'a passphrase of at least 12 characters (use ${VAR})').optional(),
    /** Where restore, verify and diff find the identity (AGE-SECRET-KEY-1...); --identity and BOTBACKUP_IDENTITY_FILE override it. */
    identityFile: relPath.optional(),
  })
  .refine((e) => (e.recipients === undefined) !== (e.passphrase === undefined), {
    message: 'needs either recipients or a passphrase (not both)',
    path: ['recipients'],
  });

const signingSchema = z.strictObject({
  /** The worker key (`botbackup keygen --worker`): signs every manifest; needed where backups are made. */
  keyFile: relPath.optional(),
  /** Public keys (ed25519:...) whose signatures restore, verify and incrementals accept. */
  trusted: z.array(z.string().regex(SIGNING_PUBLIC_KEY_PATTERN, 'a public signing key (ed25519:..., as "botbackup keygen --worker" prints it)')).default([]),
});

const configSchema = z.strictObject({
  version: z.literal(1),
  sources: z.array(sourceSchema).min(1, 'at least one source'),
  storage: z.array(storageSchema).min(1, 'at least one storage target'),
  redis: redisSchema.optional(),
  schedules: z.array(scheduleSchema).default([]),
  worker: workerSchema.optional(),
  notify: notifySchema.optional(),
  dashboard: dashboardSchema.optional(),
  /** Targets a backup must reach to be committed; the rest may fail (the backup is then degraded). All by default. */
  minCopies: z.number().int().min(1).optional(),
  /** The local catalog file (a cache of manifests and copy states); see docs/storage.md for the default. */
  catalog: relPath.optional(),
  /** Encrypt every stored object of every backup (docs/security.md). */
  encryption: encryptionSchema.optional(),
  /** Sign every manifest, and check the signatures of what is read. */
  signing: signingSchema.optional(),
  /** Restore drills (docs/recovery.md): every copy on every target is drilled at least once per period. */
  drill: z.strictObject({ period: duration.default('30d') }).default({ period: '30d' }),
  compression: z
    .strictObject({
      codec: z.enum(COMPRESSION_CODECS).default('zstd'),
      level: z.number().int().min(-7).max(22).optional(),
    })
    .default({ codec: 'zstd' }),
  defaults: z
    .strictObject({
      /** Where snapshots are staged before they are packed; the system temp folder by default. */
      tmpDir: relPath.optional(),
      /** Window for `log` file sets without their own maxAge. */
      logMaxAge: duration.default('7d'),
      /** CPU nice value for backup and verify work, so the bot always wins a core (0: leave as is). */
      nice: z.number().int().min(0).max(19).default(10),
      /** Chain limits of incremental backups, for sources that set none of their own. */
      incremental: incrementalSchema.optional(),
      /** Objects of a backup with no manifest in any target, older than this, are leftovers that replicate removes. */
      orphanGrace: duration.default('6h'),
      /** Retention of sources that set none (or only some fields) of their own. */
      retention: retentionSchema.optional(),
    })
    .default({ logMaxAge: '7d', nice: 10, orphanGrace: '6h' }),
});

export interface DatabaseConfig {
  /** Absolute path of the database file. */
  path: string;
  /** Path inside the backup, relative to the source root, with forward slashes. */
  relativePath: string;
  name: string;
}
export interface FileSetConfig {
  kind: FileKind;
  include: string[];
  exclude: string[];
  /** Only for `log` sets: files older than this many milliseconds are left out. */
  maxAgeMs: number | undefined;
}
/** When an incremental backup is made full instead. */
export interface IncrementalLimits {
  /** Most incrementals on top of one full backup (default 14). */
  maxChainLength: number;
  /** Largest incremental, as a share of a full backup's uncompressed bytes (default 0.5). */
  maxDeltaRatio: number;
}
export const DEFAULT_INCREMENTAL_LIMITS: IncrementalLimits = { maxChainLength: 14, maxDeltaRatio: 0.5 };

export interface SourceConfig {
  id: string;
  /** Absolute path of the bot's folder; everything is stored relative to it. */
  root: string;
  databases: DatabaseConfig[];
  files: FileSetConfig[];
  incremental: IncrementalLimits;
  /** What prune keeps: the source's retention over defaults.retention over {@link DEFAULT_RETENTION}. */
  retention: RetentionPolicy;
  /** Back up `secret` file sets without encryption. */
  allowPlaintextSecrets: boolean;
  /** How symbolic links are backed up (see {@link SYMLINK_POLICIES}); `store` when absent. */
  symlinks?: SymlinkPolicy;
  /** Check queries, each with the database it runs on. */
  checks: CheckConfig[];
}
export interface CheckConfig {
  name: string;
  /** The database's name (as in DatabaseConfig.name). */
  database: string;
  query: string;
}
/** How new backups are encrypted (age format), and where this host finds the identity that opens them. */
export interface EncryptionConfig {
  /** Either recipients or a passphrase. */
  recipients: string[] | undefined;
  /** A secret: never print it. */
  passphrase: string | undefined;
  /** Absolute path of the identity file, when the config names one. */
  identityFile: string | undefined;
}
export interface SigningConfig {
  /** Absolute path of the worker key, where backups are made. */
  keyFile: string | undefined;
  /** Public keys whose signatures are accepted; empty: signatures are not checked (a plaintext, unsigned repository). */
  trusted: string[];
}
export interface LocalStorageConfig {
  name: string;
  type: 'local';
  /** Absolute path of the repository folder. */
  path: string;
}
export interface S3StorageConfig {
  name: string;
  type: 's3';
  bucket: string;
  prefix?: string | undefined;
  endpoint?: string | undefined;
  region?: string | undefined;
  forcePathStyle?: boolean | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  sessionToken?: string | undefined;
  serverSideEncryption?: 'AES256' | 'aws:kms' | undefined;
  storageClass?: string | undefined;
  /** From `stallTimeout`: no progress for this long fails the target (the store's default when unset). */
  stallTimeoutMs?: number | undefined;
}
export type StorageConfig = LocalStorageConfig | S3StorageConfig;
export interface CompressionConfig {
  codec: CompressionCodec;
  level: number;
}
/** A schedule from the config, its cron expression checked. */
export interface ScheduleConfig {
  id: string;
  source: string | undefined;
  job: JobType;
  cron: string;
  timezone: string;
  enabled: boolean;
  /** Backups made by this schedule are kept at least this long, in milliseconds (set only when configured). */
  keepWithinMs?: number;
}
export interface NotifyConfig {
  /** May hold a token: never print it. */
  webhook: string | undefined;
  headers: Record<string, string>;
  on: ('failure' | 'recovery' | 'stale')[];
  staleAfterMs: number;
}
export interface RedisConfig {
  /** The connection URL; may hold a password: never print it (see {@link redactUrl}). */
  url: string;
  prefix: string;
  /** For rediss://: `ca` is the absolute path of the CA's PEM file (read when connecting). */
  tls?: { ca?: string; servername?: string };
}
export interface WorkerConfig {
  sources: string[];
  maintenance: boolean;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  attempts: number;
  drainTimeoutMs: number;
  sourceLockLeaseMs: number;
  keepCompleted: { count: number; ageMs: number };
  keepFailed: { count: number; ageMs: number };
}
/** Worker settings when the config has no `worker` section. */
export const DEFAULT_WORKER: WorkerConfig = {
  sources: [],
  maintenance: true,
  lockDurationMs: 30_000,
  stalledIntervalMs: 15_000,
  maxStalledCount: 1,
  attempts: 3,
  drainTimeoutMs: 60_000,
  sourceLockLeaseMs: 60_000,
  keepCompleted: { count: 1000, ageMs: 7 * 86_400_000 },
  keepFailed: { count: 5000, ageMs: 30 * 86_400_000 },
};

/** Settings of `botbackup dashboard`. */
export interface DashboardConfig {
  host: string;
  port: number;
  /** Never print it. */
  token: string | undefined;
  /** Never print the password. */
  basic: { user: string; password: string } | undefined;
  readOnly: boolean;
  /** Host names it answers besides its address, localhost and IP addresses (the Host header; DNS rebinding). */
  allowedHosts: string[];
}
/** Dashboard settings when the config has no `dashboard` section: loopback only, read-only, no credentials. */
export const DEFAULT_DASHBOARD: DashboardConfig = { host: '127.0.0.1', port: 8080, token: undefined, basic: undefined, readOnly: true, allowedHosts: [] };

/** A validated configuration with every path made absolute. */
export interface Config {
  file: string;
  sources: SourceConfig[];
  storage: StorageConfig[];
  compression: CompressionConfig;
  tmpDir: string | undefined;
  /** CPU nice value for backup and verify work (0: unchanged). */
  nice: number;
  /** Storage targets a backup must reach to be committed (1..storage.length). */
  minCopies: number;
  /** Absolute path of the local catalog, when the config sets one. */
  catalog: string | undefined;
  /** Age after which objects without a manifest anywhere count as leftovers, in milliseconds. */
  orphanGraceMs: number;
  /** Where queues and schedules live, when distributed mode is configured. */
  redis: RedisConfig | undefined;
  schedules: ScheduleConfig[];
  /** Settings of `botbackup worker` (defaults when the config has none). */
  worker: WorkerConfig;
  /** Where notifications go (no webhook: none are sent). */
  notify: NotifyConfig;
  /** Settings of `botbackup dashboard` (defaults when the config has none). */
  dashboard: DashboardConfig;
  /** Encryption of new backups; undefined: plaintext. */
  encryption: EncryptionConfig | undefined;
  signing: SigningConfig;
  /** Every copy should be drilled at least once per this many milliseconds. */
  drillPeriodMs: number;
}

/** Default compression level of each codec. */
export const DEFAULT_LEVEL: Record<CompressionCodec, number> = { zstd: 3, gzip: 6, none: 0 };

export interface ParseConfigOptions {
  /** Path of the file, used in messages and to resolve relative paths. */
  file: string;
  /** Environment for `${VAR}` references. */
  env: Record<string, string | undefined>;
}

/**
 * Parses and validates a config file's text (YAML, of which JSON is a subset). Pure: the caller
 * reads the file. Throws a {@link ConfigError} naming the file, the field and what was expected.
 */
export function parseConfig(text: string, options: ParseConfigOptions): Config {
  const { file } = options;
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new ConfigError(file, undefined, `is not valid YAML or JSON${where}`, { cause: error });
  }
  if (raw === null || raw === undefined) throw new ConfigError(file, undefined, 'is empty; run "botbackup init <bot-dir>" to write a starter config');
  const resolved = resolveEnv(raw, options.env, file, []);
  const result = configSchema.safeParse(resolved);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(file, formatFieldPath(issue.path), describeIssue(issue, resolved));
  }
  const data = result.data;
  const baseDir = path.dirname(path.resolve(file));
  const zoneProblem = timeZoneProblem(data.defaults.retention?.timezone);
  if (zoneProblem) throw new ConfigError(file, 'defaults.retention.timezone', zoneProblem);
  // A schedule's keepWithin is a keepWithin for the backups it made, in its source's policy.
  const scheduleKeepWithin = new Map<string, Record<string, number>>();
  for (const schedule of data.schedules) {
    if (schedule.keepWithin === undefined || schedule.source === undefined) continue;
    const perSchedule = scheduleKeepWithin.get(schedule.source) ?? {};
    perSchedule[schedule.id] = parseDuration(schedule.keepWithin)!;
    scheduleKeepWithin.set(schedule.source, perSchedule);
  }
  const seenSources = new Set<string>();
  const sources = data.sources.map((source, i): SourceConfig => {
    if (seenSources.has(source.id)) throw new ConfigError(file, `sources[${i}].id`, `repeats the source id "${source.id}"; ids must be unique`);
    seenSources.add(source.id);
    const root = path.resolve(baseDir, source.root);
    const names = new Set<string>();
    const databases = source.databases.map((db, j): DatabaseConfig => {
      const abs = path.resolve(root, db.path);
      const rel = path.relative(root, abs);
      if (rel.startsWith('..') || path.isAbsolute(rel)) {
        throw new ConfigError(file, `sources[${i}].databases[${j}].path`, `must lie inside the source root ${root}`);
      }
      const name = db.name ?? path.basename(abs).replace(/\.[^.]*$/, '');
      if (names.has(name)) throw new ConfigError(file, `sources[${i}].databases[${j}].name`, `repeats the database name "${name}"; set a distinct name`);
      names.add(name);
      return { path: abs, relativePath: rel.split(path.sep).join('/'), name };
    });
    const files = source.files.map((set): FileSetConfig => ({
      kind: set.kind,
      include: set.include,
      exclude: set.exclude,
      maxAgeMs: set.kind === 'log' ? parseDuration(set.maxAge ?? data.defaults.logMaxAge) : undefined,
    }));
    const incremental: IncrementalLimits = {
      maxChainLength: source.incremental?.maxChainLength ?? data.defaults.incremental?.maxChainLength ?? DEFAULT_INCREMENTAL_LIMITS.maxChainLength,
      maxDeltaRatio: source.incremental?.maxDeltaRatio ?? data.defaults.incremental?.maxDeltaRatio ?? DEFAULT_INCREMENTAL_LIMITS.maxDeltaRatio,
    };
    const retentionZoneProblem = timeZoneProblem(source.retention?.timezone);
    if (retentionZoneProblem) throw new ConfigError(file, `sources[${i}].retention.timezone`, retentionZoneProblem);
    const retention = mergeRetention(source.retention, data.defaults.retention, scheduleKeepWithin.get(source.id) ?? {});
    const checks = source.checks.map((check, j): CheckConfig => {
      const database = check.database ?? databases[0]?.name;
      if (database === undefined || !databases.some((db) => db.name === database)) {
        throw new ConfigError(
          file,
          `sources[${i}].checks[${j}].database`,
          database === undefined ? 'is needed: the source has no database to run the check on' : `names "${database}", which is not a database of this source`,
        );
      }
      return { name: check.name, database, query: check.query };
    });
    return {
      id: source.id,
      root,
      databases,
      files,
      incremental,
      retention,
      allowPlaintextSecrets: source.allowPlaintextSecrets,
      symlinks: source.symlinks,
      checks,
    };
  });
  const seenTargets = new Set<string>();
  const storage = data.storage.map((target, i): StorageConfig => {
    if (seenTargets.has(target.name)) throw new ConfigError(file, `storage[${i}].name`, `repeats the storage name "${target.name}"; names must be unique`);
    seenTargets.add(target.name);
    if (target.type === 'local') return { ...target, path: path.resolve(baseDir, target.path) };
    const { stallTimeout, ...rest } = target;
    return stallTimeout === undefined ? rest : { ...rest, stallTimeoutMs: parseDuration(stallTimeout)! };
  });
  const seenSchedules = new Set<string>();
  const schedules = data.schedules.map((schedule, i): ScheduleConfig => {
    const at = `schedules[${i}]`;
    if (seenSchedules.has(schedule.id)) throw new ConfigError(file, `${at}.id`, `repeats the schedule id "${schedule.id}"; ids must be unique`);
    seenSchedules.add(schedule.id);
    if (schedule.source !== undefined && !seenSources.has(schedule.source)) {
      throw new ConfigError(file, `${at}.source`, `names the source "${schedule.source}", which is not configured (sources: ${[...seenSources].join(', ')})`);
    }
    if (schedule.source === undefined && schedule.job !== 'replicate') {
      throw new ConfigError(file, `${at}.source`, `is missing; a ${schedule.job} job is for one source`);
    }
    const problem = cronProblem(schedule.cron, schedule.timezone);
    if (problem) throw new ConfigError(file, problem.field === 'timezone' ? `${at}.timezone` : `${at}.cron`, problem.message);
    const { keepWithin, ...rest } = schedule;
    if (keepWithin === undefined) return { ...rest, source: schedule.source };
    if (schedule.job !== 'full' && schedule.job !== 'incremental') {
      throw new ConfigError(file, `${at}.keepWithin`, `is set on a ${schedule.job} schedule; only full and incremental schedules make backups to keep`);
    }
    return { ...rest, source: schedule.source, keepWithinMs: parseDuration(keepWithin)! };
  });
  for (const [i, id] of (data.worker?.sources ?? []).entries()) {
    if (!seenSources.has(id)) throw new ConfigError(file, `worker.sources[${i}]`, `names the source "${id}", which is not configured`);
  }
  const w = data.worker;
  const worker: WorkerConfig = w
    ? {
        sources: w.sources,
        maintenance: w.maintenance,
        lockDurationMs: parseDuration(w.lockDuration)!,
        stalledIntervalMs: parseDuration(w.stalledInterval)!,
        maxStalledCount: w.maxStalledCount,
        attempts: w.attempts,
        drainTimeoutMs: parseDuration(w.drainTimeout)!,
        sourceLockLeaseMs: parseDuration(w.sourceLockLease)!,
        keepCompleted: { count: w.keepCompleted.count, ageMs: parseDuration(w.keepCompleted.age)! },
        keepFailed: { count: w.keepFailed.count, ageMs: parseDuration(w.keepFailed.age)! },
      }
    : DEFAULT_WORKER;
  const signing: SigningConfig = {
    keyFile: data.signing?.keyFile === undefined ? undefined : path.resolve(baseDir, data.signing.keyFile),
    trusted: data.signing?.trusted ?? [],
  };
  // With public-key encryption anyone who knows a recipient can write a backup that decrypts:
  // only a signature says who made it, so an encrypted repository is always a signed one.
  if (data.encryption && signing.trusted.length === 0) {
    throw new ConfigError(
      file,
      'signing.trusted',
      'is empty, but encryption is configured; list the public key of the worker key that signs backups (botbackup keygen --worker prints it)',
    );
  }
  if (data.minCopies !== undefined && data.minCopies > storage.length) {
    throw new ConfigError(file, 'minCopies', `is ${data.minCopies}, but only ${storage.length} storage target(s) are configured`);
  }
  return {
    file,
    sources,
    storage,
    compression: { codec: data.compression.codec, level: data.compression.level ?? DEFAULT_LEVEL[data.compression.codec] },
    tmpDir: data.defaults.tmpDir === undefined ? undefined : path.resolve(baseDir, data.defaults.tmpDir),
    nice: data.defaults.nice,
    minCopies: data.minCopies ?? storage.length,
    catalog: data.catalog === undefined ? undefined : path.resolve(baseDir, data.catalog),
    orphanGraceMs: parseDuration(data.defaults.orphanGrace)!,
    redis: data.redis && {
      ...data.redis,
      tls: data.redis.tls && { ...data.redis.tls, ca: data.redis.tls.ca === undefined ? undefined : path.resolve(baseDir, data.redis.tls.ca) },
    },
    schedules,
    worker,
    notify: {
      webhook: data.notify?.webhook,
      headers: data.notify?.headers ?? {},
      on: data.notify?.on ?? ['failure', 'recovery', 'stale'],
      staleAfterMs: parseDuration(data.notify?.staleAfter ?? '26h')!,
    },
    dashboard: data.dashboard
      ? {
          host: data.dashboard.host,
          port: data.dashboard.port,
          token: data.dashboard.token,
          basic: data.dashboard.basic,
          readOnly: data.dashboard.readOnly,
          allowedHosts: data.dashboard.allowedHosts,
        }
      : DEFAULT_DASHBOARD,
    encryption: data.encryption
      ? {
          recipients: data.encryption.recipients,
          passphrase: data.encryption.passphrase,
          identityFile: data.encryption.identityFile === undefined ? undefined : path.resolve(baseDir, data.encryption.identityFile),
        }
      : undefined,
    signing,
    drillPeriodMs: parseDuration(data.drill.period)!,
  };
}

/**
 * Why a cron expression (read in `timezone`) cannot be used, or undefined when it can: the
 * same parser BullMQ uses (cron-parser), so what passes here is what the scheduler runs.
 */
export function cronProblem(cron: string, timezone: string): { field: 'cron' | 'timezone'; message: string } | undefined {
  const zone = timeZoneProblem(timezone);
  if (zone) return { field: 'timezone', message: zone };
  const fields = cron.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6)
    return { field: 'cron', message: `is "${cron}", which has ${fields} field(s); use 5 (minute hour day month weekday), e.g. "0 2 * * *"` };
  try {
    CronExpressionParser.parse(cron, { tz: timezone }).next();
  } catch (error) {
    return { field: 'cron', message: `is "${cron}", which is not a valid cron expression (${(error as Error).message})` };
  }
  return undefined;
}

/** Why `zone` is not an IANA time zone, or undefined when it is (or is not set). */
function timeZoneProblem(zone: string | undefined): string | undefined {
  if (zone === undefined) return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `is "${zone}", which is not an IANA time zone such as "UTC" or "Europe/Berlin"`;
  }
}

/** A source's retention: each field from the source, else from defaults, else the seed's policy. */
function mergeRetention(
  source: RetentionSettings | undefined,
  defaults: RetentionSettings | undefined,
  scheduleKeepWithinMs: Record<string, number>,
): RetentionPolicy {
  const pick = <K extends keyof RetentionSettings>(key: K) => source?.[key] ?? defaults?.[key];
  const keepWithin = pick('keepWithin');
  const grace = pick('grace');
  return {
    keepLast: pick('keepLast') ?? DEFAULT_RETENTION.keepLast,
    daily: pick('daily') ?? DEFAULT_RETENTION.daily,
    weekly: pick('weekly') ?? DEFAULT_RETENTION.weekly,
    monthly: pick('monthly') ?? DEFAULT_RETENTION.monthly,
    yearly: pick('yearly') ?? DEFAULT_RETENTION.yearly,
    keepWithinMs: keepWithin === undefined ? DEFAULT_RETENTION.keepWithinMs : parseDuration(keepWithin)!,
    timezone: pick('timezone') ?? DEFAULT_RETENTION.timezone,
    graceMs: grace === undefined ? DEFAULT_RETENTION.graceMs : parseDuration(grace)!,
    scheduleKeepWithinMs,
  };
}

/**
 * A Redis URL with its password replaced by `***`, safe to print. Everything up to the last `@`
 * is taken as the user and password, as URL parsers do: a password with an unescaped `@`, `/` or
 * `#` is hidden whole too.
 */
export function redactUrl(url: string): string {
  return url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^]*)@/i,
    (_, scheme: string, auth: string) => `${scheme}${auth.includes(':') ? `${auth.split(':')[0]}:***` : '***'}@`,
  );
}

/** Formats a schema path as `sources[0].databases[1].path`. */
export function formatFieldPath(parts: readonly PropertyKey[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(top level)';
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `has unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; check the spelling against docs/configuration.md`;
    case 'invalid_type': {
      const actual = valueAt(root, issue.path);
      if (actual === undefined) return `is missing; expected ${issue.expected}`;
      // Never quote what may be a secret, even a mistyped one.
      const secret = /pass|secret|token|key|header/i.test(issue.path.map(String).join('.'));
      return `must be ${article(issue.expected)}, not ${secret ? (Array.isArray(actual) ? 'a list' : typeof actual) : describeValue(actual)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return `is not a valid entry; "type" must be one of: local, s3`;
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
    case 'custom':
    default:
      return `must be ${issue.message.replace(/^(Invalid input: expected |Too small: expected |Too big: expected )/, '')}`;
  }
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(root: unknown, parts: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const part of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}

/** Replaces `${VAR}` in every string; an unset variable is an error naming the field. */
function resolveEnv(value: unknown, env: ParseConfigOptions['env'], file: string, at: PropertyKey[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(file, formatFieldPath(at), `refers to the environment variable ${name}, which is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnv(item, env, file, [...at, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnv(v, env, file, [...at, k])]));
  }
  return value;
}
