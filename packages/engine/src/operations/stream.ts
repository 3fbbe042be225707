import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backupIdTime,
  formatSeconds,
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
import { encodeGeneration, encodeSegment, listBackupIds, listWal, readGeneration, readManifest, readSegment, type WalListing } from '../repository/index.js';
import { commitFrames, WalContinuityError, WalFollower, type WalPosition, type WalSegment } from '../sqlite/index.js';
import { type Logger, sendNotification, silentLogger } from '../support/index.js';
import { runBackup } from './backup.js';
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
  /** How often committed frames are shipped (ms, default 1000). */
  intervalMs?: number;
  /** How often the WAL-index is looked at to learn when each commit happened (ms, default 10). */
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
  | { type: 'alert'; message: string }
  | { type: 'recovered'; message: string };

/** A WAL-index state seen by the sampler, and when. */
interface Observation {
  salt: [number, number];
  maxFrame: number;
  at: number;
}

/** One database followed within the current generation. */
interface DatabaseStream {
  db: DatabaseConfig;
  follower: WalFollower;
  /** Number of the last segment shipped in this generation (0: none). */
  seq: number;
  observations: Observation[];
  /** A segment polled and encoded but not yet on any target: shipped again at the next tick. */
  pending: { key: string; bytes: Buffer; segment: WalSegment; firstSeenAt: number; lastCommitAt: number; commits: number } | undefined;
}

