/**
 * The one module that names things in Redis: the queues of distributed mode and every key
 * botbackup reads or writes under `redis.prefix`, ours and BullMQ's. Nothing else builds a key
 * by hand, so a key's shape is decided once, and the ACL pattern and the SCAN that finds
 * queues agree with what is written.
 *
 * Queue names never hold ":" (a source id cannot), which is what lets a key be split back into
 * prefix, queue and part.
 */

/**
 * Queue names. Backup jobs of a source go to that source's own queue, which only workers that
 * can see the source's files serve; every other job needs only storage access and goes to the
 * shared maintenance queue.
 */
export const queueNames = {
  /** The queue of one source's full and incremental backups. */
  backup(sourceId: string): string {
    return `${BACKUP_QUEUE}${sourceId}`;
  },
  /** verify, prune, replicate and drill jobs, for any worker with storage access. */
  maintenance: 'maintenance',
  /** The source whose backup queue this is, or undefined for any other queue. */
  sourceOf(queue: string): string | undefined {
    return queue.startsWith(BACKUP_QUEUE) ? queue.slice(BACKUP_QUEUE.length) : undefined;
  },
};

const BACKUP_QUEUE = 'backup.';

/**
 * BullMQ's keys of a queue: `<prefix>:<queue>:<part>`, the layout of BullMQ's QueueKeys (the
 * scheduler's test checks that they agree). Botbackup reads and writes them only through BullMQ;
 * they are named here for SCAN-based discovery and for tests that look at what BullMQ stored.
 */
export const queueKeys = {
  /** A key of the queue: `part` is one of BullMQ's (`meta`, `delayed`, `repeat`...) or a job id. */
  of(prefix: string, queue: string, part: string): string {
    return `${prefix}:${queue}:${part}`;
  },
  /** The glob that matches key `part` of every queue under `prefix` (for SCAN MATCH or KEYS). */
  pattern(prefix: string, part: string): string {
    return `${escapeGlob(prefix)}:*:${escapeGlob(part)}`;
  },
  /** The queue a key matched by {@link pattern} belongs to; undefined when it is not a queue's (a job's key, say). */
  queueOf(prefix: string, key: string, part: string): string | undefined {
    const head = `${prefix}:`;
    const tail = `:${part}`;
    if (!key.startsWith(head) || !key.endsWith(tail) || key.length <= head.length + tail.length) return undefined;
    const name = key.slice(head.length, -tail.length);
    return name.includes(':') ? undefined : name;
  },
};

/**
 * Our own keys, beside BullMQ's under the same prefix. Every one of them starts `<prefix>:`, so
 * the ACL rule `~<prefix>:*` of docs/deploy.md covers them.
 */
export const redisKeys = {
  /** The glob of every key under `prefix` (ours and BullMQ's): the ACL key pattern of a botbackup user. */
  all(prefix: string): string {
    return `${escapeGlob(prefix)}:*`;
  },
  /** String: the id of the job that holds a source's lock (worker/source-lock.ts). */
  sourceLock(prefix: string, sourceId: string): string {
    return `${prefix}:lock:source:${sourceId}`;
  },
  /**
   * String `ok` or `failed`: the last outcome of a schedule's jobs, or of the one-off jobs of a
   * type and source (`*` for none), so the next success on any worker can tell it is a recovery.
   */
  health(prefix: string, subject: { scheduleId?: string | undefined; type: string; sourceId?: string | undefined }): string {
    const what = subject.scheduleId !== undefined ? `schedule:${subject.scheduleId}` : `${subject.type}:${subject.sourceId ?? '*'}`;
    return `${prefix}:health:${what}`;
  },
  /** String `ok` or `failed`: whether a source's newest backup was last found too old. */
  staleHealth(prefix: string, sourceId: string): string {
    return `${prefix}:health:stale:${sourceId}`;
  },
  /** A short lock: one worker checks the backups' age per interval. */
  staleCheck(prefix: string): string {
    return `${prefix}:stale-check`;
  },
  /** Set for staleAfter once a source's stale notification went out: one per period. */
  staleNotified(prefix: string, sourceId: string): string {
    return `${prefix}:stale-notified:${sourceId}`;
  },
  /**
   * String, with a TTL: a running worker's heartbeat (core's WorkerHeartbeat, JSON), refreshed
   * while it runs and deleted when it stops. Two segments after the prefix, so that no worker
   * name can make it look like a BullMQ queue's key (queueKeys.queueOf).
   */
  workerHeartbeat(prefix: string, workerName: string): string {
    return `${prefix}:workers:heartbeat:${workerName}`;
  },
  /** The glob of every worker's heartbeat key under `prefix` (for SCAN MATCH). */
  workerHeartbeats(prefix: string): string {
    return `${escapeGlob(prefix)}:workers:heartbeat:*`;
  },
};

/** Redis keys of drill records, beside BullMQ's under the same prefix. */
export const drillKeys = {
  /** Hash: field `<store>/<backupId>` → the newest DrillRecord (JSON) that read that copy. */
  copies(prefix: string, sourceId: string): string {
    return `${prefix}:drills:${sourceId}:copies`;
  },
  /** String: the newest DrillRecord (JSON) of the source. */
  last(prefix: string, sourceId: string): string {
    return `${prefix}:drills:${sourceId}:last`;
  },
  /** A field of the `copies` hash (and the catalog's drill rows): one copy of a backup. */
  field(store: string, backupId: string): string {
    return `${store}/${backupId}`;
  },
};

/** `text` matched literally by a Redis glob (SCAN MATCH, KEYS, ACL key patterns). */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
