import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_TYPES, UsageError, queueFor, queueNames } from '@botbackup/core';
import type { Logger, StreamEvent } from '@botbackup/engine';

/**
 * How a job run by this worker ended: `skipped`, a scheduled backup whose source was busy (it
 * completed without a backup); `delayed`, a one-off backup whose source was busy (tried again
 * in 15 s).
 */
export type JobResultLabel = 'completed' | 'skipped' | 'delayed' | 'failed';

/** What the worker's job slots tell about each job they run (see start-worker.ts). */
export interface JobObserver {
  started(queue: string): void;
  /** `type` is the payload's job type, or `invalid` for a payload that is not a job of the contract. */
  finished(queue: string, type: string, result: JobResultLabel, seconds: number): void;
}

export interface WorkerMetricsOptions {
  host: string;
  /** 0: any free port (the returned URL has the one chosen). */
  port: number;
  /** The queues this worker serves: their series are there, at 0, before their first job. */
  queues: readonly string[];
  /** Undefined while the worker's Redis connection answers, else why not (never a credential): `/healthz` and `botbackup_worker_redis_up`. */
  redisProblem(): Promise<string | undefined>;
  logger: Logger;
  /** The continuous sources this worker streams: their stream series are there, at 0, before their first segment. */
  streams?: readonly StreamedSource[] | undefined;
}

export interface WorkerMetrics extends JobObserver {
  /** `http://<host>:<port>/metrics`. */
  url: string;
  /** What a streamer of this worker reports: pass each of its events here (see {@link StreamMetrics.record}). */
  stream: StreamMetrics;
  close(): Promise<void>;
}

/** A continuous source as the stream metrics need it. */
export interface StreamedSource {
  id: string;
  databases: readonly string[];
  /** `continuous.alertAfter` (ms): how long the oldest unshipped commit had waited when the streamer alerts. */
  alertAfterMs: number;
}

/**
 * The stream series of a worker's metrics, fed by the streamer's events:
 *
 * - `botbackup_stream_last_shipped_commit_timestamp_seconds{source,database}`: when the newest
 *   shipped commit was first seen (Unix seconds); absent until the first segment this process ships;
 * - `botbackup_stream_unshipped_seconds{source,database}`: how long the oldest committed but
 *   unshipped commit has waited; 0 while the streamer ships;
 * - `botbackup_stream_segments_total{source,database}`: segments shipped (on at least one target).
 *
 * The streamer's events say when a segment is shipped and, once, when commits have waited
 * unshipped longer than `continuous.alertAfter` (its `alert`, a source's `stale` notification),
 * not each second that they wait: so the unshipped gauge stays 0 for that bound and then reads the
 * true wait (the bound plus the time since the alert) until the database ships again.
 */
export interface StreamMetrics {
  /** Creates a source's series (segments at 0, unshipped at 0) before its first event. */
  track(source: StreamedSource): void;
  /** Records one event of `sourceId`'s streamer (`now`: ms since the epoch, for tests). */
  record(sourceId: string, event: StreamEvent, now?: number): void;
}

/** Job durations: from a verify of a small bot (under a second) to a full backup of a large one (an hour or more). */
const DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const RESULTS: readonly JobResultLabel[] = ['completed', 'skipped', 'delayed', 'failed'];

/**
 * Serves this worker's Prometheus metrics at `GET /metrics` (prom-client's text) and its health
 * at `GET /healthz` (200 `{"ok":true}` while Redis answers, else 503 with why), on a plain
 * node:http server: jobs run by this process by queue, type and result, their durations, the
 * jobs running now, whether Redis answers, and Node's default process metrics under their usual
 * names (`process_cpu_seconds_total`...). No credentials: it listens on loopback by default and
 * shows no secret (queue names and job types only). A port in use is a {@link UsageError}.
 */
