import {
  formatDuration,
  hasUnshippedFrames,
  judgeShipping,
  queueNames,
  summarizeWal,
  type CommittedWal,
  type Config,
  type DrillCopy,
  type ShippingState,
  type SourceConfig,
  type WalListingLike,
} from '@botbackup/core';
import { isGoodBackup, type CatalogBackup } from '@botbackup/engine';
import type { JobView, WorkersRead } from './inspect.js';

// The pure functions of `status` over the catalog and the jobs read from Redis. Apart from
// inspect.ts, which reads Redis (BullMQ, ioredis), so that `status` without Redis loads neither.

/**
 * The copies of a source's backups a drill could read, per the catalog (pure): every copy a
 * target holds (verified, unverified or bad), and those of a target that cannot be read now but
 * held them at the last sync; not the `missing` ones.
 */
export function drillCopiesOf(backups: readonly CatalogBackup[], sourceId: string): DrillCopy[] {
  const out: DrillCopy[] = [];
  for (const b of backups) {
    if (b.sourceId !== sourceId) continue;
    for (const c of b.copies) {
      if (c.state === 'missing' || (c.state === 'unreachable' && c.at === undefined)) continue;
      out.push({ backupId: b.backupId, store: c.target });
    }
  }
  return out;
}

/** The newest good backup of a source among the catalog's (pure; "good": {@link isGoodBackup}). */
export function newestGoodBackup(backups: readonly CatalogBackup[], sourceId: string): CatalogBackup | undefined {
  let best: (CatalogBackup & { manifest: object & { completedAt: string } }) | undefined;
  for (const b of backups) {
    if (b.sourceId !== sourceId || !isGoodBackup(b)) continue;
    if (!best || b.manifest.completedAt > best.manifest.completedAt) best = b;
  }
  return best;
}

/** The newest finished job (completed or failed) of a source among `finished` (pure); undefined when none. */
export function lastJobOf(finished: readonly JobView[], sourceId: string): JobView | undefined {
  let last: JobView | undefined;
  for (const job of finished) {
    if (job.payload.sourceId !== sourceId || job.finishedAt === null) continue;
    if (!last || job.finishedAt > last.finishedAt!) last = job;
  }
  return last;
}

/** A worker process connected to Redis: its connections (one per queue it serves) grouped by its name and host. */
export interface WorkerStatus {
  /** The name it gave itself (`worker --name`, default `<hostname>:<pid>`); null for a worker that gave none (an older botbackup). */
  name: string | null;
  /** The IP address its connections come from (CLIENT LIST `addr` without the port). */
  host: string;
  /** The queues it serves, in the order status reads them. */
  queues: string[];
  /** How long it has been connected to every one of its queues (its newest connection's age). */
  connectedForMs: number;
  /** Its connections as Redis lists them, one per queue. */
  connections: { queue: string; addr: string; ageMs: number }[];
}

/** A queue of the config (maintenance, or a source's backups) that no worker serves: its jobs wait. */
export interface UnservedQueue {
  queue: string;
  /** The source whose backups go to it; null for the maintenance queue. */
  sourceId: string | null;
}

/** `status`'s Workers part. */
export interface WorkersStatus {
  /** Why the workers could not be listed (a Redis user without `CLIENT LIST`), else null. */
  error: string | null;
  /** The workers connected under the prefix, by name then host; null when they could not be listed. */
  list: WorkerStatus[] | null;
  /** The configured queues no worker serves; null when the workers could not be listed. */
  unserved: UnservedQueue[] | null;
}

/** The queues a config's jobs go to: maintenance, then each source's backup queue. */
export function configuredQueues(config: Pick<Config, 'sources'>): UnservedQueue[] {
  return [{ queue: queueNames.maintenance, sourceId: null }, ...config.sources.map((s) => ({ queue: queueNames.backup(s.id), sourceId: s.id }))];
}

/**
 * The workers from their connections (pure): one per name and host (a process opens one
 * connection per queue, each from its own port), and which of `configured` none of them serves.
 */
export function workersStatus(read: WorkersRead, configured: readonly UnservedQueue[]): WorkersStatus {
  if ('error' in read) return { error: read.error, list: null, unserved: null };
  const byKey = new Map<string, WorkerStatus>();
  for (const c of read.connections) {
    const host = hostOf(c.addr);
    const key = JSON.stringify([c.name, host]);
    const worker = byKey.get(key) ?? { name: c.name, host, queues: [], connectedForMs: Number.POSITIVE_INFINITY, connections: [] };
    byKey.set(key, worker);
    if (!worker.queues.includes(c.queue)) worker.queues.push(c.queue);
    worker.connectedForMs = Math.min(worker.connectedForMs, c.ageSeconds * 1000);
    worker.connections.push({ queue: c.queue, addr: c.addr, ageMs: c.ageSeconds * 1000 });
  }
  const list = [...byKey.values()].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.host.localeCompare(b.host));
  const served = new Set(read.connections.map((c) => c.queue));
  return { error: null, list, unserved: configured.filter((q) => !served.has(q.queue)) };
}

