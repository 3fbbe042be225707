/**
 * Typed errors. Every failure a user can meet is one of these: it carries a code, the context
 * (file, field, key, backend...) and a one-sentence message a user can act on. Commands map the
 * class to a documented exit code (see {@link exitCodeFor}); nothing here may hold a secret.
 */

/** Exit codes of the `botbackup` command, documented in docs/cli.md. */
export const ExitCode = {
  ok: 0,
  /** Unexpected internal error (a bug): run again with --debug and report it. */
  internal: 1,
  /** Bad command line usage. */
  usage: 2,
  /** The configuration file is missing or invalid. */
  config: 3,
  /** The source could not be read (missing database, unreadable key file...). */
  source: 4,
  /** Storage failed: unreachable, permission denied, disk full. */
  storage: 5,
  /** A backup failed an integrity check: corrupt, truncated, tampered or missing objects. */
  integrity: 6,
  /** The requested backup does not exist. */
  notFound: 7,
  /**
   * The restore target cannot be used as asked: a file where a folder is needed, existing data
   * without --force, or an unsafe path (also: recover while the bot has its database open).
   */
  restoreRefused: 8,
  /** The backup was committed, but to fewer storage targets than configured (at least minCopies). */
  degraded: 9,
  /** Redis (queues and schedules of distributed mode) cannot be reached, or refused the login. */
  redis: 10,
  /** A key is missing or wrong: no identity or passphrase opens an encrypted backup, or the worker key cannot be read. */
  key: 11,
  /** `recover` found damaged or missing data and restored it (a success: the bot may start). */
  recovered: 12,
  /** `recover` found damaged or missing data and no usable backup to restore it from; nothing was changed. */
  nothingToRecover: 13,
  /** The operation was interrupted (Ctrl-C, abort signal). */
  aborted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Base class: `code` is stable and machine-readable, `message` is for people. */
export class BotbackupError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;
  constructor(code: string, message: string, exitCode: ExitCodeValue, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A config file that cannot be read or does not match the schema. */
export class ConfigError extends BotbackupError {
  readonly file: string;
  readonly field: string | undefined;
  constructor(file: string, field: string | undefined, problem: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', field ? `${file}: field "${field}" ${problem}.` : `${file}: ${problem}.`, ExitCode.config, options);
    this.file = file;
    this.field = field;
  }
}

/**
 * A config file that is not valid YAML (or JSON): the message is `<file>:<line>:<column>: <what
 * is wrong>.`, the form editors and compilers use, so that the place can be opened directly.
 */
export class ConfigSyntaxError extends ConfigError {
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, problem: string, options?: { cause?: unknown }) {
    super(file, undefined, problem, options);
    this.message = `${file}:${line}:${column}: ${problem}.`;
    this.line = line;
    this.column = column;
  }
}

export type SourceErrorCode = 'DATABASE_MISSING' | 'DATABASE_UNREADABLE' | 'DATABASE_CORRUPT' | 'FILE_UNREADABLE' | 'FILE_CHANGED';

/** The bot's data could not be read consistently. */
export class SourceError extends BotbackupError {
  readonly path: string;
  constructor(code: SourceErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(code, message, ExitCode.source, options);
    this.path = path;
  }
}

export type StorageErrorCode = 'NOT_FOUND' | 'UNAVAILABLE' | 'PERMISSION' | 'NO_SPACE' | 'INVALID_KEY' | 'ABORTED' | 'IO';

/** A storage backend failed. Backends turn provider errors into this, with operation, key and backend. */
export class StorageError extends BotbackupError {
  readonly storageCode: StorageErrorCode;
  readonly operation: string;
  readonly key: string | undefined;
  readonly backend: string;
  constructor(
    storageCode: StorageErrorCode,
    details: { operation: string; key?: string | undefined; backend: string; message: string },
    options?: { cause?: unknown },
  ) {
    super(
      `STORAGE_${storageCode}`,
      details.message,
      storageCode === 'NOT_FOUND' ? ExitCode.notFound : storageCode === 'ABORTED' ? ExitCode.aborted : ExitCode.storage,
      options,
    );
    this.storageCode = storageCode;
    this.operation = details.operation;
    this.key = details.key;
    this.backend = details.backend;
  }
}

export type IntegrityErrorCode =
  | 'CHECKSUM_MISMATCH'
  | 'TRUNCATED'
  | 'MISSING_OBJECT'
  | 'MISSING_MANIFEST'
  | 'BAD_MANIFEST'
  | 'BAD_ARCHIVE'
  | 'DATABASE_CHECK_FAILED'
  | 'BROKEN_CHAIN'
  // A manifest whose signature is missing, invalid or made by a key that is not trusted.
  | 'SIGNATURE';

/** Stored data does not match what its manifest promises. */
export class IntegrityError extends BotbackupError {
  readonly backupId: string | undefined;
  readonly subject: string | undefined;
  constructor(code: IntegrityErrorCode, message: string, context: { backupId?: string; subject?: string } = {}, options?: { cause?: unknown }) {
    super(code, message, ExitCode.integrity, options);
    this.backupId = context.backupId;
    this.subject = context.subject;
  }
}

/** No backup matches what the user asked for. */
export class BackupNotFoundError extends BotbackupError {
  constructor(message: string) {
    super('BACKUP_NOT_FOUND', message, ExitCode.notFound);
  }
}

export type RestoreRefusedCode = 'TARGET_EXISTS' | 'TARGET_NOT_FOLDER' | 'TARGET_UNUSABLE' | 'UNSAFE_PATH' | 'ONLY_NOT_FOUND' | 'IN_USE';

/** The restore target cannot be used as asked: it would overwrite data, is a file where a folder is needed, or the archive writes outside it. */
export class RestoreRefusedError extends BotbackupError {
  readonly path: string;
  constructor(code: RestoreRefusedCode, path: string, message: string) {
    super(code, message, ExitCode.restoreRefused);
    this.path = path;
  }
}

/** Redis, which holds the queues and schedules of distributed mode, cannot be used. Never holds the password. */
export class RedisUnavailableError extends BotbackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REDIS_UNAVAILABLE', message, ExitCode.redis, options);
  }
}

