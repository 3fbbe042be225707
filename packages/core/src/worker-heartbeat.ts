/**
 * A worker's heartbeat: what a running `botbackup worker` process says of itself in Redis
 * (redisKeys.workerHeartbeat), for the dashboard's Workers panel. Ids, names and times only:
 * nothing secret, no path, no URL. Pure: the worker writes it, the dashboard reads it back with
 * {@link parseWorkerHeartbeat}.
 */
import { isFiniteNumber, isString, parseJsonRecord } from './json-record.js';

/** How often a worker refreshes its heartbeat. */
export const WORKER_HEARTBEAT_INTERVAL_MS = 10_000;

/** How long a heartbeat lives in Redis without a refresh: three intervals, so that one late refresh does not make a worker vanish. */
export const WORKER_HEARTBEAT_TTL_MS = 3 * WORKER_HEARTBEAT_INTERVAL_MS;

/** One worker process, as its heartbeat describes it. */
export interface WorkerHeartbeat {
  /** The name it gives itself in Redis (`worker --name`, default `<hostname>:<pid>`). */
  name: string;
  /** Its host name (os.hostname()). */
  host: string;
  pid: number;
  /** botbackup's version it runs. */
  version: string;
  /** The queues it serves: `backup.<source>` and/or `maintenance`. */
  queues: string[];
  /** The sources whose backups it may make (those of its `backup.<source>` queues). */
  sources: string[];
  /** Jobs it runs at once, across its queues. */
  concurrency: number;
  /** When it started (ISO). */
  startedAt: string;
  /** When it wrote this heartbeat (ISO, its own clock). */
  at: string;
  /** How often it refreshes the heartbeat. */
  intervalMs: number;
}

/**
 * A heartbeat read back from Redis, or undefined when the text is not one (not JSON, or a
 * required field missing or of the wrong type); unknown fields are dropped.
 */
export function parseWorkerHeartbeat(text: string): WorkerHeartbeat | undefined {
  const r = parseJsonRecord(text);
  if (!r) return undefined;
  const str = isString;
  const num = isFiniteNumber;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every(str);
  if (!str(r.name) || !str(r.host) || !num(r.pid) || !str(r.version) || !strings(r.queues) || !strings(r.sources)) return undefined;
  if (!num(r.concurrency) || !num(r.intervalMs) || !str(r.startedAt) || !str(r.at) || Number.isNaN(Date.parse(r.at))) return undefined;
  return {
    name: r.name,
    host: r.host,
    pid: r.pid,
    version: r.version,
    queues: r.queues,
    sources: r.sources,
    concurrency: r.concurrency,
    startedAt: r.startedAt,
    at: r.at,
    intervalMs: r.intervalMs,
  };
}