/** `10.0.0.5` of `10.0.0.5:50312`, `[::1]` of `[::1]:50312` (Redis brackets IPv6 addresses). */
function hostOf(addr: string): string {
  const colon = addr.lastIndexOf(':');
  return colon === -1 ? addr : addr.slice(0, colon);
}

/** What `status` read of a continuous source: each target's WAL listing (or why not), and each database's WAL-index on this host. */
export interface ContinuousRead {
  listings: WalListingLike[];
  unreachable: { target: string; error: string }[];
  /** By database name; undefined: the database cannot be read on this host. */
  wal: Record<string, CommittedWal | undefined>;
}

/** `status --json`'s `sources[].continuous` (docs/cli.md): null for a source that is not continuous. */
export interface ContinuousStatus {
  /** `continuous.alertAfter` (ms). */
  alertAfterMs: number;
  /** Why no target's WAL could be listed; null when one could. */
  error: string | null;
  databases: ContinuousDatabaseStatus[];
}

export interface ContinuousDatabaseStatus {
  database: string;
  /**
   * The newest commit in a stored segment: when the streamer first saw it, how long ago, its
   * generation and segment number. Its age is what a lost disk would cost only while the bot
   * writes; a quiet bot's grows with nothing at risk (see `state`).
   */
  newestShippedCommit: { at: string; ageMs: number; generation: string; seq: number } | null;
  /**
   * The source's newest generation: this database's segments in it, their bytes (one copy), its
   * oldest segment's number (above 1 after prune deleted a prefix) and the first number missing
   * after it (a gap: restore --at stops before it).
   */
  generation: { id: string; segments: number; bytes: number; firstSeq: number | null; firstMissingSeq: number | null } | null;
  /** Whether the database (its WAL-index, read on this host) holds committed frames no segment holds; null when this host cannot tell. */
  unshipped: boolean | null;
  /** See core's ShippingState: none, shipped, recent, behind, old. */
  state: ShippingState;
  /** Set when something needs a look (behind, old, nothing shipped, a gap): one sentence; null otherwise. */
  warning: string | null;
}

/**
 * A continuous source's shipping (pure: `now` passed in), from every target's WAL listing and
 * each database's WAL-index read on this host. A database holding committed frames past the
 * newest segment while the newest shipped commit is older than `continuous.alertAfter` is
 * `behind` (status confirms it by reading again a shipping interval later); without the
 * database on this host an old newest commit is `old`: a quiet bot or a stopped streamer.
 */
export function continuousStatus(source: SourceConfig, read: ContinuousRead, now: number): ContinuousStatus | null {
  if (!source.continuous) return null;
  const alertAfterMs = source.continuous.alertAfterMs;
  const listed = read.listings.length > 0;
  const summaries = summarizeWal(
    read.listings,
    source.databases.map((d) => d.name),
  );
  const databases = summaries.map((summary): ContinuousDatabaseStatus => {
    const wal = read.wal[summary.database];
    const state = judgeShipping({ summary, wal, now, alertAfterMs });
    const g = summary.generation;
    const unshipped = wal && listed ? (hasUnshippedFrames(summary, wal) ?? null) : null;
    return {
      database: summary.database,
      newestShippedCommit: summary.newestCommit
        ? {
            at: new Date(summary.newestCommit.at).toISOString(),
            ageMs: Math.max(0, now - summary.newestCommit.at),
            generation: summary.newestCommit.generation,
            seq: summary.newestCommit.seq,
          }
        : null,
      generation: g ? { id: g.id, segments: g.segments, bytes: g.bytes, firstSeq: g.firstSeq, firstMissingSeq: g.firstMissingSeq } : null,
      unshipped,
      state: listed ? state : 'none',
      // A generation begun, nothing committed since (the WAL-index says so): nothing to warn of.
      warning: listed && !(state === 'none' && g && unshipped === false) ? shippingWarning(state, g?.firstMissingSeq ?? null, alertAfterMs) : null,
    };
  });
  return { alertAfterMs, error: listed ? null : (read.unreachable[0]?.error ?? 'no storage target could be listed'), databases };
}

function shippingWarning(state: ShippingState, firstMissingSeq: number | null, alertAfterMs: number): string | null {
  const bound = formatDuration(alertAfterMs);
  const why =
    state === 'behind'
      ? `committed frames wait unshipped and the newest shipped commit is older than continuous.alertAfter (${bound}): is the streamer running and a target taking its segments?`
      : state === 'old'
        ? `the newest shipped commit is older than continuous.alertAfter (${bound}) and this host cannot read the database to tell a quiet bot (nothing lost) from a stopped streamer`
        : state === 'none'
          ? 'nothing shipped yet: is "botbackup stream" (or a worker for this source) running?'
          : undefined;
  const gap =
    firstMissingSeq !== null ? `segment ${firstMissingSeq} of the newest generation is missing from every target: restore --at cannot go past it` : undefined;
  const parts = [why, gap].filter((p): p is string => p !== undefined);
  return parts.length > 0 ? parts.join('; ') : null;
}
