import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { DEFAULT_WORKER, jobOptions, queueNames, redisOptionsFromUrl, type JobPayload } from '@botbackup/core';
import { parseWorkerKey } from '@botbackup/engine';
import { startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { cliBin, createBot, listFiles, makeKeys, runCli, sha256File, useTempDir, writeConfig, type CliResult, type TestKeys } from './helpers/bot.js';
import { closedPort, startRedis, type PrivateRedis } from './helpers/redis.js';

/**
 * Issue 7: plant known secrets in the example bot and in the operational config (S3 secret key,
 * Redis password, webhook token and header, dashboard credentials, the identity and worker key),
 * run the end-to-end scenarios through the real CLI and processes (with --debug: the most
 * logging), then scan every output line, Redis key and value, stored object (plaintext manifests
 * and encrypted archives, on local disk and in S3) and the catalog for those secrets and their
 * common encodings. Nothing may be found.
 */

/** A random secret that looks like a real one (letters and digits, no characters that need escaping anywhere). */
function secret(length = 32): string {
  let out = '';
  while (out.length < length)
    out += randomBytes(48)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, '');
  return out.slice(0, length);
}

/** One searched byte string: which secret, in which encoding. */
interface Needle {
  secret: string;
  encoding: string;
  bytes: Buffer;
}

/** A piece of collected output or storage: where it came from, and its bytes. */
interface Sample {
  where: string;
  data: Buffer;
}

/**
 * base64 of `value` as it appears inside the base64 of a longer text, at each of the 3 byte
 * alignments: the characters that depend on `value`'s bytes alone.
 */
function base64Forms(value: Buffer, url: boolean): string[] {
  const forms: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), value]).toString(url ? 'base64url' : 'base64');
    const start = shift === 0 ? 0 : 4;
    const end = Math.floor((shift + value.length) / 3) * 4;
    if (end - start >= 8) forms.push(encoded.slice(start, end));
  }
  return forms;
}

/** The needles of one secret value: raw, base64 and base64url (every alignment), hex lower and upper. */
function needlesOf(name: string, value: string | Buffer): Needle[] {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const out: Needle[] = [{ secret: name, encoding: 'raw', bytes }];
  base64Forms(bytes, false).forEach((form, i) => out.push({ secret: name, encoding: `base64 (alignment ${i})`, bytes: Buffer.from(form) }));
  base64Forms(bytes, true).forEach((form, i) => out.push({ secret: name, encoding: `base64url (alignment ${i})`, bytes: Buffer.from(form) }));
  out.push({ secret: name, encoding: 'hex', bytes: Buffer.from(bytes.toString('hex')) });
  out.push({ secret: name, encoding: 'HEX', bytes: Buffer.from(bytes.toString('hex').toUpperCase()) });
  return out;
}

/** The needles of a secret file's content: its plain sha256 (hex, HEX, base64), which would let anyone confirm a guess. */
function hashNeedlesOf(name: string, content: Buffer): Needle[] {
  const digest = createHash('sha256').update(content).digest();
  return [
    { secret: name, encoding: 'sha256 hex', bytes: Buffer.from(digest.toString('hex')) },
    { secret: name, encoding: 'sha256 HEX', bytes: Buffer.from(digest.toString('hex').toUpperCase()) },
    { secret: name, encoding: 'sha256 base64', bytes: Buffer.from(digest.toString('base64')) },
    { secret: name, encoding: 'sha256 raw', bytes: digest },
  ];
}

/** Every needle found in every sample, as readable lines. */
function scan(samples: Sample[], needles: Needle[]): string[] {
  const hits: string[] = [];
  for (const sample of samples) {
    for (const needle of needles) {
      const at = sample.data.indexOf(needle.bytes);
      if (at < 0) continue;
      const context = sample.data
        .subarray(Math.max(0, at - 60), at + needle.bytes.length + 20)
        .toString('utf8')
        .replace(/[^\x20-\x7e]/g, '.');
      hits.push(`${needle.secret} (${needle.encoding}) in ${sample.where} at byte ${at}: …${context}…`);
    }
  }
  return hits;
}

