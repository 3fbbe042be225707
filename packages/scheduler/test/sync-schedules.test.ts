import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUnavailableError, parseConfig, queueKeys, queueNames, redisOptionsFromUrl, type Config } from '@botbackup/core';
import { closedPort, eventually, startRedis, until, type PrivateRedis } from '../../../test/helpers/redis.js';
import { runScheduler, scanQueueNames, syncSchedules, type SchedulerLogger, type SyncSchedulesResult } from '../src/index.js';

let redis: PrivateRedis;
let client: Redis;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  await client?.quit();
  await redis?.stop();
});

/** A fresh key prefix per test (as BullMQ's own tests use fresh queue names). */
const newPrefix = () => `bbt-${randomBytes(4).toString('hex')}`;

/** A config with sources `a` and `b` (or those given) and these schedule lines (YAML list items). */
function makeConfig(prefix: string, schedules: string[], options: { url?: string; sources?: string[]; worker?: string } = {}): Config {
  const sources = options.sources ?? ['a', 'b'];
  const text = `version: 1
sources:
${sources.map((id) => `  - { id: ${id}, root: /bots/${id} }`).join('\n')}
storage:
  - { name: local, type: local, path: /backups }
redis: { url: "${options.url ?? redis.url}", prefix: ${prefix} }
schedules:
${schedules.map((s) => `  - ${s}`).join('\n') || '  []'}
${options.worker ?? ''}`;
  return parseConfig(text, { file: 'botbackup.yaml', env: {} });
}

const sync = (config: Config) => syncSchedules({ config, connection: redisOptionsFromUrl(config.redis!.url) });

/** Every job scheduler under the prefix, by queue (queues scanned from Redis, as the scheduler does). */
async function schedulersIn(prefix: string): Promise<Record<string, Awaited<ReturnType<Queue['getJobSchedulers']>>>> {
  // BullMQ's `:repeat` set of a queue goes once it holds no scheduler: only queues that hold some are listed.
  const keys = await client.keys(queueKeys.pattern(prefix, 'repeat'));
  const out: Record<string, Awaited<ReturnType<Queue['getJobSchedulers']>>> = {};
  for (const key of keys.sort()) {
    const name = queueKeys.queueOf(prefix, key, 'repeat')!;
    const queue = new Queue(name, { connection: client, prefix });
    out[name] = (await queue.getJobSchedulers()).sort((x, y) => x.key.localeCompare(y.key));
    await queue.close();
  }
  return out;
}

async function idsByQueue(prefix: string): Promise<Record<string, string[]>> {
  return Object.fromEntries(Object.entries(await schedulersIn(prefix)).map(([q, list]) => [q, list.map((s) => s.key)]));
}

const daily = '{ id: daily-a, source: a, job: incremental, cron: "0 2 * * *" }';
const weekly = '{ id: weekly-a, source: a, job: full, cron: "0 3 * * 0", timezone: Europe/Berlin }';
const verifyB = '{ id: verify-b, source: b, job: verify, cron: "0 5 * * *" }';
const replicateAll = '{ id: replicate, job: replicate, cron: "30 4 * * *" }';
const disabled = '{ id: off-b, source: b, job: full, cron: "0 1 * * *", enabled: false }';

