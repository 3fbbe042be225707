import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { UsageError, findSource, type Config, type ExitCodeValue, type Manifest } from '@botbackup/core';
import { Catalog, Keyring, defaultCatalogPath, loadConfig, resolveBackupInStores, type Logger } from '@botbackup/engine';
import { createStores, type BackupStore } from '@botbackup/storage';
import { ProgressBar, type ProgressMode } from './progress.js';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
  verbose?: boolean;
  logFile?: string;
  identity?: string[];
  insecure?: boolean;
}

/** What a command gets: its config, logger, stores, output helpers, and an abort signal for Ctrl-C. */
export class CommandContext {
  readonly logger: Logger;
  readonly progress: ProgressBar;
  private configPromise: Promise<Config> | undefined;
  private catalogPromise: Promise<Catalog> | undefined;
  private keyringPromise: Promise<Keyring> | undefined;
  /** A successful command's exit code when it is not 0 (recover: 12 after restoring). */
  exitCode: ExitCodeValue | undefined;
  /**
   * The one line an interrupt (Ctrl-C, SIGTERM) prints, saying what was kept: main.ts sets it
   * for the command (interrupt-lines.ts), and a command moves it on as it passes a commit point
   * (backup: once its manifest is written). Undefined for a service, which the signal stops as usual.
   */
  interruptLine: string | undefined = 'Interrupted; nothing was changed.';

  constructor(
    readonly options: GlobalOptions,
    readonly signal: AbortSignal,
    /** The command's name: the services (worker, scheduler, dashboard) log differently. */
    command = '',
  ) {
    this.progress = new ProgressBar(progressMode(options));
    this.logger = createLogger(options, SERVICES.has(command), this.progress);
  }

  /** The config file path: --config, else $BOTBACKUP_CONFIG, else ./botbackup.yaml. */
  get configFile(): string {
    return this.options.config ?? process.env.BOTBACKUP_CONFIG ?? path.join(process.cwd(), 'botbackup.yaml');
  }

  config(): Promise<Config> {
    this.configPromise ??= loadConfig(this.configFile);
    return this.configPromise;
  }

  /**
   * The repository's keys: the config's, with --insecure, and the identities that open backups:
   * the --identity files alone when given, else $BOTBACKUP_IDENTITY_FILE, else the config's
   * identityFile (see Keyring).
   */
  async keyring(): Promise<Keyring> {
    this.keyringPromise ??= this.config().then(
      (config) => new Keyring({ config, identityFiles: (this.options.identity ?? []).map((f) => path.resolve(f)), insecure: this.options.insecure ?? false }),
    );
    return this.keyringPromise;
  }

  /**
   * The local catalog (the config's `catalog`, else {@link defaultCatalogPath}), opened on first
   * use and closed when the process exits. Its warnings (a damaged file moved aside...) are logged.
   */
  catalog(): Promise<Catalog> {
    this.catalogPromise ??= this.config().then((config) => {
      const catalog = Catalog.open(config.catalog ?? defaultCatalogPath(config.file), { logger: this.logger });
      process.once('exit', () => catalog.close());
      return catalog;
    });
    return this.catalogPromise;
  }

  /**
   * Looks up each id of a `--source` option (one id, or several) in the config, as every command
   * does before it starts: an unknown source is the same usage error everywhere (findSource).
   */
  async checkSources(ids: string | readonly string[]): Promise<void> {
    const config = await this.config();
    for (const id of typeof ids === 'string' ? [ids] : ids) findSource(config, id);
  }

  /** Every configured store, in config order. */
  async stores(): Promise<BackupStore[]> {
    // A target that stops answering is named while it is waited for (the one line before it is given up).
    return createStores((await this.config()).storage, { onWait: (store, message) => this.logger.warn({ store }, message) });
  }

  /** The store to read from: the named one, or the first configured. */
  async store(name?: string): Promise<BackupStore> {
    const stores = await this.stores();
    if (name === undefined) return stores[0]!;
    const store = stores.find((s) => s.name === name);
    if (!store) throw new UsageError(`${this.configFile} has no storage target "${name}"; it has ${stores.map((s) => s.name).join(', ')}.`);
    return store;
  }