/** Observations kept at most per database (a target down for long): older ones are dropped, their commits then dated when polled. */
const MAX_OBSERVATIONS = 100_000;
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

  constructor(
    private readonly options: StreamOptions,
    private readonly source: SourceConfig,
    private readonly keyring: Keyring,
    private readonly signer: ManifestSigner | undefined,
  ) {
    this.log = (options.logger ?? silentLogger).child({ source: source.id, stream: true });
    this.host = options.host ?? os.hostname();
  }

  async run(): Promise<void> {
    const { signal } = this.options;
    await this.open();
    const sampler = setInterval(() => this.sample(), this.options.sampleMs ?? 10);
    try {
      while (!signal.aborted) {
        await sleep(this.options.intervalMs ?? 1000, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        try {
          await this.tick();
        } catch (error) {
          if (!(error instanceof WalContinuityError)) throw error;
          this.log.warn({ err: error.message }, 'WAL continuity lost; starting a new generation');
          await this.newGeneration(`the WAL could not be followed without a gap: ${error.message}`);
        }
      }
    } finally {
      clearInterval(sampler);
      this.closeAll();
      await this.base.promise;
    }
  }

  /** Continues the newest generation from its newest segments, or starts a new one. */
  private async open(): Promise<void> {
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
          seq = stored.header.seq;
        } else {
          const start = record.databases[db.name];
          if (!start?.salt) throw new WalContinuityError(`database "${db.name}" had no WAL when the generation began and nothing was shipped since`);
          position = { salt: start.salt, frame: start.frame, checksum: start.checksum };
        }
        streams.push({ db, follower: WalFollower.resume(db.path, position), seq, observations: [], pending: undefined });
      }
    } catch (error) {
      for (const s of streams) s.follower.close();
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
    this.closeAll();
    const generation = newGenerationId(new Date());
    const streams: DatabaseStream[] = [];
    try {
      for (const db of this.source.databases) streams.push({ db, follower: WalFollower.start(db.path), seq: 0, observations: [], pending: undefined });
    } catch (error) {
      for (const s of streams) s.follower.close();
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
        const segment = s.follower.poll();
        if (!segment) continue;
        s.pending = await this.encode(s, segment);
      }
      const { key, bytes, segment } = s.pending;
      const failed = await this.putEverywhere(key, bytes, false);
      if (failed === undefined) {
        this.checkAlert(s);
        continue;
      }
      s.follower.ack();
      s.seq++;
      this.forget(s, segment);
      const shipped = s.pending;
      s.pending = undefined;
      this.emit({
        type: 'shipped',
        database: s.db.name,
        generation: this.generation,
        seq: s.seq,
        frames: segment.lastFrame - segment.firstFrame + 1,
        commits: shipped.commits,
        lastCommitAt: shipped.lastCommitAt,
        failed,
      });
      if (this.alerted && this.streams.every((x) => !x.pending)) {
        this.alerted = false;
        await this.notify('recovery', `continuous protection of "${this.source.id}" ships again`);
        this.emit({ type: 'recovered', message: 'shipping again' });
      }
    }
    if (this.lagging.size > 0 && this.ticks % CATCH_UP_TICKS === 0) await this.catchUp();
    if (this.base.needed && !this.base.promise && Date.now() >= this.base.retryAt) this.startBase();
  }

  /** The segment's stored bytes, each commit dated by when the sampler first saw it. */
  private async encode(s: DatabaseStream, segment: WalSegment): Promise<NonNullable<DatabaseStream['pending']>> {
    this.sample();
    const now = Date.now();
    const commits: [number, number][] = [];
    let from = 0;
    let previous = 0;
    for (const frame of commitFrames(segment)) {
      while (from < s.observations.length && !covers(s.observations[from]!, segment.salt, frame)) from++;
      // Seen times never go backwards: a later commit was seen no earlier than an earlier one.
      const at = Math.max(previous, from < s.observations.length ? s.observations[from]!.at : now);
      commits.push([frame, at]);
      previous = at;
    }
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
    return { key, bytes, segment, firstSeenAt: commits[0]![1], lastCommitAt: commits.at(-1)![1], commits: commits.length };
  }

  /** Drops the observations of frames now shipped. */
  private forget(s: DatabaseStream, segment: WalSegment): void {
    let last = -1;
    for (const [i, o] of s.observations.entries())
      if (o.salt[0] === segment.salt[0] && o.salt[1] === segment.salt[1] && o.maxFrame <= segment.lastFrame) last = i;
    if (last >= 0) s.observations.splice(0, last + 1);
  }

  /** Records each database's WAL-index state when it changed: that is when its commits became visible. */
  private sample(): void {
    const at = Date.now();
    for (const s of this.streams) {
      const seen = s.follower.peek();
      if (!seen) continue;
      const last = s.observations.at(-1);
      if (last && last.maxFrame === seen.maxFrame && last.salt[0] === seen.salt[0] && last.salt[1] === seen.salt[1]) continue;
      s.observations.push({ salt: seen.salt, maxFrame: seen.maxFrame, at });
      if (s.observations.length > MAX_OBSERVATIONS) s.observations.splice(0, s.observations.length - MAX_OBSERVATIONS);
    }
  }

  /**
   * Writes an object to every target at once. Returns the targets that failed (they are caught
   * up later), or undefined when none took it: then nothing is acknowledged and the frames stay
   * protected in the WAL. With `required`, no target taking it is an error.
   */
  private async putEverywhere(key: string, bytes: Buffer, required: boolean): Promise<string[] | undefined> {
    const { stores, signal } = this.options;
    const results = await Promise.allSettled(stores.map((store) => store.put(key, bytes, { signal })));
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
    const bound = this.source.continuous!.alertAfterMs;
    const waited = Date.now() - s.pending!.firstSeenAt;
    if (this.alerted || waited < bound) return;
    this.alerted = true;
    const message = `commits to "${s.db.name}" have waited ${formatSeconds(waited)} unshipped: no storage target takes them (they stay in the WAL until one does)`;
    this.log.error({ database: s.db.name, waitedMs: waited }, message);
    this.emit({ type: 'alert', message });
    void this.notify('stale', message);
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

  private closeAll(): void {
    for (const s of this.streams) s.follower.close();
    this.streams = [];
  }

  private emit(event: StreamEvent): void {
    this.options.onEvent?.(event);
  }
}

/** Whether an observation shows commit frame `frame` of the WAL with these salts. */
function covers(o: Observation, salt: [number, number], frame: number): boolean {
  return o.salt[0] === salt[0] && o.salt[1] === salt[1] && o.maxFrame >= frame;
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
    if (last && (!best || last.name.seq > best.seq)) best = { seq: last.name.seq, key: last.key };
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
