import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backupIdTime,
  formatSeconds,
  lastSeqOf,
  newGenerationId,
  repositoryKeys,
  SourceError,
  UsageError,
  type Config,
  type DatabaseConfig,
  type ManifestSigner,
  type SourceConfig,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { checkBackupKeys, Keyring } from '../crypto/index.js';
import {
  encodeGeneration,
  encodeSegment,
  isTargetFailure,
  listBackupIds,
  listWal,
  readGeneration,
  readManifest,
  readSegment,
  type WalListing,
} from '../repository/index.js';
import { assertSourceFile, FollowerProcess, WalContinuityError, type WalPosition, type WalSegment } from '../sqlite/index.js';
import { type Logger, sendNotification, silentLogger } from '../support/index.js';
import { runBackup } from './backup.js';
import { WalPacker } from './wal-packer.js';
import { selectSource } from './backup/prepare.js';

/**
 * Continuous protection of a source (docs/continuous.md): follows each database's WAL with a
 * {@link WalFollower} and ships what was committed since the last second as a segment to every
 * target, until `signal` aborts. Segments form *generations*: a generation starts with the WAL
 * positions it follows from and a backup taken while it is followed (its first backup), and holds
 * every commit after that without a gap. A restarted streamer continues the newest generation
 * from its newest segment; when that cannot be proven gap-free (the WAL restarted while nothing
 * followed it, the file was replaced), a new generation starts.
 */

export interface StreamOptions {
  config: Config;
  /** The source to follow; may be omitted when the config has exactly one. It must be `continuous`. */
  sourceId?: string | undefined;
  stores: BackupStore[];
  keyring?: Keyring;
  logger?: Logger;
  /** Stops the streamer; what was committed and not yet shipped stays protected in the WAL. */
  signal: AbortSignal;
  host?: string;
  /** How often committed frames are shipped (ms, default {@link SHIP_INTERVAL_MS}). */
  intervalMs?: number;
  /** How often the WAL-index is looked at while the bot commits, to learn when each commit happened (ms, default 2; every 10 ms once it is quiet). */
  sampleMs?: number;
  onEvent?: (event: StreamEvent) => void;
  /**
   * Makes a generation's first backup, and returns its id. By default a backup in this process
   * (incremental on the newest backup when there is one); a worker passes one that holds its
   * source lock.
   */
  makeBaseBackup?: (generation: string, signal: AbortSignal) => Promise<string>;
}

export type StreamEvent =
  | { type: 'generation'; generation: string; reason: string; resumed: boolean }
  | { type: 'shipped'; database: string; generation: string; seq: number; frames: number; commits: number; lastCommitAt: number; failed: string[] }
  | { type: 'base'; generation: string; backupId: string }
  | { type: 'base-failed'; generation: string; error: string }
  | { type: 'caught-up'; store: string; objects: number }
  | { type: 'paused'; reason: string }
  | { type: 'alert'; message: string }
  | { type: 'recovered'; message: string };

/** One database followed within the current generation. */
interface DatabaseStream {
  db: DatabaseConfig;
  /** In a process of its own (see follower-child.ts). */
  follower: FollowerProcess;
  /** Number of the last segment shipped in this generation (0: none). */
  seq: number;
  /** A segment polled and encoded but not yet on any target: shipped again at the next tick. */
  pending: { key: string; bytes: Buffer; segment: WalSegment; commits: [number, number][] } | undefined;
}

/**
 * How often committed frames are shipped: 0.8 s, so that one interval plus one upload (tens of
 * milliseconds to a local disk or a nearby S3) stays within a second of trades.
 */
export const SHIP_INTERVAL_MS = 800;

/** Ticks between attempts to copy what a target missed while it was down. */
const CATCH_UP_TICKS = 10;
/** How long to wait before making a generation's first backup again after it failed. */
const BASE_RETRY_MS = 60_000;

export async function streamSource(options: StreamOptions): Promise<void> {
  const source = selectSource(options.config, options.sourceId);
  if (!source.continuous) {
    throw new UsageError(`Source "${source.id}" is not continuous; set "continuous: true" on it in ${options.config.file} to stream its WAL.`);
  }
  const keyring = options.keyring ?? new Keyring({ config: options.config });
  const signer = await checkBackupKeys(options.config, keyring);
  const streamer = new SourceStreamer(options, source, keyring, signer);
  await streamer.run();
}