export type KeyErrorCode = 'NO_IDENTITY' | 'WRONG_KEY' | 'KEY_FILE' | 'NO_WORKER_KEY';

/**
 * A key is missing, unreadable or wrong: an encrypted backup and no identity (or passphrase) that
 * opens it, or a worker key that cannot be read. The message names the file, never the key.
 */
export class KeyError extends BotbackupError {
  readonly backupId: string | undefined;
  constructor(code: KeyErrorCode, message: string, context: { backupId?: string } = {}, options?: { cause?: unknown }) {
    super(code, message, ExitCode.key, options);
    this.backupId = context.backupId;
  }
}

/** The user asked for something the command cannot do as given. */
export class UsageError extends BotbackupError {
  constructor(message: string) {
    super('USAGE', message, ExitCode.usage);
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortedError extends BotbackupError {
  constructor(message = 'The operation was interrupted; nothing was committed.') {
    super('ABORTED', message, ExitCode.aborted);
  }
}

/**
 * A backup committed to fewer storage targets than configured (but at least minCopies): it
 * exists, yet the command fails so that scripts and schedules notice the missing copies.
 */
export class DegradedError extends BotbackupError {
  constructor(message: string) {
    super('DEGRADED', message, ExitCode.degraded);
  }
}

/**
 * Some copies failed verification. Several copies can fail in different ways, so the exit code
 * is the worst failure's (a bad copy over a missing key over an unreachable target), chosen by
 * the caller.
 */
export class VerifyFailedError extends BotbackupError {
  constructor(message: string, exitCode: ExitCodeValue) {
    super('VERIFY_FAILED', message, exitCode);
  }
}

/**
 * Replication left some backup without a copy on some target: 6 when a backup had no good copy
 * to copy from, 5 when a target could not be written or reached.
 */
export class ReplicateIncompleteError extends BotbackupError {
  constructor(message: string, exitCode: typeof ExitCode.integrity | typeof ExitCode.storage) {
    super('REPLICATE_INCOMPLETE', message, exitCode);
  }
}

/**
 * A queued job that a worker ran failed. It ends the command that followed the job with the
 * exit code the job's error has when run here, which the worker recorded.
 */
export class JobFailedError extends BotbackupError {
  readonly jobId: string;
  constructor(jobId: string, reason: string, exitCode: ExitCodeValue) {
    super('JOB_FAILED', `Job ${jobId} failed: ${reason.replace(/\.$/, '')}.`, exitCode);
    this.jobId = jobId;
  }
}

/**
 * A backup reached fewer storage targets than `minCopies`, so nothing was committed anywhere:
 * exit 5, naming each target's failure.
 */
export class TooFewCopiesError extends BotbackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOO_FEW_COPIES', message, ExitCode.storage, options);
  }
}

/**
 * Every storage target's copy of a backup failed to restore. It keeps the code and exit code of
 * the most telling failure (a bad copy over an unreachable target), whose error is its cause,
 * and names every target's problem.
 */
export class NoGoodCopyError extends BotbackupError {
  readonly backupId: string;
  constructor(backupId: string, message: string, first: BotbackupError) {
    super(first.code, message, first.exitCode, { cause: first });
    this.backupId = backupId;
  }
}

/**
 * A restore drill failed. Its code is the failure's as the drill recorded it (a drill runs in a
 * worker, and its record outlives the error): 11 for a missing or wrong key, 7 when the backup
 * vanished, 6 for every integrity or check failure.
 */
export class DrillFailedError extends BotbackupError {
  readonly backupId: string;
  constructor(code: string, backupId: string, message: string) {
    const exitCode = ['NO_IDENTITY', 'WRONG_KEY', 'KEY_FILE', 'NO_WORKER_KEY'].includes(code)
      ? ExitCode.key
      : code === 'BACKUP_NOT_FOUND'
        ? ExitCode.notFound
        : ExitCode.integrity;
    super(code, message, exitCode);
    this.backupId = backupId;
  }
}

/**
 * The folder for temporary copies (defaults.tmpDir, or the per-user default) cannot be made or
 * is not private to this user: exit 5 like any place botbackup writes that it cannot use.
 */
export class TempDirError extends BotbackupError {
  readonly dir: string;
  constructor(dir: string, message: string, options?: { cause?: unknown }) {
    super('TMPDIR_UNUSABLE', message, ExitCode.storage, options);
    this.dir = dir;
  }
}

/**
 * A bug met while the rest of the work goes on (one copy's check among several): it keeps the
 * original error as its cause and stands for exit code 1, as an uncaught error would.
 */
export class InternalError extends BotbackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', message, ExitCode.internal, options);
  }
}

/** The exit code for any thrown value: typed errors carry theirs, anything else is a bug. */
export function exitCodeFor(error: unknown): ExitCodeValue {
  return error instanceof BotbackupError ? error.exitCode : ExitCode.internal;
}