  /**
   * The stores to read a backup from, in the order to try them: only the named one with
   * `--storage`, else every configured target in config order (a bad copy falls back to the next).
   */
  async readStores(name?: string): Promise<BackupStore[]> {
    return name === undefined ? this.stores() : [await this.store(name)];
  }

  /** The backup a `<backup>` argument names (with the options of {@link withBackupSelection}), the store it was found in, and every store to read it from in order. */
  async resolveBackup(ref: string, opts: Record<string, unknown>): Promise<{ store: BackupStore; stores: BackupStore[]; manifest: Manifest }> {
    const readable = await this.readStores(opts.storage as string | undefined);
    const { store, manifest } = await resolveBackupInStores(readable, ref, opts.source as string | undefined, this.signal);
    // An identity that does not open the backup is refused now, before anything of it is read or
    // written. A manifest whose signature is refused is left to the command: restore refuses
    // it, show shows it (its sealed key may be what was altered).
    const keyring = await this.keyring();
    let accepted = true;
    try {
      keyring.checkSignature(manifest, `storage "${store.name}"`);
    } catch {
      accepted = false;
    }
    if (accepted) await keyring.checkOpens(manifest);
    // The store that had it first, then the others as fallbacks.
    return { store, stores: [store, ...readable.filter((s) => s !== store)], manifest };
  }

  /** Prints the machine-readable result on stdout. */
  printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Prints a line for people on stdout, unless --json or --quiet. */
  print(text: string): void {
    if (!this.options.json && !this.options.quiet) process.stdout.write(`${text}\n`);
  }
}

/** Adds the options that pick where a backup is read from: `--source` and `--storage`. */
export function withBackupSelection(command: Command): Command {
  return command
    .option('-s, --source <id>', 'only backups of this source (with "latest": the newest of it)')
    .option('--storage <name>', 'read only this storage target (default: every target in config order, the next one when a copy is bad)');
}

/** The long-running commands: their logs are the record of what they do, at info, as JSON lines on stderr (docs/deploy.md). */
const SERVICES = new Set(['worker', 'scheduler', 'dashboard']);

/** Progress on a terminal (stderr), as JSON lines with --json, none with -q or when stderr is not a terminal. */
function progressMode(options: GlobalOptions): ProgressMode {
  if (options.quiet) return 'off';
  if (options.json) return 'json';
  return process.stderr.isTTY ? 'terminal' : 'off';
}

/**
 * The logger of a command. A person running a command gets its result from the command itself
 * (the summary on stdout), so its logs show only warnings and errors: -v (--verbose) adds info,
 * --debug adds debug. The services (worker, scheduler, dashboard) keep their levels and format:
 * info, warn with -q or --json, debug with --debug. Logs are JSON lines on stderr, pretty-printed for a person at a terminal,
 * written through the progress display so that they never cut a progress line.
 * --log-file (or $BOTBACKUP_LOG_FILE) also appends every record at info (--debug: debug) to a
 * file as JSON lines, whatever stderr shows.
 */
function createLogger(options: GlobalOptions, service: boolean, progress: ProgressBar): Logger {
  // A service keeps the levels it always had (info; warn with -q or --json), for whatever reads its logs.
  const level = options.debug ? 'debug' : service ? (options.quiet || options.json ? 'warn' : 'info') : options.verbose ? 'info' : 'warn';
  const stderr = process.stderr.isTTY ? prettyLines((text) => progress.write(text)) : pino.destination({ fd: 2, sync: true });
  const logFile = options.logFile ?? (process.env.BOTBACKUP_LOG_FILE || undefined);
  if (logFile === undefined) return pino({ level }, stderr);
  const fileLevel = options.debug ? 'debug' : 'info';
  const file = pino.destination({ dest: path.resolve(logFile), append: true, mkdir: true, sync: true });
  return pino(
    { level: fileLevel },
    pino.multistream([
      { level, stream: stderr },
      { level: fileLevel, stream: file },
    ]),
  );
}

/** A pino destination that pretty-prints each record for a person, at once (no stream in between, so no record is left behind at exit). */
function prettyLines(write: (text: string) => void): { write(line: string): void } {
  const prettify = prettyFactory({ colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' });
  return { write: (line) => write(prettify(line)) };
}