class SourceStreamer {
  private readonly log: Logger;
  private readonly host: string;
  private generation = '';
  private streams: DatabaseStream[] = [];
  /** Targets that missed an object while they were down: caught up from another target. */
  private readonly lagging = new Set<string>();
  private base: { promise: Promise<void> | undefined; needed: boolean; retryAt: number } = { promise: undefined, needed: false, retryAt: 0 };
  private alerted = false;
  private ticks = 0;
  private readonly packer: WalPacker;
  /** Why shipping stopped, while each tick tries to start a new generation; undefined while shipping. */
  private paused: string | undefined;
  private pausedAt = 0;

  constructor(
    private readonly options: StreamOptions,
    private readonly source: SourceConfig,
    private readonly keyring: Keyring,
    private readonly signer: ManifestSigner | undefined,
  ) {
    this.log = (options.logger ?? silentLogger).child({ source: source.id, stream: true });
    this.host = options.host ?? os.hostname();
    this.packer = new WalPacker({
      source: source.id,
      host: this.host,
      keyring,
      signer,
      stores: options.stores,
      put: (key, bytes) => this.putEverywhere(key, bytes, false),
      log: this.log,
      everyMs: source.continuous!.packEveryMs,
    });
  }

  async run(): Promise<void> {
    const { signal } = this.options;
    // A wrong path or a database not in WAL mode fails at once; targets that are all down are waited for.
    await this.open().catch(async (error: unknown) => {
      if (!isTargetFailure(error)) throw error;
      await this.pause(`no storage target takes the generation record (${(error as Error).message})`);
    });
    try {
      // Ticks on a fixed cadence (not an interval after each tick's work): the most a lost disk
      // costs is one interval plus one upload.
      const interval = this.options.intervalMs ?? SHIP_INTERVAL_MS;
      let next = Date.now() + interval;
      while (!signal.aborted) {
        await sleep(Math.max(0, next - Date.now()), undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        next += interval;
        // Behind (a slow upload): the next tick comes one interval from now, not in a burst.
        if (next <= Date.now()) next = Date.now() + interval;
        try {
          if (this.paused !== undefined) {
            await this.newGeneration(this.paused);
            this.paused = undefined;
            if (this.alerted) await this.recovered();
          } else await this.tick();
        } catch (error) {
          if (signal.aborted) break;
          // The WAL changed in a way that cannot be followed, the database is gone (a lost disk,
          // a restore under way) or no target answers: nothing more can be shipped from this
          // generation. Each tick tries to start a new one until it can.
          await this.pause(error instanceof WalContinuityError ? `the WAL could not be followed without a gap: ${error.message}` : (error as Error).message);
          this.alertIf(Date.now() - this.pausedAt, `continuous protection of "${this.source.id}" has stopped for {waited}: ${this.paused}`);
        }
      }
    } finally {
      await this.closeAll();
      await this.base.promise;
    }
  }

  private async pause(reason: string): Promise<void> {
    await this.closeAll();
    if (this.paused === undefined) {
      this.pausedAt = Date.now();
      this.log.warn({ reason }, 'shipping stopped; a new generation starts once the database can be followed again');
      this.emit({ type: 'paused', reason });
    }
    this.paused = reason;
  }

  /** Continues the newest generation from its newest segments, or starts a new one. */
  private async open(): Promise<void> {
    for (const db of this.source.databases) await assertSourceFile(db);
    const listings = await this.listAll();
    const newest = newestGeneration(listings);
    if (!newest) return this.newGeneration('the first start of the streamer');
    const record = await this.firstOf((store) => readGeneration(store, this.source.id, newest, this.keyring.policy, this.options.signal));
    if (!record) return this.newGeneration(`generation ${newest} has no record`);
    const streams: DatabaseStream[] = [];
    try {
      for (const db of this.source.databases) {
        const last = newestSegment(listings, newest, db.name);
        let position: WalPosition;
        let seq = 0;
        if (last) {
          const stored = await this.firstOf((store) => readSegment(store, last, this.keyring.policy, this.options.signal));
          if (!stored) throw new WalContinuityError(`its newest segment ${last} cannot be read`);
          position = { salt: stored.header.salt, frame: stored.header.lastFrame, checksum: stored.header.chain.end };
          seq = stored.header.pack?.lastSeq ?? stored.header.seq;
        } else {
          const start = record.databases[db.name];
          if (!start?.salt) throw new WalContinuityError(`database "${db.name}" had no WAL when the generation began and nothing was shipped since`);
          position = { salt: start.salt, frame: start.frame, checksum: start.checksum };
        }
        streams.push({ db, follower: await FollowerProcess.resume(db.path, position, this.followerOptions()), seq, pending: undefined });
      }
    } catch (error) {
      for (const s of streams) await s.follower.close();
      if (!(error instanceof WalContinuityError)) throw wrapSourceError(error, this.source);
      return this.newGeneration(`generation ${newest} cannot be continued: ${error.message}`);
    }
    this.generation = newest;
    this.streams = streams;
    this.emit({ type: 'generation', generation: newest, reason: 'resumed after a restart', resumed: true });
    this.log.info({ generation: newest, seq: streams.map((s) => s.seq) }, 'continuing the newest generation');
    if (!(await this.hasBaseBackup(newest))) this.startBase();
  }

  /** Starts following every database from now, records where, and starts the generation's first backup. */
  private async newGeneration(reason: string): Promise<void> {
    await this.closeAll();
    const generation = newGenerationId(new Date());
    // A database that is not there (a wrong path, a lost disk) is said in the backup's words.
    for (const db of this.source.databases) await assertSourceFile(db);
    const streams: DatabaseStream[] = [];
    try {
      for (const db of this.source.databases)
        streams.push({ db, follower: await FollowerProcess.start(db.path, this.followerOptions()), seq: 0, pending: undefined });
    } catch (error) {
      for (const s of streams) await s.follower.close();
      throw wrapSourceError(error, this.source);
    }
    const databases = Object.fromEntries(
      streams.map((s) => {
        const at = s.follower.acknowledged;
        return [s.db.name, { salt: at.salt ?? null, frame: at.frame, checksum: at.checksum }];
      }),
    );
    const bytes = encodeGeneration(
      { source: this.source.id, generation, startedAt: new Date().toISOString(), host: this.host, reason, databases },
      this.signer,
    );
    this.streams = streams;
    this.generation = generation;
    await this.putEverywhere(repositoryKeys.walGenerationRecord(this.source.id, generation), bytes, true);
    this.emit({ type: 'generation', generation, reason, resumed: false });
    this.log.info({ generation, reason }, 'new generation');
    this.startBase();
  }

  /** Ships what each database committed since the last tick; acknowledges it once a target holds it. */
  private async tick(): Promise<void> {
    this.ticks++;
    for (const s of this.streams) {
      if (!s.pending) {
        const polled = await s.follower.poll();
        if (!polled) continue;
        s.pending = await this.encode(s, polled.segment, polled.commits);
      }
      const { key, bytes, segment } = s.pending;
      const failed = await this.putEverywhere(key, bytes, false);
      if (failed === undefined) {
        this.checkAlert(s);
        continue;
      }
      await s.follower.ack();
      s.seq++;
      const shipped = s.pending;
      s.pending = undefined;
      this.emit({
        type: 'shipped',
        database: s.db.name,
        generation: this.generation,
        seq: s.seq,
        frames: segment.lastFrame - segment.firstFrame + 1,
        commits: shipped.commits.length,
        lastCommitAt: shipped.commits.at(-1)![1],
        failed,
      });
      if (this.alerted && this.streams.every((x) => !x.pending)) await this.recovered();
      await this.packer.add(this.generation, s.db.name, { key, seq: s.seq, segment, commits: shipped.commits });
    }
    await this.packer.deleteDue();
    if (this.lagging.size > 0 && this.ticks % CATCH_UP_TICKS === 0) await this.catchUp();
    if (this.base.needed && !this.base.promise && Date.now() >= this.base.retryAt) this.startBase();
  }

  /** The segment's stored bytes; `commits` are its commits with when each was first seen. */
  private async encode(s: DatabaseStream, segment: WalSegment, commits: [number, number][]): Promise<NonNullable<DatabaseStream['pending']>> {
    const seq = s.seq + 1;
    const { key, bytes } = await encodeSegment(
      {
        source: this.source.id,
        generation: this.generation,
        database: s.db.name,
        seq,
        salt: segment.salt,
        firstFrame: segment.firstFrame,
        lastFrame: segment.lastFrame,
        pageSize: segment.pageSize,
        pageCount: segment.pageCount,
        chain: { start: segment.chainStart, end: segment.end.checksum },
        commits,
        host: this.host,
        frames: segment.frames,
      },
      this.keyring,
      this.signer,
    );
    return { key, bytes, segment, commits };
  }

  /**
   * Writes an object to every target at once. Returns the targets that failed (they are caught
   * up later), or undefined when none took it: then nothing is acknowledged and the frames stay
   * protected in the WAL. With `required`, no target taking it is an error.
   */
  private async putEverywhere(key: string, bytes: Buffer, required: boolean): Promise<string[] | undefined> {
    // Not aborted by the stop signal: a segment under way is finished, so a stop loses nothing
    // (each store bounds its own calls: a stalled S3 request is retried and then given up).
    const { stores } = this.options;
    const results = await Promise.allSettled(stores.map((store) => store.put(key, bytes)));
    const failed: string[] = [];
    for (const [i, result] of results.entries()) {
      if (result.status === 'fulfilled') continue;
      failed.push(stores[i]!.name);
      this.lagging.add(stores[i]!.name);
      this.log.warn({ store: stores[i]!.name, key, err: (result.reason as Error).message }, 'a target did not take a WAL object; it will be caught up');
    }
    if (failed.length < stores.length) return failed;
    if (required) throw (results[0] as PromiseRejectedResult).reason;
    return undefined;
  }

  /** Copies to each lagging target the WAL objects another target holds and it lacks. */
  private async catchUp(): Promise<void> {
    const { stores, signal } = this.options;
    const listings = await this.listAll();
    for (const store of stores) {
      if (!this.lagging.has(store.name)) continue;
      const own = listings.get(store.name);
      if (!own) continue;
      const have = new Set(allKeys(own, this.source.id));
      let copied = 0;
      try {
        for (const [name, listing] of listings) {
          if (name === store.name || !listing) continue;
          const from = stores.find((s) => s.name === name)!;
          for (const key of allKeys(listing, this.source.id)) {
            if (have.has(key)) continue;
            const chunks: Buffer[] = [];
            for await (const chunk of await from.get(key, { signal })) chunks.push(chunk as Buffer);
            await store.put(key, Buffer.concat(chunks), { signal });
            have.add(key);
            copied++;
          }
        }
        this.lagging.delete(store.name);
        this.emit({ type: 'caught-up', store: store.name, objects: copied });
        this.log.info({ store: store.name, objects: copied }, 'target caught up');
      } catch (error) {
        this.log.warn({ store: store.name, err: (error as Error).message }, 'catching up a target failed; trying again later');
      }
    }
  }

  /** Alerts once when a database's committed frames have waited unshipped longer than the bound. */
  private checkAlert(s: DatabaseStream): void {
    this.alertIf(
      Date.now() - s.pending!.commits[0]![1],
      `commits to "${s.db.name}" have waited {waited} unshipped: no storage target takes them (they stay in the WAL until one does)`,
    );
  }

  /** Sends the `stale` alert once, when `waited` passed the source's bound ({waited} in the message becomes it). */
  private alertIf(waited: number, template: string): void {
    if (this.alerted || waited < this.source.continuous!.alertAfterMs) return;
    this.alerted = true;
    const message = template.replace('{waited}', formatSeconds(waited));
    this.log.error({ waitedMs: waited }, message);
    this.emit({ type: 'alert', message });
    void this.notify('stale', message);
  }

  private async recovered(): Promise<void> {
    this.alerted = false;
    await this.notify('recovery', `continuous protection of "${this.source.id}" ships again`);
    this.emit({ type: 'recovered', message: 'shipping again' });
  }

  private async notify(event: 'stale' | 'recovery', message: string): Promise<void> {
    await sendNotification(
      this.options.config.notify,
      { event, sourceId: this.source.id, job: 'stream', scheduleId: undefined, jobId: undefined, message, at: new Date().toISOString() },
      this.log,
    );
  }

  /** Starts the generation's first backup in the background; shipping goes on meanwhile. */
  private startBase(): void {
    const generation = this.generation;
    this.base.needed = true;
    // One at a time: a first backup still running for an earlier generation finishes first, and
    // the next tick starts this one.
    if (this.base.promise) return;
    const make =
      this.options.makeBaseBackup ??
      (async (gen: string, signal: AbortSignal) => {
        const result = await runBackup({
          config: this.options.config,
          sourceId: this.source.id,
          stores: this.options.stores,
          keyring: this.keyring,
          logger: this.options.logger,
          incremental: true,
          streamGeneration: gen,
          host: this.host,
          signal,
        });
        return result.manifest.id;
      });
    this.base.promise = make(generation, this.options.signal).then(
      (backupId) => {
        if (generation === this.generation) this.base.needed = false;
        this.base.promise = undefined;
        this.emit({ type: 'base', generation, backupId });
        this.log.info({ generation, backupId }, "generation's first backup committed");
      },
      (error: unknown) => {
        this.base.promise = undefined;
        this.base.retryAt = Date.now() + BASE_RETRY_MS;
        if (this.options.signal.aborted) return;
        this.emit({ type: 'base-failed', generation, error: (error as Error).message });
        this.log.error({ generation, err: (error as Error).message }, "the generation's first backup failed; trying again in a minute");
      },
    );
  }

  /** Whether a backup made for `generation` exists (its first backup), read from the newest manifests. */
  private async hasBaseBackup(generation: string): Promise<boolean> {
    const since = generationTime(generation);
    for (const store of this.options.stores) {
      try {
        const ids = await listBackupIds(store, this.source.id, this.options.signal);
        for (const { backupId } of ids.filter((id) => backupIdTime(id.backupId).getTime() >= since - 1000).reverse()) {
          const manifest = await readManifest(store, this.source.id, backupId, this.options.signal);
          if (manifest.stream?.generation === generation) return true;
        }
        return false;
      } catch {
        // try the next target
      }
    }
    return false;
  }

  private async listAll(): Promise<Map<string, WalListing | undefined>> {
    const { stores, signal } = this.options;
    const results = await Promise.allSettled(stores.map((store) => listWal(store, this.source.id, signal)));
    return new Map(stores.map((store, i) => [store.name, results[i]!.status === 'fulfilled' ? results[i]!.value : undefined]));
  }

  /** The first target's answer that succeeds and is not undefined. */
  private async firstOf<T>(read: (store: BackupStore) => Promise<T | undefined>): Promise<T | undefined> {
    for (const store of this.options.stores) {
      try {
        const value = await read(store);
        if (value !== undefined) return value;
      } catch (error) {
        this.log.warn({ store: store.name, err: (error as Error).message }, 'a target could not be read');
      }
    }
    return undefined;
  }

  private followerOptions(): { sampleMs: number; resumeWithinMs: number } {
    return { sampleMs: this.options.sampleMs ?? 2, resumeWithinMs: this.source.continuous!.resumeWithinMs };
  }

  private async closeAll(): Promise<void> {
    // The packs being collected are of the frames followed so far: stored before anything else.
    await this.packer.storeAll();
    const streams = this.streams;
    this.streams = [];
    for (const s of streams) await s.follower.close();
  }

  private emit(event: StreamEvent): void {
    this.options.onEvent?.(event);
  }
}

function newestGeneration(listings: Map<string, WalListing | undefined>): string | undefined {
  let newest: string | undefined;
  for (const listing of listings.values())
    for (const g of listing?.generations ?? []) if (g.hasRecord && (newest === undefined || g.id > newest)) newest = g.id;
  return newest;
}

/** The key of the newest segment of a database in a generation, over every target. */
function newestSegment(listings: Map<string, WalListing | undefined>, generation: string, database: string): string | undefined {
  let best: { seq: number; key: string } | undefined;
  for (const listing of listings.values()) {
    const list = listing?.generations.find((g) => g.id === generation)?.databases.get(database);
    const last = list?.at(-1);
    if (last && (!best || lastSeqOf(last.name) > best.seq)) best = { seq: lastSeqOf(last.name), key: last.key };
  }
  return best?.key;
}

function allKeys(listing: WalListing, sourceId: string): string[] {
  const keys: string[] = [];
  for (const g of listing.generations) {
    if (g.hasRecord) keys.push(repositoryKeys.walGenerationRecord(sourceId, g.id));
    for (const list of g.databases.values()) for (const s of list) keys.push(s.key);
  }
  return keys;
}

/** When a generation began, from its id (`20261207T170000Z-abc123`). */
function generationTime(generation: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(generation);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : 0;
}

function wrapSourceError(error: unknown, source: SourceConfig): unknown {
  if (error instanceof WalContinuityError) {
    return new SourceError(
      'DATABASE_UNREADABLE',
      source.root,
      `Cannot stream source "${source.id}": ${error.message}; continuous protection needs each database in WAL mode.`,
      {
        cause: error,
      },
    );
  }
  return error;
}
