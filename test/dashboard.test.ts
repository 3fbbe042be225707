import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  ExitCode,
  drillKeys,
  queueNames,
  redisOptionsFromUrl,
  type Config,
  type DrillRecord,
  type JobPayload,
  type Manifest,
} from '@botbackup/core';
import { storedFiles } from './helpers/file-list.js';
import { startDashboard, type RunningDashboard } from '@botbackup/dashboard';
import { loadConfig, silentLogger } from '@botbackup/engine';
import { createStore } from '@botbackup/storage';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startDashboardProcess, type DashboardProcess } from './helpers/dashboard.js';
import { eventually, startRedis, type PrivateRedis } from './helpers/redis.js';

const TOKEN = 'dashboard-test-token-0123456789';
const PREFIX = 'dash';
/** Debian's chromium (see .ci/run); playwright-core drives it without a browser download of its own. */
const CHROMIUM = '/usr/bin/chromium';

const bearer = { Authorization: `Bearer ${TOKEN}` };
const basicAuth = { Authorization: `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}` };

/** A request with a Host header of our choosing (fetch keeps the URL's): status, headers and body. */
function rawRequest(
  url: string,
  options: { host: string; method?: string; headers?: Record<string, string> },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', headers: { ...options.headers, Host: options.host } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** The CSRF value the dashboard sets in its XSRF-TOKEN cookie on a GET. */
async function csrfCookie(url: string, headers: Record<string, string>): Promise<string> {
  const response = await fetch(url, { headers });
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('XSRF-TOKEN='));
  expect(cookie).toMatch(/^XSRF-TOKEN=[\w-]{43}; Path=\/; SameSite=Strict$/);
  return cookie!.slice('XSRF-TOKEN='.length).split(';')[0]!;
}

