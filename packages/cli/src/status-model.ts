import { queueNames, type Config, type DrillCopy } from '@botbackup/core';
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