describe('syncSchedules', () => {
  it('adds every enabled schedule as a job scheduler in its queue, with a payload of ids and the worker options', async () => {
    const prefix = newPrefix();
    const result = await sync(
      makeConfig(prefix, [daily, weekly, verifyB, replicateAll, disabled], { worker: 'worker: { attempts: 5, keepCompleted: { count: 10, age: 1d } }' }),
    );
    expect(result).toEqual({ added: ['daily-a', 'replicate', 'verify-b', 'weekly-a'], updated: [], removed: [], unchanged: [] });
    const all = await schedulersIn(prefix);
    expect(Object.keys(all)).toEqual(['backup.a', 'maintenance']);
    expect(all['backup.a']!.map((s) => s.key)).toEqual(['daily-a', 'weekly-a']);
    expect(all['maintenance']!.map((s) => s.key)).toEqual(['replicate', 'verify-b']);
    const weeklyA = all['backup.a']!.find((s) => s.key === 'weekly-a')!;
    expect(weeklyA).toMatchObject({ name: 'full:a', pattern: '0 3 * * 0', tz: 'Europe/Berlin' });
    expect(weeklyA.template?.data).toEqual({ type: 'full', sourceId: 'a', scheduleId: 'weekly-a' });
    expect(weeklyA.template?.opts).toEqual({
      attempts: 5,
      backoff: { type: 'exponential', delay: 10_000 },
      removeOnComplete: { age: 86_400, count: 10 },
      removeOnFail: { age: 30 * 86_400, count: 5000 },
    });
    // A replicate schedule without a source: no sourceId at all, and the job is named by its type.
    const replicate = all['maintenance']!.find((s) => s.key === 'replicate')!;
    expect(replicate).toMatchObject({ name: 'replicate', tz: 'UTC' });
    expect(replicate.template?.data).toEqual({ type: 'replicate', scheduleId: 'replicate' });
    // Each scheduler has produced its next job, delayed until its next run.
    expect(await client.zcard(queueKeys.of(prefix, queueNames.backup('a'), 'delayed'))).toBe(2);
  });

  it('updates a changed cron, zone or option and leaves unchanged ones alone, with their next run and job as they were', async () => {
    const prefix = newPrefix();
    await sync(makeConfig(prefix, [daily, weekly, verifyB]));
    const before = await schedulersIn(prefix);
    const delayedBefore = await client.zrange(queueKeys.of(prefix, queueNames.maintenance, 'delayed'), 0, -1, 'WITHSCORES');
    const changedCron = '{ id: daily-a, source: a, job: incremental, cron: "15 2 * * *" }';
    const changedZone = '{ id: weekly-a, source: a, job: full, cron: "0 3 * * 0", timezone: America/New_York }';
    const result = await sync(makeConfig(prefix, [changedCron, changedZone, verifyB]));
    expect(result).toEqual({ added: [], updated: ['daily-a', 'weekly-a'], removed: [], unchanged: ['verify-b'] });
    const after = await schedulersIn(prefix);
    expect(after['backup.a']!.map((s) => [s.key, s.pattern, s.tz])).toEqual([
      ['daily-a', '15 2 * * *', 'UTC'],
      ['weekly-a', '0 3 * * 0', 'America/New_York'],
    ]);
    expect(after['backup.a']![0]!.next).not.toBe(before['backup.a']![0]!.next);
    // The unchanged one was not touched: same next run, same delayed job.
    expect(after['maintenance']).toEqual(before['maintenance']);
    expect(await client.zrange(queueKeys.of(prefix, queueNames.maintenance, 'delayed'), 0, -1, 'WITHSCORES')).toEqual(delayedBefore);
    // Upserting replaced each changed scheduler's delayed job: one per scheduler, none left over.
    expect(await client.zcard(queueKeys.of(prefix, queueNames.backup('a'), 'delayed'))).toBe(2);

    // A changed worker option (attempts) is a change of the job template too.
    const again = await sync(makeConfig(prefix, [changedCron, changedZone, verifyB], { worker: 'worker: { attempts: 7 }' }));
    expect(again).toEqual({ added: [], updated: ['daily-a', 'verify-b', 'weekly-a'], removed: [], unchanged: [] });
    expect(await sync(makeConfig(prefix, [changedCron, changedZone, verifyB], { worker: 'worker: { attempts: 7 }' }))).toEqual({
      added: [],
      updated: [],
      removed: [],
      unchanged: ['daily-a', 'verify-b', 'weekly-a'],
    });
  });

  it('removes deleted and disabled schedules, and moves one whose job type sends it to another queue', async () => {
    const prefix = newPrefix();
    await sync(makeConfig(prefix, [daily, weekly, verifyB, replicateAll]));
    const weeklyDisabled = '{ id: weekly-a, source: a, job: full, cron: "0 3 * * 0", timezone: Europe/Berlin, enabled: false }';
    // daily-a's job moves from incremental (queue backup.a) to verify (queue maintenance).
    const dailyVerify = '{ id: daily-a, source: a, job: verify, cron: "0 2 * * *" }';
    const result = await sync(makeConfig(prefix, [dailyVerify, weeklyDisabled, verifyB]));
    expect(result).toEqual({ added: [], updated: ['daily-a'], removed: ['replicate', 'weekly-a'], unchanged: ['verify-b'] });
    expect(await idsByQueue(prefix)).toEqual({ maintenance: ['daily-a', 'verify-b'] });
    // No job of a removed scheduler stays behind: the only delayed jobs are the two schedulers' next ones.
    expect(await client.exists(queueKeys.of(prefix, queueNames.backup('a'), 'delayed'))).toBe(0);
    expect(await client.zcard(queueKeys.of(prefix, queueNames.maintenance, 'delayed'))).toBe(2);
    const moved = (await schedulersIn(prefix))['maintenance']!.find((s) => s.key === 'daily-a')!;
    expect(moved).toMatchObject({ name: 'verify:a', template: { data: { type: 'verify', sourceId: 'a', scheduleId: 'daily-a' } } });
  });

  it('removes the schedulers of a source that is no longer configured, found by scanning Redis', async () => {
    const prefix = newPrefix();
    const fullB = '{ id: full-b, source: b, job: full, cron: "0 4 * * *" }';
    await sync(makeConfig(prefix, [daily, fullB]));
    expect(await idsByQueue(prefix)).toEqual({ 'backup.a': ['daily-a'], 'backup.b': ['full-b'] });
    // Source b is gone from the config, and with it every mention of queue backup.b.
    const result = await sync(makeConfig(prefix, [daily], { sources: ['a'] }));
    expect(result).toEqual({ added: [], updated: [], removed: ['full-b'], unchanged: ['daily-a'] });
    expect(await idsByQueue(prefix)).toEqual({ 'backup.a': ['daily-a'] });
    // No schedules at all: everything under the prefix goes.
    expect(await sync(makeConfig(prefix, [], { sources: ['a'] }))).toEqual({ added: [], updated: [], removed: ['daily-a'], unchanged: [] });
    expect(await idsByQueue(prefix)).toEqual({});
  });

  it("names BullMQ's keys as BullMQ does, and finds by their meta hash queues that hold schedulers, not only the config's", async () => {
    const prefix = newPrefix();
    const queue = new Queue(queueNames.backup('gone'), { connection: client, prefix });
    for (const part of ['meta', 'repeat', 'delayed', 'job-7']) expect(queueKeys.of(prefix, queue.name, part)).toBe(queue.toKey(part));
    // A scheduler of a queue no config names (as if another process made it); BullMQ's own
    // script writes the queue's meta hash with it, whatever the Queue's options.
    const other = new Queue('maintenance-old', { connection: client, prefix, skipMetasUpdate: true });
    await other.upsertJobScheduler('old', { pattern: '0 1 * * *' }, { name: 'verify:a', data: { type: 'verify', sourceId: 'a' } });
    await queue.upsertJobScheduler('gone-full', { pattern: '0 2 * * *' }, { name: 'full:gone', data: { type: 'full', sourceId: 'gone' } });
    expect((await scanQueueNames(client, prefix)).sort()).toEqual(['backup.gone', 'maintenance-old']);
    expect(await sync(makeConfig(prefix, []))).toEqual({ added: [], updated: [], removed: ['gone-full', 'old'], unchanged: [] });
    expect(await idsByQueue(prefix)).toEqual({});
    await Promise.all([queue.close(), other.close()]);
  });

  it("leaves another prefix's job schedulers alone", async () => {
    const mine = newPrefix();
    const theirs = newPrefix();
    await sync(makeConfig(theirs, [daily, verifyB]));
    await sync(makeConfig(mine, [weekly]));
    await sync(makeConfig(mine, []));
    expect(await idsByQueue(theirs)).toEqual({ 'backup.a': ['daily-a'], maintenance: ['verify-b'] });
    expect(await idsByQueue(mine)).toEqual({});
  });

  it('concurrent syncs leave exactly one job scheduler, and one next job, per schedule', async () => {
    const prefix = newPrefix();
    const config = makeConfig(prefix, [daily, weekly, verifyB, replicateAll, disabled]);
    const results = await Promise.all(Array.from({ length: 4 }, () => sync(config)));
    // Whoever came first added them; the others found them or upserted the same thing again.
    for (const r of results) expect(r.removed).toEqual([]);
    expect(await idsByQueue(prefix)).toEqual({ 'backup.a': ['daily-a', 'weekly-a'], maintenance: ['replicate', 'verify-b'] });
    expect(await client.zcard(queueKeys.of(prefix, queueNames.backup('a'), 'delayed'))).toBe(2);
    expect(await client.zcard(queueKeys.of(prefix, queueNames.maintenance, 'delayed'))).toBe(2);
    // And concurrent syncs of a changed config converge too.
    const changed = makeConfig(prefix, ['{ id: daily-a, source: a, job: verify, cron: "0 2 * * *" }', verifyB]);
    await Promise.all(Array.from({ length: 4 }, () => sync(changed)));
    expect(await idsByQueue(prefix)).toEqual({ maintenance: ['daily-a', 'verify-b'] });
    expect(await client.zcard(queueKeys.of(prefix, queueNames.maintenance, 'delayed'))).toBe(2);
  });

  it('fails fast when Redis is down, in one sentence that names the URL without its password', async () => {
    const port = await closedPort();
    const config = makeConfig(newPrefix(), [daily], { url: `redis://botbackup:s3cret-pw@127.0.0.1:${port}/0` });
    const started = Date.now();
    const error = await sync(config).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    const message = (error as Error).message;
    expect(message).toBe(
      `Cannot reach Redis at redis://botbackup:***@127.0.0.1:${port}/0 to connect (ECONNREFUSED); check redis.url and that the server is running.`,
    );
    expect(message).not.toContain('s3cret');
  });

  it('says the login was refused for a wrong password, without the password', async () => {
    const locked = await startRedis({ password: 'right-pw' });
    try {
      const url = locked.url.replace('right-pw', 'wrong-pw');
      const error = await sync(makeConfig(newPrefix(), [daily], { url })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(/^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the login \(WRONGPASS/);
      expect((error as Error).message).not.toContain('wrong-pw');
      // The right one works (the URL form ":password@" is understood).
      expect((await sync(makeConfig(newPrefix(), [daily], { url: locked.url }))).added).toEqual(['daily-a']);
    } finally {
      await locked.stop();
    }
  });

  it('an aborted signal stops it before it changes anything', async () => {
    const prefix = newPrefix();
    const config = makeConfig(prefix, [daily]);
    const error = await syncSchedules({ config, connection: redisOptionsFromUrl(config.redis!.url), signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortedError');
    expect(await idsByQueue(prefix)).toEqual({});
  });
});

describe('runScheduler', () => {
  it('survives a Redis restart, then puts back the job schedulers Redis lost, and stops when the signal aborts', async () => {
    // Its own Redis, as it is killed and restarted.
    const own = await startRedis();
    const ownClient = new Redis(own.url, { lazyConnect: true, maxRetriesPerRequest: null });
    ownClient.on('error', () => {});
    try {
      const prefix = newPrefix();
      const config = makeConfig(prefix, [daily, verifyB], { url: own.url });
      const syncs: SyncSchedulesResult[] = [];
      const warnings: string[] = [];
      const logger: SchedulerLogger = { info() {}, warn: (_obj, msg) => warnings.push(msg ?? '') };
      const abort = new AbortController();
      const running = runScheduler({
        config,
        connection: redisOptionsFromUrl(own.url),
        logger,
        signal: abort.signal,
        intervalMs: 100,
        onSync: (r) => syncs.push(r),
      });
      await until(() => syncs.length >= 1);
      expect(syncs[0]).toMatchObject({ added: ['daily-a', 'verify-b'] });

      await own.kill();
      const failedBefore = warnings.length;
      await until(() => warnings.filter((w) => w.startsWith('could not sync')).length >= failedBefore + 2);
      const syncsWhileDown = syncs.length;

      await own.restart();
      // Redis came back without the schedulers (as after a restart without persistence).
      await ownClient.connect();
      await ownClient.flushall();
      // The scheduler may sync once between the restart and the flush (its result then also
      // adds both), so wait for Redis itself to hold both schedulers again after the flush.
      const held = await eventually(
        async () => [
          await ownClient.zrange(queueKeys.of(prefix, queueNames.backup('a'), 'repeat'), 0, -1),
          await ownClient.zrange(queueKeys.of(prefix, queueNames.maintenance, 'repeat'), 0, -1),
        ],
        ([a, b]) => a!.length > 0 && b!.length > 0,
      );
      expect(held).toEqual([['daily-a'], ['verify-b']]);
      expect(syncs.length).toBeGreaterThan(syncsWhileDown);
      expect(warnings.some((w) => w.startsWith('job schedulers were missing from Redis'))).toBe(true);

      abort.abort();
      await expect(running).resolves.toBeUndefined();
      // Every connection it opened is closed: only ours is left (Redis drops a closed client
      // from CLIENT LIST a moment after the client has gone, so poll for it).
      const clients = await eventually(
        async () =>
          String(await ownClient.client('LIST'))
            .trim()
            .split('\n'),
        (list) => list.length === 1,
      );
      expect(clients).toHaveLength(1);
    } finally {
      ownClient.disconnect();
      await own.stop();
    }
  });
});