describe('botbackup dashboard: bull-board, the backups and /metrics behind auth', () => {
  const tmp = useTempDir('all');
  const startedAt = Date.now();
  let redis: PrivateRedis;
  let file: string;
  let repo: string;
  let config: Config;
  let dashboard: DashboardProcess;
  let browser: Browser | undefined;
  let backupIds: string[];
  /** A failed job that stays failed; and one that the read-write dashboard retries. */
  let failedJob: Job<JobPayload>;
  let retriedJob: Job<JobPayload>;
  let waitingJobId: string;
  const queues: Queue<JobPayload>[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    repo = path.join(tmp.dir, 'repo');
    file = await writeConfig(tmp.dir, {
      root,
      repo,
      codec: 'none',
      extra: `catalog: ${JSON.stringify(path.join(tmp.dir, 'catalog.sqlite'))}\nredis: { url: "${redis.url}", prefix: ${PREFIX} }\ndashboard: { token: "\${DASHBOARD_TOKEN}", allowedHosts: [backups.example.com] }\n`,
    });
    const env = { DASHBOARD_TOKEN: TOKEN };
    // Real backups made by the CLI: a full, an incremental on it, and the newest verified.
    for (const args of [['backup'], ['backup', '--incremental'], ['verify', 'latest']]) {
      const run = await runCli(['--config', file, ...args], { env });
      expect(run.code, run.stderr).toBe(0);
    }
    backupIds = (await fs.readdir(path.join(repo, 'manifests/testbot'))).map((n) => n.replace(/\.json$/, '')).sort();
    expect(backupIds).toHaveLength(2);
    config = await loadConfig(file, { ...process.env, DASHBOARD_TOKEN: TOKEN });

    // A queued backup that no worker takes (waiting), and a verify job that failed.
    const queued = await runCli(['--config', file, '--json', 'backup', '--queue', '--no-wait'], { env });
    expect(queued.code, queued.stderr).toBe(0);
    waitingJobId = (JSON.parse(queued.stdout.slice(queued.stdout.indexOf('{'))) as { jobId: string }).jobId;
    const connection = redisOptionsFromUrl(redis.url);
    const maintenance = new Queue<JobPayload>(queueNames.maintenance, { connection, prefix: PREFIX });
    queues.push(maintenance, new Queue<JobPayload>(queueNames.backup('testbot'), { connection, prefix: PREFIX }));
    const worker = new Worker<JobPayload>(
      queueNames.maintenance,
      async () => {
        throw new UnrecoverableError('simulated verify failure');
      },
      { connection: { ...connection, maxRetriesPerRequest: null }, prefix: PREFIX },
    );
    let failures = 0;
    const failed = new Promise<void>((resolve) => worker.on('failed', () => ++failures === 2 && resolve()));
    failedJob = await maintenance.add('verify:testbot', { type: 'verify', sourceId: 'testbot' }, { attempts: 1 });
    retriedJob = await maintenance.add('verify:testbot', { type: 'verify', sourceId: 'testbot' }, { attempts: 1 });
    await failed;
    expect(await (await maintenance.getJob(failedJob.id!))!.getState()).toBe('failed');
    await worker.close();

    dashboard = await startDashboardProcess(file, env);
  });

  afterAll(async () => {
    await browser?.close();
    if (dashboard && dashboard.child.exitCode === null) {
      dashboard.child.kill('SIGKILL');
      await dashboard.exited;
    }
    await Promise.all(queues.map((q) => q.close()));
    await redis?.stop();
  });

  async function launchBrowser(): Promise<Browser> {
    browser ??= await chromium.launch({ executablePath: CHROMIUM });
    return browser;
  }

  it('refuses every route without valid credentials: 401 with WWW-Authenticate and no data', async () => {
    const wrongBasic = `Basic ${Buffer.from(`ops:not-the-token-at-all`).toString('base64')}`;
    for (const route of ['', 'api/backups', 'metrics', 'queues', 'queues/api/queues', 'queues/static/favicon-32x32.png', 'no-such-page']) {
      for (const headers of [
        {},
        { Authorization: 'Bearer wrong-token-of-some-length' },
        { Authorization: wrongBasic },
        { Authorization: `Bearer ${TOKEN}x` },
      ] as Record<string, string>[]) {
        const response = await fetch(dashboard.url + route, { headers });
        const body = await response.text();
        expect(response.status, `${route} ${JSON.stringify(headers)}`).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="botbackup"/);
        expect(body).not.toMatch(/testbot|maintenance|botbackup_/);
      }
    }
    // The same routes with the token, as a bearer or as a basic password, are served.
    for (const route of ['', 'api/backups', 'metrics', 'queues', 'queues/api/queues']) {
      expect((await fetch(dashboard.url + route, { headers: bearer })).status, route).toBe(200);
    }
    const basic = `Basic ${Buffer.from(`anyone:${TOKEN}`).toString('base64')}`;
    expect((await fetch(dashboard.url + 'api/backups', { headers: { Authorization: basic } })).status).toBe(200);
  });

  it('/healthz answers without credentials, 200 {"ok":true} while Redis answers; the Host check still applies, and only that exact path is open', async () => {
    for (const headers of [{}, bearer, { Authorization: 'Bearer wrong-token-of-some-length' }] as Record<string, string>[]) {
      const response = await fetch(`${dashboard.url}healthz`, { headers });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('set-cookie')).toBeNull();
      expect(await response.json()).toEqual({ ok: true });
    }
    expect((await fetch(`${dashboard.url}healthz?probe=1`)).status).toBe(200);
    expect((await fetch(`${dashboard.url}healthz`, { method: 'HEAD' })).status).toBe(200);
    const port = new URL(dashboard.url).port;
    expect((await rawRequest(`${dashboard.url}healthz`, { host: `evil.example:${port}` })).status).toBe(421);
    // Anything else, however close, still needs the token; a change too.
    for (const route of ['healthz/', 'healthz/../api/backups', 'healthz%2F..%2Fapi/backups', 'api/backups?x=/healthz']) {
      expect((await fetch(dashboard.url + route)).status, route).toBe(401);
    }
    expect((await fetch(`${dashboard.url}healthz`, { method: 'POST' })).status).toBe(401);
  });

  it('shows each backup and its copy states in a real browser, and bull-board renders the queues', async () => {
    const context = await (await launchBrowser()).newContext({ httpCredentials: { username: 'ops', password: TOKEN } });
    // bull-board's page links web fonts; this machine (and CI) has no internet.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
    const page = await context.newPage();
    const response = await page.goto(dashboard.url);
    expect(response!.status()).toBe(200);
    const [full, incremental] = backupIds as [string, string];
    await expect.poll(() => page.locator('p.newest[data-source="testbot"]').innerText()).toContain(`Newest good backup: ${incremental}`);
    expect(await page.locator('p.newest[data-source="testbot"]').innerText()).toMatch(/, \d+ (s|min) ago/);
    const rows = page.locator('table.backups tbody tr');
    expect(await rows.count()).toBe(2);
    // Newest first; verify checked the newest (and, through its chain, nothing else is marked).
    expect(await rows.nth(0).getAttribute('data-backup')).toBe(incremental);
    expect(await rows.nth(0).innerText()).toMatch(/incremental[\s\S]*verified[\s\S]*ok/);
    expect(await rows.nth(1).getAttribute('data-backup')).toBe(full);
    expect(await rows.nth(1).innerText()).toMatch(/full[\s\S]*unverified[\s\S]*ok/);
    expect(await page.locator('table.queues tr[data-queue="backup.testbot"]').innerText()).toMatch(/backup\.testbot\s+1\b/);

    const board = await page.goto(`${dashboard.url}queues`);
    expect(board!.status()).toBe(200);
    // A React app: the names appear once it has fetched /queues/api/queues.
    await page.getByText('backup.testbot').first().waitFor({ timeout: 30_000 });
    await page.getByText('maintenance').first().waitFor({ timeout: 30_000 });
    await context.close();
  });

  it('read-only mode refuses a retry and a delete through bull-board with 403, and the jobs are unchanged in Redis', async () => {
    const [maintenance, backups] = queues as [Queue<JobPayload>, Queue<JobPayload>];
    const before = await maintenance.getJob(failedJob.id!);
    const api = `${dashboard.url}queues/api/queues`;
    // bull-board's own routes (@bull-board/api 9.10 routes.js): retry, clean (delete) one job, and some queue-wide changes.
    const attempts: [string, string][] = [
      ['PUT', `${api}/${queueNames.maintenance}/${failedJob.id}/retry`],
      ['PUT', `${api}/${queueNames.maintenance}/${failedJob.id}/clean`],
      ['PUT', `${api}/backup.testbot/${waitingJobId}/clean`],
      ['PUT', `${api}/${queueNames.maintenance}/retry/failed`],
      ['PUT', `${api}/${queueNames.maintenance}/clean/failed`],
      ['PUT', `${api}/backup.testbot/empty`],
      ['PUT', `${api}/pause`],
      ['POST', `${api}/backup.testbot/add`],
    ];
    for (const [method, url] of attempts) {
      const response = await fetch(url, { method, headers: { ...bearer, 'Content-Type': 'application/json' }, body: '{}' });
      expect(response.status, `${method} ${url}`).toBe(403);
    }
    const after = await maintenance.getJob(failedJob.id!);
    expect(await after!.getState()).toBe('failed');
    expect(after!.attemptsMade).toBe(before!.attemptsMade);
    expect(after!.failedReason).toBe('simulated verify failure');
    expect(await (await backups.getJob(waitingJobId))!.getState()).toBe('waiting');
    expect(await backups.isPaused()).toBe(false);
    expect(await backups.getJobCounts('waiting')).toEqual({ waiting: 1 });
    // The UI knows it is read-only too (no retry or clean buttons).
    const listed = (await (await fetch(api, { headers: bearer })).json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(listed.queues.map((q) => [q.name, q.readOnlyMode])).toEqual([
      ['maintenance', true],
      ['backup.testbot', true],
    ]);
  });

  it('answers only to requests whose Host names it (DNS rebinding): 421 with one line for any other name', async () => {
    const port = new URL(dashboard.url).port;
    for (const host of [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
      for (const route of ['', 'api/backups', 'metrics', 'queues/api/queues', 'queues']) {
        const response = await rawRequest(dashboard.url + route, { host, headers: bearer });
        expect(response.status, `${host} ${route}`).toBe(421);
        expect(response.body).toBe('This dashboard does not answer to that host name; list it in dashboard.allowedHosts.\n');
        expect(response.headers['set-cookie']).toBeUndefined();
      }
      // Before credentials: no 401 challenge to make a browser prompt on another site's behalf.
      expect((await rawRequest(dashboard.url, { host })).status).toBe(421);
      expect((await rawRequest(`${dashboard.url}queues/api/queues/pause`, { host, method: 'PUT', headers: bearer })).status).toBe(421);
    }
    // Its own names pass: localhost and IP addresses (any port), and the names dashboard.allowedHosts lists.
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'LOCALHOST', `[::1]:${port}`, 'backups.example.com', 'Backups.Example.com:443']) {
      const response = await rawRequest(`${dashboard.url}api/backups`, { host, headers: bearer });
      expect(response.status, host).toBe(200);
      expect((await rawRequest(`${dashboard.url}api/backups`, { host })).status, host).toBe(401);
    }
  });

  it('read-write mode (for contrast) lets a retry through with the token as bearer or from its own UI, but not from another site or with basic auth alone', async () => {
    const readWrite: RunningDashboard = await startDashboard({
      config,
      connection: redisOptionsFromUrl(redis.url),
      stores: config.storage.map(createStore),
      catalogFile: path.join(tmp.dir, 'catalog.sqlite'),
      host: '127.0.0.1',
      port: 0,
      auth: { token: TOKEN },
      readOnly: false,
      logger: silentLogger,
    });
    try {
      const retry = `${readWrite.url}queues/api/queues/${queueNames.maintenance}/${retriedJob.id}/retry`;
      const crossSite = await fetch(retry, { method: 'PUT', headers: { ...bearer, Origin: 'http://evil.example' } });
      expect(crossSite.status).toBe(403);
      // Basic auth alone is what a browser resends by itself: a change needs a header besides it.
      const csrf = await csrfCookie(`${readWrite.url}queues`, basicAuth);
      for (const headers of [basicAuth, { ...basicAuth, Cookie: `XSRF-TOKEN=${csrf}` }, { ...basicAuth, 'X-XSRF-TOKEN': `${csrf}x` }]) {
        const refused = await fetch(retry, { method: 'PUT', headers });
        expect(refused.status, JSON.stringify(headers)).toBe(403);
        expect(await refused.text()).toBe('A change needs the token as "Authorization: Bearer" or the x-xsrf-token header that the dashboard\'s pages send.\n');
      }
      expect(await (await queues[0]!.getJob(retriedJob.id!))!.getState()).toBe('failed');
      // The token as a bearer header is enough (a script or curl): pause and resume a queue.
      const backupQueue = `${readWrite.url}queues/api/queues/backup.testbot`;
      expect((await fetch(`${backupQueue}/pause`, { method: 'PUT', headers: bearer })).status).toBe(200);
      expect(await queues[1]!.isPaused()).toBe(true);
      expect((await fetch(`${backupQueue}/resume`, { method: 'PUT', headers: bearer })).status).toBe(200);
      expect(await queues[1]!.isPaused()).toBe(false);

      // A browser logged in with basic auth retries the job through bull-board's own UI: its
      // scripts send the cookie's value back in the header.
      const context = await (await launchBrowser()).newContext({ httpCredentials: { username: 'ops', password: TOKEN } });
      await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
      try {
        const page = await context.newPage();
        const writes: string[] = [];
        page.on('request', (request) => void (request.method() !== 'GET' && writes.push(`${request.method()} ${request.url()}`)));
        expect((await page.goto(`${readWrite.url}queues/queue/${queueNames.maintenance}?status=failed`))!.status()).toBe(200);
        // bull-board 9.10: each job is a card with its link and icon buttons; retry is the refresh icon, then "Are you sure?".
        const link = page.locator(`a[href^="/queues/queue/${queueNames.maintenance}/${retriedJob.id}?"]`);
        const card = link.locator('xpath=ancestor::div[contains(@class, "card-")][1]');
        await card.locator('button:has(svg.lucide-refresh-cw)').click({ timeout: 30_000 });
        const answered = page.waitForResponse((response) => response.request().method() === 'PUT', { timeout: 15_000 });
        await page.getByRole('button', { name: 'Confirm' }).click({ timeout: 10_000 });
        const response = await answered;
        expect([response.url(), response.status(), response.request().headers()['x-xsrf-token']]).toEqual([retry, 204, csrf]);
        expect(writes).toEqual([`PUT ${retry}`]);
        expect(await (await queues[0]!.getJob(retriedJob.id!))!.getState()).toBe('waiting');
      } finally {
        await context.close();
      }
    } finally {
      await readWrite.close();
    }
  });

  it('/metrics reports the age of the newest good backup, copies and queue counts', async () => {
    const response = await fetch(`${dashboard.url}metrics`, { headers: bearer });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      expect(line, `${series} in\n${text}`).toBeDefined();
      return Number(line!.slice(series.length + 1));
    };
    const age = value('botbackup_newest_backup_age_seconds{source="testbot"}');
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan((Date.now() - startedAt) / 1000);
    expect(value('botbackup_backups{source="testbot",degraded="false"}')).toBe(2);
    expect(value('botbackup_copies{target="local",state="verified"}')).toBe(1);
    expect(value('botbackup_copies{target="local",state="unverified"}')).toBe(1);
    expect(value('botbackup_backup_last_duration_seconds{source="testbot"}')).toBeGreaterThan(0);
    expect(value('botbackup_backup_last_stored_bytes{source="testbot"}')).toBeGreaterThan(0);
    expect(value('botbackup_redis_up')).toBe(1);
    expect(value('botbackup_queue_jobs{queue="backup.testbot",state="waiting"}')).toBe(1);
    // One failed verify job is still failed; the other was retried by the read-write dashboard and waits.
    expect(value('botbackup_queue_jobs{queue="maintenance",state="failed"}')).toBe(1);
    expect(value('botbackup_queue_jobs{queue="maintenance",state="waiting"}')).toBe(1);
    expect(value('botbackup_job_last_failed{type="verify",source="testbot"}')).toBe(1);
    const failedAt = value('botbackup_job_last_finished_timestamp_seconds{type="verify",source="testbot",result="failed"}');
    expect(failedAt * 1000).toBeGreaterThanOrEqual(startedAt);
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^botbackup_[a-z_]+(\{[^}]*\})? -?[\d.e+]+$/);
  });

  it('shows the last restore drill on the page, in api/backups and as four /metrics gauges; a failed one as FAILED and success 0', async () => {
    const get = async (route: string) => {
      const response = await fetch(dashboard.url + route, { headers: bearer });
      expect(response.status, route).toBe(200);
      return response.text();
    };
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      expect(line, `${series} in\n${text}`).toBeDefined();
      return Number(line!.slice(series.length + 1));
    };
    // No drill yet: said on the page, and no drill series (the families are described).
    expect(await get('')).toContain('<p class="drill" data-source="testbot">Last restore drill: none yet.</p>');
    const before = await get('metrics');
    expect(before).toContain('# TYPE botbackup_drill_last_success gauge\n');
    expect(before).not.toMatch(/^botbackup_drill_\w+\{/m);

    const [full, incremental] = backupIds as [string, string];
    // The page measures from its catalog summary, which may be up to 5 s old: 30 s more keeps "2 h 0 min".
    const at = new Date(Date.now() - 2 * 3_600_000 - 30_000);
    const passed: DrillRecord = {
      sourceId: 'testbot',
      backupId: incremental,
      store: 'local',
      at: at.toISOString(),
      ok: true,
      restoreMs: 4210,
      dataAgeMs: 93_600_000,
      read: [full, incremental],
      checks: [{ name: 'trades', ok: true, detail: '3' }],
    };
    const client = new Redis(redis.url);
    try {
      await client.set(drillKeys.last(PREFIX, 'testbot'), JSON.stringify(passed));
      const page = await get('');
      expect(page).toMatch(
        new RegExp(
          `<p class="drill ok" data-source="testbot" title="trades: ok \\(3\\)">Last restore drill: ok, 2 h 0 min ago: backup <code>${incremental}</code> from "local", restore 4\\.2 s, data age 1 d 2 h</p>`,
        ),
      );
      const metrics = await get('metrics');
      expect(value(metrics, 'botbackup_drill_last_timestamp_seconds{source="testbot"}')).toBe(at.getTime() / 1000);
      expect(value(metrics, 'botbackup_drill_last_success{source="testbot"}')).toBe(1);
      expect(value(metrics, 'botbackup_drill_restore_seconds{source="testbot"}')).toBe(4.21);
      expect(value(metrics, 'botbackup_drill_data_age_seconds{source="testbot"}')).toBe(93_600);
      for (const name of ['last_timestamp_seconds', 'last_success', 'restore_seconds', 'data_age_seconds']) {
        expect(metrics).toMatch(new RegExp(`^# HELP botbackup_drill_${name} \\S.*\n# TYPE botbackup_drill_${name} gauge$`, 'm'));
      }
      const api = JSON.parse(await get('api/backups')) as { drills: Record<string, DrillRecord> | null };
      expect(api.drills).toEqual({ testbot: passed });

      const failed: DrillRecord = {
        ...passed,
        at: new Date(at.getTime() + 3_600_000).toISOString(),
        ok: false,
        restoreMs: 1500,
        checks: [{ name: 'trades', ok: false, detail: 'returned 0' }],
        error: 'the check "trades" failed: it returned 0',
        code: 'DRILL_CHECK_FAILED',
      };
      await client.set(drillKeys.last(PREFIX, 'testbot'), JSON.stringify(failed));
      expect(await get('')).toContain(
        `Last restore drill: FAILED, 1 h 0 min ago (backup <code>${incremental}</code> from "local"): the check &quot;trades&quot; failed: it returned 0</p>`,
      );
      const afterFailure = await get('metrics');
      expect(value(afterFailure, 'botbackup_drill_last_success{source="testbot"}')).toBe(0);
      expect(value(afterFailure, 'botbackup_drill_last_timestamp_seconds{source="testbot"}')).toBe(Date.parse(failed.at) / 1000);
      expect(value(afterFailure, 'botbackup_drill_restore_seconds{source="testbot"}')).toBe(1.5);
    } finally {
      client.disconnect();
    }
  });

  it('shows no secret: no hashes, no Redis URL, no token, in any answer or log line', async () => {
    const secretHashes = new Set<string>();
    for (const id of backupIds) {
      const manifest = JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${id}.json`), 'utf8')) as Manifest;
      for (const f of storedFiles(repo, manifest)) if (f.kind === 'secret') secretHashes.add(f.sha256);
    }
    expect(secretHashes.size).toBeGreaterThan(0);
    for (const route of ['', 'api/backups', 'metrics', 'queues/api/queues']) {
      const body = await (await fetch(dashboard.url + route, { headers: bearer })).text();
      expect(body).not.toMatch(/[0-9a-f]{64}/);
      expect(body).not.toContain(redis.url);
      expect(body).not.toContain(TOKEN);
      for (const hash of secretHashes) expect(body).not.toContain(hash);
    }
    expect(dashboard.stderr()).not.toContain(TOKEN);
  });

  it('refuses to start without credentials unless it listens on loopback (then it warns)', async () => {
    const dir = path.join(tmp.dir, 'noauth');
    await fs.mkdir(dir);
    const open = await writeConfig(dir, {
      root: path.join(tmp.dir, 'bot'),
      repo,
      extra: `catalog: ${JSON.stringify(path.join(dir, 'catalog.sqlite'))}\nredis: { url: "${redis.url}", prefix: ${PREFIX} }\n`,
    });
    const refused = await runCli(['--config', open, 'dashboard', '--host', '0.0.0.0', '--port', '0']);
    expect(refused.code).toBe(ExitCode.config);
    expect(refused.stderr).toMatch(/field "dashboard" sets neither token nor basic, and the dashboard would listen on 0\.0\.0\.0/);
    await expect(
      startDashboard({
        config: await loadConfig(open),
        connection: redisOptionsFromUrl(redis.url),
        stores: [],
        catalogFile: path.join(dir, 'catalog.sqlite'),
        host: '192.0.2.1',
        port: 0,
        auth: {},
        readOnly: true,
        logger: silentLogger,
      }),
    ).rejects.toBeInstanceOf(ConfigError);
    const local = await startDashboardProcess(open, {});
    try {
      expect((await fetch(`${local.url}api/backups`)).status).toBe(200);
      expect(local.stderr()).toContain('the dashboard has no credentials configured');
      // Without credentials, the Host check is what keeps a rebound page of another site out.
      const port = new URL(local.url).port;
      expect((await rawRequest(`${local.url}api/backups`, { host: `evil.example:${port}` })).status).toBe(421);
      expect((await rawRequest(`${local.url}queues/api/queues/pause`, { host: `evil.example:${port}`, method: 'PUT' })).status).toBe(421);
      expect((await rawRequest(`${local.url}api/backups`, { host: `localhost:${port}` })).status).toBe(200);
    } finally {
      local.child.kill('SIGTERM');
      expect(await local.exited).toBe(0);
    }
  });

  it('stops on SIGTERM with exit code 0', async () => {
    dashboard.child.kill('SIGTERM');
    expect(await dashboard.exited).toBe(0);
  });
});

describe('dashboard /healthz while Redis is down', () => {
  const tmp = useTempDir('all');

  it('503 with why (no URL, no password) while Redis is down, 200 again once it is back; the backups pages still need the token', async () => {
    const password = 'healthz-redis-password-123';
    const redis = await startRedis({ password });
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 10 });
    const file = await writeConfig(tmp.dir, {
      root,
      repo: path.join(tmp.dir, 'repo'),
      extra: `catalog: ${JSON.stringify(path.join(tmp.dir, 'catalog.sqlite'))}\nredis: { url: "${redis.url}", prefix: ${PREFIX} }\n`,
    });
    const config = await loadConfig(file);
    let running: RunningDashboard | undefined;
    try {
      running = await startDashboard({
        config,
        connection: redisOptionsFromUrl(redis.url),
        stores: [createStore(config.storage[0]!)],
        catalogFile: path.join(tmp.dir, 'catalog.sqlite'),
        host: '127.0.0.1',
        port: 0,
        auth: { token: TOKEN },
        readOnly: true,
        logger: silentLogger,
      });
      const health = async () => {
        const response = await fetch(`${running!.url}healthz`);
        return { status: response.status, body: await response.text() };
      };
      expect(await eventually(health, (h) => h.status === 200)).toEqual({ status: 200, body: '{"ok":true}' });

      await redis.kill();
      const down = await eventually(health, (h) => h.status === 503);
      expect(down.status).toBe(503);
      expect(JSON.parse(down.body)).toEqual({ ok: false, error: expect.stringMatching(/^Redis is not connected \((connecting|reconnecting|close)\)$/) });
      expect(down.body).not.toContain(password);
      expect(down.body).not.toContain(String(redis.port));
      expect((await fetch(`${running.url}api/backups`)).status).toBe(401);

      await redis.restart();
      expect(await eventually(health, (h) => h.status === 200)).toEqual({ status: 200, body: '{"ok":true}' });
    } finally {
      await running?.close();
      await redis.stop();
    }
  });
});