export async function startWorkerMetrics(options: WorkerMetricsOptions): Promise<WorkerMetrics> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['queue', 'type', 'result'] as const;
  const jobs = new Counter({
    name: 'botbackup_worker_jobs_total',
    help: 'Jobs this worker ran, by queue, job type and result (completed; skipped or delayed: its source was busy; failed). Each attempt counts..',
    labelNames,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'botbackup_worker_job_duration_seconds',
    help: 'How long the jobs this worker ran took, by queue, job type and result.',
    labelNames,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const running = new Gauge({
    name: 'botbackup_worker_jobs_running',
    help: 'Jobs this worker is running now, by queue.',
    labelNames: ['queue'],
    registers: [registry],
  });
  new Gauge({
    name: 'botbackup_worker_redis_up',
    help: "Whether the worker's Redis connection answers a PING (1) or not (0), at scrape time.",
    registers: [registry],
    async collect() {
      this.set((await options.redisProblem()) === undefined ? 1 : 0);
    },
  });
  const stream = createStreamMetrics(registry);
  for (const source of options.streams ?? []) stream.track(source);
  // Every series a queue can have, at 0 from the start: a rate or an increase over the first
  // failure of a type then sees it (a series that appears at 1 has no increase).
  for (const queue of options.queues) {
    running.set({ queue }, 0);
    for (const type of JOB_TYPES.filter((t) => queueFor(t, queueNames.sourceOf(queue) ?? '') === queue)) {
      for (const result of RESULTS) jobs.inc({ queue, type, result }, 0);
    }
  }
  const server = http.createServer((request, response) => void answer(request, response, registry, options));
  const url = await listen(server, options.host, options.port);
  options.logger.info({ url }, 'worker metrics served');
  return {
    url,
    stream,
    started: (queue) => running.inc({ queue }),
    finished(queue, type, result, seconds) {
      running.dec({ queue });
      jobs.inc({ queue, type, result });
      durations.observe({ queue, type, result }, seconds);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The stream series (see {@link StreamMetrics}) in `registry`. */
export function createStreamMetrics(registry: Registry): StreamMetrics {
  const labelNames = ['source', 'database'] as const;
  const lastShipped = new Gauge({
    name: 'botbackup_stream_last_shipped_commit_timestamp_seconds',
    help: 'When the newest commit this worker shipped was first seen (Unix time), by source and database. Its age is what a lost disk would cost only while the bot writes: a quiet bot ships nothing and loses nothing.',
    labelNames,
    registers: [registry],
  });
  const segments = new Counter({
    name: 'botbackup_stream_segments_total',
    help: 'WAL segments this worker shipped (to at least one target), by source and database.',
    labelNames,
    registers: [registry],
  });
  const sources = new Map<string, { alertAfterMs: number; databases: Set<string> }>();
  /** `source\0database` -> since when (ms) its oldest unshipped commit has waited. */
  const waiting = new Map<string, number>();
  const key = (source: string, database: string) => `${source}\0${database}`;
  const sourceOf = (id: string) => {
    const known = sources.get(id) ?? { alertAfterMs: 0, databases: new Set<string>() };
    sources.set(id, known);
    return known;
  };
  new Gauge({
    name: 'botbackup_stream_unshipped_seconds',
    help: 'How long the oldest committed but unshipped commit has waited, by source and database: 0 while shipping, and from the streamer alert on (continuous.alertAfter) the true wait.',
    labelNames,
    registers: [registry],
    collect() {
      const now = Date.now();
      for (const [id, source] of sources) {
        for (const database of source.databases) {
          const since = waiting.get(key(id, database));
          this.set({ source: id, database }, since === undefined ? 0 : Math.max(0, now - since) / 1000);
        }
      }
    },
  });
  return {
    track(source) {
      const known = sourceOf(source.id);
      known.alertAfterMs = source.alertAfterMs;
      for (const database of source.databases) {
        known.databases.add(database);
        segments.inc({ source: source.id, database }, 0);
      }
    },
    record(sourceId, event, now = Date.now()) {
      const source = sourceOf(sourceId);
      switch (event.type) {
        case 'shipped':
          source.databases.add(event.database);
          segments.inc({ source: sourceId, database: event.database });
          lastShipped.set({ source: sourceId, database: event.database }, event.lastCommitAt / 1000);
          waiting.delete(key(sourceId, event.database));
          return;
        case 'alert':
          // The streamer alerts once, when the oldest unshipped commit has waited the bound (it
          // checks each shipping interval): that commit was first seen then.
          for (const database of source.databases) if (!waiting.has(key(sourceId, database))) waiting.set(key(sourceId, database), now - source.alertAfterMs);
          return;
        case 'recovered':
          for (const database of source.databases) waiting.delete(key(sourceId, database));
          return;
        default:
          return;
      }
    },
  };
}

/** Listens, and returns the metrics URL; a port in use or an address that is not this host's is a UsageError naming it. */
async function listen(server: http.Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'EADDRINUSE' ? 'the port is in use' : error.code === 'EADDRNOTAVAIL' ? 'no interface has that address' : (error.code ?? error.message);
      reject(new UsageError(`The worker cannot serve its metrics on ${host}:${port} (${why}); choose another --metrics-port or worker.metrics.port.`));
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/metrics`;
}

/** GET (or HEAD) /metrics and /healthz; 404 for any other path, 405 for any other method. */
async function answer(request: http.IncomingMessage, response: http.ServerResponse, registry: Registry, options: WorkerMetricsOptions): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  try {
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'Only GET and HEAD.\n', { Allow: 'GET, HEAD' });
    if (path === '/metrics') return send(200, registry.contentType, await registry.metrics());
    if (path === '/healthz') {
      const problem = await options.redisProblem();
      return send(
        problem === undefined ? 200 : 503,
        'application/json; charset=utf-8',
        JSON.stringify(problem === undefined ? { ok: true } : { ok: false, error: problem }),
      );
    }
    send(404, 'text/plain; charset=utf-8', 'Not found: this server answers GET /metrics and GET /healthz.\n');
  } catch (error) {
    options.logger.warn({ err: (error as Error).message }, 'worker metrics: could not answer a request');
    if (!response.headersSent) send(500, 'text/plain; charset=utf-8', 'The metrics could not be collected; see the worker log.\n');
  }
}