/** The 32 key bytes of an AGE-SECRET-KEY-1… identity (bech32). */
function ageSecretBytes(identity: string): Buffer {
  const charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
  const data = identity.toLowerCase().slice(identity.lastIndexOf('1') + 1, -6);
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  for (const c of data) {
    acc = (acc << 5) | charset.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** A long-running `botbackup` process (worker, dashboard) whose output is all kept. */
interface LongProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first stderr or stdout line that matches. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

function startProcess(args: string[], env: Record<string, string>): LongProcess {
  const child = spawn(process.execPath, [cliBin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const lines: string[] = [];
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of waiters.splice(0)) {
      if (w.match(line)) w.resolve(line);
      else waiters.push(w);
    }
  };
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor: (match, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const seen = lines.find(match);
        if (seen !== undefined) return resolve(seen);
        const timer = setTimeout(() => reject(new Error(`timed out waiting for a line of botbackup ${args.join(' ')}:\n${stderr}`)), timeoutMs);
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => reject(new Error(`botbackup ${args.join(' ')} exited (${code}) before the awaited line:\n${stderr}`)));
      }),
  };
}

async function stopProcess(p: LongProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  await p.exited;
  clearTimeout(timer);
}

/** Every key of the Redis database and its value(s), read by type. */
async function dumpRedis(url: string): Promise<{ samples: Sample[]; types: Map<string, string> }> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  try {
    let cursor = '0';
    const keys: string[] = [];
    do {
      const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    for (const key of new Set(keys)) {
      const type = await client.type(key);
      types.set(key, type);
      let value: unknown;
      switch (type) {
        case 'string':
          value = await client.getBuffer(key);
          break;
        case 'hash':
          value = await client.hgetall(key);
          break;
        case 'list':
          value = await client.lrange(key, 0, -1);
          break;
        case 'zset':
          value = await client.zrange(key, 0, -1, 'WITHSCORES');
          break;
        case 'set':
          value = await client.smembers(key);
          break;
        case 'stream':
          value = await client.xrange(key, '-', '+');
          break;
        default:
          value = `(type ${type})`;
      }
      // Raw bytes, fields and values one per line (JSON.stringify would escape them).
      const flat = (v: unknown): string[] =>
        Array.isArray(v) ? v.flatMap(flat) : v !== null && typeof v === 'object' ? Object.entries(v).flat().flatMap(flat) : [String(v)];
      const data = Buffer.isBuffer(value) ? value : Buffer.from(flat(value).join('\n'));
      samples.push({ where: `redis key ${JSON.stringify(key)} (${type})`, data: Buffer.concat([Buffer.from(`${key}\n`), data]) });
    }
  } finally {
    client.disconnect();
  }
  return { samples, types };
}

/** Every file under `dir` (recursively), one sample each. */
async function filesOf(dir: string, label: string): Promise<Sample[]> {
  const out: Sample[] = [];
  for (const rel of await listFiles(dir).catch(() => [] as string[])) {
    out.push({ where: `${label}/${rel}`, data: await fs.readFile(path.join(dir, rel)) });
  }
  return out;
}

describe('secret scan (issue 7): no planted secret reaches logs, Redis, stored objects or the catalog', () => {
  const tmp = useTempDir('all');
  let s3: S3rver;
  let redis: PrivateRedis;
  const running: LongProcess[] = [];

  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => {
    for (const p of running) await stopProcess(p).catch(() => undefined);
    await redis?.stop();
    await s3?.stop();
  });

  it('the scanner finds a secret in every encoding it looks for, at any alignment (positive control)', () => {
    const value = secret();
    const needles = needlesOf('control', value);
    const embedded = (prefix: string) => Buffer.from(`${prefix}${value}; tail`);
    for (const prefix of ['', 'a', 'ab', 'KEY=']) {
      expect(scan([{ where: 'base64', data: Buffer.from(embedded(prefix).toString('base64')) }], needles)).not.toEqual([]);
      expect(scan([{ where: 'base64url', data: Buffer.from(embedded(prefix).toString('base64url')) }], needles)).not.toEqual([]);
    }
    expect(scan([{ where: 'hex', data: Buffer.from(`x${Buffer.from(value).toString('hex').toUpperCase()}y`) }], needles)).toHaveLength(1);
    expect(scan([{ where: 'log', data: Buffer.from(`{"msg":"oops ${value}"}`) }], needles)).toHaveLength(1);
    const file = Buffer.from(`K=${value}\n`);
    expect(
      scan([{ where: 'manifest', data: Buffer.from(`"sha256":"${createHash('sha256').update(file).digest('hex')}"`) }], hashNeedlesOf('file', file)),
    ).toHaveLength(1);
    expect(scan([{ where: 'clean', data: Buffer.from(`nothing ${secret()} here`) }], needles)).toEqual([]);
    expect(ageSecretBytes('AGE-SECRET-KEY-1' + 'Q'.repeat(52) + 'ABCDEF')).toHaveLength(32);
  });

  it('backup, incremental, list, show, verify, restore, history, diff, failures, worker jobs, status, jobs and the dashboard leak nothing', async () => {
    const dir = tmp.dir;
    const root = path.join(dir, 'bot');
    await createBot(root, { deals: 500 });
    const repo = path.join(dir, 'repo');
    const catalog = path.join(dir, 'catalog.sqlite');
    const keys: TestKeys = await makeKeys(dir);
    const wrongKeys = await makeKeys(dir, 'wrong-keys');

    // The operational secrets.
    const S = {
      s3Secret: secret(40),
      redisPassword: secret(),
      hookToken: secret(),
      hookBearer: secret(),
      dashboardToken: secret(),
      dashboardPassword: secret(20),
      badConfigToken: secret(12),
    };
    redis = await startRedis({ password: S.redisPassword });
    const hookPort = await closedPort();
    const bucket = await s3.newBucket();

    // The bot's secrets, version 1 (before the incremental) and 2 (after).
    const bot = {
      envKey1: secret(),
      envSecret1: secret(48),
      envKey2: secret(),
      envSecret2: secret(48),
      keyFile1: secret(64),
      keyFile2: secret(64),
      jsonSecret1: secret(),
      jsonSecret2: secret(),
    };
    const secretFiles: { name: string; content: Buffer }[] = [];
    const hashedFiles: { name: string; content: Buffer }[] = [];
    const plant = async (version: 1 | 2) => {
      const env = Buffer.from(
        `# exchange credentials\nBINANCE_API_KEY=${version === 1 ? bot.envKey1 : bot.envKey2}\nBINANCE_API_SECRET=${version === 1 ? bot.envSecret1 : bot.envSecret2}\n`,
      );
      const key = Buffer.from(`-----BEGIN PRIVATE KEY-----\n${version === 1 ? bot.keyFile1 : bot.keyFile2}\n-----END PRIVATE KEY-----\n`);
      await fs.writeFile(path.join(root, '.env'), env);
      await fs.writeFile(path.join(root, 'keys/binance.key'), key);
      const json = Buffer.from(
        `${JSON.stringify({ exchange: 'binance', symbols: ['BTCUSDT'], risk: version === 1 ? 0.01 : 0.02, apiSecret: version === 1 ? bot.jsonSecret1 : bot.jsonSecret2 }, null, 2)}\n`,
      );
      await fs.writeFile(path.join(root, 'config/bot.json'), json);
      secretFiles.push({ name: `.env v${version}`, content: env }, { name: `keys/binance.key v${version}`, content: key });
      // A settings file with a secret in it: in an encrypted repository its hash is keyed too.
      hashedFiles.push({ name: `config/bot.json v${version}`, content: json });
    };
    await plant(1);

    const redisUrl = `redis://:${S.redisPassword}@127.0.0.1:${redis.port}/0`;
    const extra = [
      `catalog: ${JSON.stringify(catalog)}`,
      'minCopies: 1',
      `redis: { url: "${redisUrl}", prefix: sec }`,
      'worker: { sources: [testbot], attempts: 1, lockDuration: 5s, stalledInterval: 2s }',
      `notify: { webhook: "http://127.0.0.1:${hookPort}/hook/\${HOOK_TOKEN}", headers: { Authorization: "Bearer \${HOOK_BEARER}" }, staleAfter: 1s }`,
      'dashboard: { token: "${DASHBOARD_TOKEN}", basic: { user: ops, password: "${DASHBOARD_PASSWORD}" } }',
      'schedules:',
      '  - { id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }',
      '  - { id: drill-now, source: testbot, job: drill, cron: "0 3 * * *" }',
      '',
    ].join('\n');
    const withS3 = async (file: string) => {
      const text = (await fs.readFile(file, 'utf8')).replace(
        /^compression:/m,
        `  - { name: s3, type: s3, bucket: ${bucket}, prefix: bots/prod, endpoint: "${s3.endpoint}", accessKeyId: "\${S3_KEY}", secretAccessKey: "\${S3_SECRET}" }\ncompression:`,
      );
      await fs.writeFile(file, text);
      return file;
    };
    for (const d of ['ops', 'host', 'badkey', 'badconf']) await fs.mkdir(path.join(dir, d));
    // ops: the config of an operator's machine (identity included); host: a backup host (no identity).
    const ops = await withS3(await writeConfig(path.join(dir, 'ops'), { root, repo, keys, extra }));
    const host = await withS3(await writeConfig(path.join(dir, 'host'), { root, repo, keys, identity: false, extra }));
    // A signing key file that is not a worker key (the bot's secret key file): the error must not quote it.
    const badKeyConfig = await writeConfig(path.join(dir, 'badkey'), {
      root,
      repo: path.join(dir, 'badkey-repo'),
      keys: { ...keys, workerKeyFile: path.join(root, 'keys/binance.key') },
      identity: false,
    });
    // A config that fails validation on secret fields (too short a token, a bad Redis URL with a password).
    const badConfig = await writeConfig(path.join(dir, 'badconf'), {
      root,
      repo,
      keys,
      extra: `redis: { url: "redis://:${S.redisPassword}@127.0.0.1:notaport/0" }\ndashboard: { token: "${S.badConfigToken}" }\n`,
    });

    const env: Record<string, string> = {
      S3_KEY: 'S3RVER',
      S3_SECRET: S.s3Secret,
      HOOK_TOKEN: S.hookToken,
      HOOK_BEARER: S.hookBearer,
      DASHBOARD_TOKEN: S.dashboardToken,
      DASHBOARD_PASSWORD: S.dashboardPassword,
    };
    const samples: Sample[] = [];
    const record = (label: string, result: CliResult) => {
      samples.push({ where: `${label}: stdout`, data: Buffer.from(result.stdout) }, { where: `${label}: stderr`, data: Buffer.from(result.stderr) });
      return result;
    };
    const cli = async (config: string, ...args: string[]) =>
      record(`botbackup ${args.join(' ')} (${path.basename(path.dirname(config))})`, await runCli(['--config', config, '--debug', ...args], { env }));
    const ok = (result: CliResult, code = 0) => expect(result.code, result.stdout + result.stderr).toBe(code);

    // Backup (full) to local disk and S3, then changes and an incremental from the backup host.
    const full = await cli(ops, '--json', 'backup');
    ok(full);
    const fullId = (JSON.parse(full.stdout) as { id: string }).id;
    const db = new Database(path.join(root, 'data/trades.db'));
    db.prepare("INSERT INTO deals (ts, symbol, price, qty, note) VALUES (1, 'BTCUSDT', 1, 1, 'new deal')").run();
    db.close();
    await plant(2);
    const inc = await cli(host, '--json', 'backup', '--incremental');
    ok(inc);
    expect((JSON.parse(inc.stdout) as { type: string }).type).toBe('incremental');
    ok(await cli(ops, 'backup', '--incremental'));

    // Reading: list, show, verify (without and with the identity), restore, history and diff.
    ok(await cli(host, 'list'));
    ok(await cli(ops, '--json', 'list'));
    ok(await cli(host, 'show', fullId));
    ok(await cli(ops, '--json', 'show', 'latest'));
    ok(await cli(host, 'verify', '--all'));
    ok(await cli(ops, 'verify', '--all', '--deep'));
    const target = path.join(dir, 'restored');
    ok(await cli(ops, '--json', 'restore', 'latest', '--target', target));
    expect(await sha256File(path.join(target, '.env'))).toBe(await sha256File(path.join(root, '.env')));
    ok(await cli(host, '--json', 'restore', fullId, '--storage', 's3', '--target', path.join(dir, 'restored-s3'), '--identity', keys.identityFile));
    for (const file of ['.env', 'config/bot.json', 'keys/binance.key']) {
      ok(await cli(host, 'history', file));
      ok(await cli(ops, 'diff', file));
      ok(await cli(ops, '--json', 'diff', file, '--from', fullId));
    }

    // Failures: a wrong identity, a file that is no identity (the bot's .env), a key file that is no
    // worker key, a config that does not validate, a backup and a verify while S3 is down.
    const wrong = await cli(host, 'restore', 'latest', '--target', path.join(dir, 'wrong'), '--identity', wrongKeys.identityFile);
    expect(wrong.code).not.toBe(0);
    const notIdentity = await cli(host, 'restore', 'latest', '--target', path.join(dir, 'wrong2'), '--identity', path.join(root, '.env'));
    expect(notIdentity.code).not.toBe(0);
    const notKey = await cli(badKeyConfig, 'backup');
    expect(notKey.code).not.toBe(0);
    const invalid = await cli(badConfig, 'status');
    expect(invalid.code).toBe(3);
    await s3.kill();
    const degraded = await cli(ops, 'backup');
    ok(degraded, 9);
    expect((await cli(ops, 'verify', 'latest')).code).not.toBe(0);
    ok(await cli(host, 'list'));
    await s3.restart();
    ok(await cli(host, 'replicate'));

    // Distributed: a worker (with the password-protected Redis) runs a queued backup and a drill
    // that fails at once; its failure notification goes to a webhook that cannot be reached.
    ok(await cli(ops, 'scheduler', '--once'));
    const worker = startProcess(['--config', ops, '--debug', 'worker'], env);
    running.push(worker);
    await worker.waitFor((line) => line.includes('"worker started"'));
    const queued = await cli(ops, '--json', 'backup', '--queue');
    ok(queued);
    const job = JSON.parse(queued.stdout.slice(queued.stdout.indexOf('{'))) as { jobId: string; state: string };
    expect(job.state).toBe('completed');
    // A drill (restores the newest backup with the identity) and, straight into the queue, a deep
    // verify and a verify of a backup that does not exist: it fails at once, and its failure
    // notification goes to a webhook that cannot be reached.
    await cli(ops, 'run', 'drill-now');
    const queue = new Queue<JobPayload>(queueNames.maintenance, { connection: redisOptionsFromUrl(redis.url), prefix: 'sec' });
    const workerConfig = { ...DEFAULT_WORKER, attempts: 1 };
    const deep = await queue.add('verify:testbot', { type: 'verify', sourceId: 'testbot', deep: true }, jobOptions(workerConfig));
    const missing = await queue.add('verify:testbot', { type: 'verify', sourceId: 'testbot', backup: 'no-such-backup' }, jobOptions(workerConfig));
    await expect.poll(() => queue.getJobState(deep.id!), { timeout: 30_000, interval: 100 }).toBe('completed');
    await expect.poll(() => queue.getJobState(missing.id!), { timeout: 30_000, interval: 100 }).toBe('failed');
    await queue.close();
    await worker.waitFor((line) => line.includes('"event":"failure"') && line.includes('the notification webhook could not be reached'));
    ok(await cli(ops, 'run', 'nightly'));

    // Status and jobs, as tables and as JSON.
    ok(await cli(host, 'status'));
    ok(await cli(ops, '--json', 'status'));
    ok(await cli(host, 'jobs'));
    ok(await cli(ops, '--json', 'jobs', '--completed', '--failed'));

    // The dashboard: refused and accepted requests, with the token and with basic auth.
    const dashboard = startProcess(['--config', ops, '--debug', 'dashboard', '--port', '0'], env);
    running.push(dashboard);
    const url = /Dashboard at (http:\/\/\S+\/)/.exec(await dashboard.waitFor((line) => /Dashboard at http/.test(line)))![1]!;
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const statuses: number[] = [];
    for (const route of ['', 'api/backups', 'metrics', 'queues/api/queues']) {
      for (const authorization of [
        undefined,
        `Bearer ${S.dashboardToken}x`,
        `Bearer ${S.dashboardToken}`,
        basic('ops', S.dashboardPassword),
        basic('ops', `${S.dashboardPassword}x`),
      ]) {
        const response = await fetch(url + route, { headers: authorization ? { Authorization: authorization } : {} });
        statuses.push(response.status);
        samples.push({
          where: `dashboard GET /${route} (${authorization ? 'with credentials' : 'anonymous'}): ${response.status}`,
          data: Buffer.from(await response.text()),
        });
        samples.push({ where: `dashboard GET /${route}: headers`, data: Buffer.from(JSON.stringify([...response.headers])) });
      }
    }
    expect(statuses).toContain(200);
    expect(statuses).toContain(401);
    await stopProcess(dashboard);
    samples.push(
      { where: 'dashboard process: stdout', data: Buffer.from(dashboard.stdout()) },
      { where: 'dashboard process: stderr', data: Buffer.from(dashboard.stderr()) },
    );
    await stopProcess(worker);
    samples.push(
      { where: 'worker process: stdout', data: Buffer.from(worker.stdout()) },
      { where: 'worker process: stderr', data: Buffer.from(worker.stderr()) },
    );

    // Collect Redis (every key and value, and its append-only file), storage and the catalog.
    const { samples: redisSamples, types } = await dumpRedis(redis.url);
    samples.push(...redisSamples);
    samples.push(...(await filesOf(redis.dir, 'redis data folder')));
    const repoSamples = await filesOf(repo, 'local repository');
    const s3Samples = await filesOf(s3.directory, 's3rver folder');
    samples.push(...repoSamples, ...s3Samples);
    for (const name of await fs.readdir(dir)) {
      if (name.startsWith('catalog.sqlite')) samples.push({ where: name, data: await fs.readFile(path.join(dir, name)) });
    }

    // The corpus is what the scan claims it is.
    expect(worker.stderr()).toContain('"job completed"');
    // --debug was on: failures print their stack trace.
    expect(notKey.stderr).toMatch(/\n\s+at /);
    expect([...types].some(([key, type]) => type === 'hash' && key === `sec:backup.testbot:${job.jobId}`)).toBe(true);
    expect(redisSamples.some((s) => s.data.includes('"sourceId":"testbot"'))).toBe(true);
    expect(repoSamples.filter((s) => /^local repository\/manifests\/testbot\/.+\.json$/.test(s.where)).length).toBeGreaterThanOrEqual(4);
    expect(repoSamples.length).toBeGreaterThan(8);
    expect(s3Samples.filter((s) => s.where.includes('manifests')).length).toBeGreaterThanOrEqual(3);
    expect(samples.some((s) => s.where === 'catalog.sqlite' && s.data.length > 0)).toBe(true);
    expect(samples.filter((s) => s.where.endsWith('stderr')).length).toBeGreaterThanOrEqual(38);
    // The restored copy does hold the secrets: the scan would see them if they were anywhere.
    expect(scan(await filesOf(target, 'restored'), needlesOf('.env key v2', bot.envKey2))).not.toEqual([]);

    // The needles: every secret value in every encoding, the plain sha256 of every secret file,
    // the identity and the worker key (their text, raw bytes and derived secrets).
    const needles: Needle[] = [];
    for (const [name, value] of Object.entries({ ...S, ...bot })) needles.push(...needlesOf(name, value));
    const identityLine = (text: string) => text.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    for (const [name, k] of [
      ['identity', keys],
      ['wrong identity', wrongKeys],
    ] as const) {
      const identityText = await fs.readFile(k.identityFile, 'utf8');
      needles.push(...needlesOf(`${name} (AGE-SECRET-KEY line)`, identityLine(identityText)));
      needles.push(...needlesOf(`${name} (key bytes)`, ageSecretBytes(identityLine(identityText))));
      needles.push(...hashNeedlesOf(`${name} file`, Buffer.from(identityText)));
      const workerText = await fs.readFile(k.workerKeyFile, 'utf8');
      const seedLine = workerText.split('\n').find((l) => l.startsWith('BOTBACKUP-WORKER-KEY-1:'))!;
      const seed = seedLine.slice('BOTBACKUP-WORKER-KEY-1:'.length);
      const parsed = parseWorkerKey(workerText, k.workerKeyFile);
      needles.push(...needlesOf(`${name}: worker key (seed text)`, seed));
      needles.push(...needlesOf(`${name}: worker key (seed bytes)`, Buffer.from(seed, 'base64url')));
      needles.push(...needlesOf(`${name}: worker key (derived identity)`, parsed.identity));
      needles.push(...needlesOf(`${name}: worker key (derived identity bytes)`, ageSecretBytes(parsed.identity)));
      needles.push(...needlesOf(`${name}: worker key (content-hash HMAC key)`, parsed.contentHashKey));
      needles.push(...hashNeedlesOf(`${name}: worker key file`, Buffer.from(workerText)));
    }
    // With encryption every content hash in a manifest is keyed, so no plain sha256 of any file
    // that holds a secret (a secret file or a settings file) may appear anywhere.
    for (const file of secretFiles) needles.push(...needlesOf(`${file.name} (whole file)`, file.content), ...hashNeedlesOf(file.name, file.content));
    for (const file of hashedFiles) needles.push(...hashNeedlesOf(file.name, file.content));
    expect(needles.length).toBeGreaterThan(300);

    const hits = scan(samples, needles);
    expect(hits, `secrets found:\n${hits.slice(0, 40).join('\n')}`).toEqual([]);
  }, 120_000);
});
