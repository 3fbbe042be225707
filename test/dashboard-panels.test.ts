import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '@botbackup/core';
import { cliBin, createBot, runCli, sha256File, useTempDir } from './helpers/bot.js';
import { eventually, startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker.js';
import { startDashboardProcess, type DashboardProcess } from './helpers/dashboard.js';
import { expectPng } from './helpers/png.js';

// The dashboard's home page (issue 22) from a real Redis, real backups made by the CLI and by a
// real worker, real job schedulers synced by `botbackup scheduler`, and a real drill, in Debian's
// chromium with JavaScript off: every panel, the plots' marks counted against the backups, a
// stale source and a source no worker serves shown as such, the restore commands run as shown.
// BOTBACKUP_SCREENSHOTS=<dir> also saves screenshots of the page there (docs/images); without it that test is skipped.

const TOKEN = 'dashboard-panels-token-0123456789';
const PREFIX = 'panels';
const CHROMIUM = '/usr/bin/chromium';
const WORKER = 'panel-worker';
const bearer = { Authorization: `Bearer ${TOKEN}` };
const SCREENSHOTS = process.env.BOTBACKUP_SCREENSHOTS;
interface Api {
  version: number;
  botbackup: string;
  generatedAt: string;
  [key: string]: unknown;
}

/** The config: `alpha` with backup, verify and (in the dashboard's copy only) prune schedules and a check query; `beta` with no schedule, so its bound is notify.staleAfter (3 s). */
function configYaml(dir: string, redisUrl: string, withPrune: boolean): string {
  const files = `    files:
      - { kind: config, include: ["config/**/*.json"] }
      - { kind: secret, include: [".env", "keys/*.key"] }
    allowPlaintextSecrets: true`;
  return `version: 1
catalog: ${JSON.stringify(path.join(dir, 'catalog.sqlite'))}
sources:
  - id: alpha
    root: ${JSON.stringify(path.join(dir, 'alpha'))}
    databases: [{ path: data/trades.db }]
${files}
    checks:
      - { name: deals-not-empty, query: "SELECT count(*) > 0 FROM deals" }
  - id: beta
    root: ${JSON.stringify(path.join(dir, 'beta'))}
    databases: [{ path: data/trades.db }]
${files}
storage:
  - { name: local, type: local, path: ${JSON.stringify(path.join(dir, 'repo'))} }
redis: { url: "${redisUrl}", prefix: ${PREFIX} }
notify: { staleAfter: 3s }
dashboard: { token: "\${DASHBOARD_TOKEN}" }
schedules:
  - { id: alpha-nightly, source: alpha, job: incremental, cron: "0 2 * * *" }
  - { id: alpha-weekly, source: alpha, job: full, cron: "0 3 * * 0", timezone: Europe/Berlin }
  - { id: alpha-verify, source: alpha, job: verify, cron: "*/5 * * * * *" }
${withPrune ? '  - { id: alpha-prune, source: alpha, job: prune, cron: "30 4 * * *" }\n' : ''}`;
}

describe('dashboard home page: health, schedules, workers, trends, drills and restore help', () => {
  const tmp = useTempDir('all');
  let redis: PrivateRedis;
  let config: string;
  let worker: WorkerProcess;
  let dashboard: DashboardProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** alpha's backups as `list --json` gives them, oldest first. */
  let alpha: { id: string; type: 'full' | 'incremental' }[];
  let betaFull: string;

  const cli = async (...args: string[]) => {
    const run = await runCli(['--config', config, ...args], { env: { DASHBOARD_TOKEN: TOKEN } });
    expect(run.code, `${args.join(' ')}\n${run.stderr}`).toBe(0);
    return run.stdout;
  };
  const api = async (route: string): Promise<Api> => {
    const response = await fetch(`${dashboard.url}api/${route}`, { headers: bearer });
    expect(response.status, route).toBe(200);
    return (await response.json()) as Api;
  };
  /** Reloads the page until `holds` is true of it (the page is read at each request; no timed waits). */
  const reloadUntil = async (holds: () => Promise<boolean>) => {
    await eventually(
      async () => {
        await page.reload();
        return holds();
      },
      (ok) => ok,
      60_000,
      200,
    );
  };

  beforeAll(async () => {
    // Every botbackup process of this file (the worker's too) reads the config's ${DASHBOARD_TOKEN}.
    process.env.DASHBOARD_TOKEN = TOKEN;
    redis = await startRedis();
    for (const id of ['alpha', 'beta']) await createBot(path.join(tmp.dir, id), { deals: 300 });
    const schedulerConfig = path.join(tmp.dir, 'scheduler.yaml');
    await fs.writeFile(schedulerConfig, configYaml(tmp.dir, redis.url, false));
    config = path.join(tmp.dir, 'botbackup.yaml');
    await fs.writeFile(config, configYaml(tmp.dir, redis.url, true));

    // Backups from the command line: alpha a full and an incremental, beta a full.
    await cli('backup', '--source', 'alpha');
    await cli('backup', '--source', 'alpha', '--incremental');
    await cli('backup', '--source', 'beta');
    // The job schedulers, from the config without alpha-prune: the dashboard's config has it, Redis does not.
    const synced = await runCli(['--config', schedulerConfig, 'scheduler', '--once'], { env: { DASHBOARD_TOKEN: TOKEN } });
    expect(synced.code, synced.stderr).toBe(0);
    // A worker for alpha and the maintenance queue, none for beta; it runs alpha-verify every 5 s.
    worker = startWorkerProcess(config, '--source', 'alpha', '--name', WORKER);
    await worker.waitFor((r) => r.msg === 'worker started');
    // A third backup of alpha, made by the worker.
    await cli('run', 'alpha-nightly');
    await cli('drill', '--source', 'alpha');
    const listed = JSON.parse(await cli('--json', 'list', '--source', 'alpha')) as { id: string; type: 'full' | 'incremental' }[];
    alpha = listed.map((b) => ({ id: b.id, type: b.type }));
    expect(alpha.map((b) => b.type)).toEqual(['full', 'incremental', 'incremental']);
    betaFull = (JSON.parse(await cli('--json', 'list', '--source', 'beta')) as { id: string }[])[0]!.id;

    dashboard = await startDashboardProcess(config, { DASHBOARD_TOKEN: TOKEN });

    browser = await chromium.launch({ executablePath: CHROMIUM });
    // No JavaScript at all: the page must read without it.
    context = await browser.newContext({
      javaScriptEnabled: false,
      httpCredentials: { username: 'ops', password: TOKEN },
      viewport: { width: 1400, height: 900 },
    });
    page = await context.newPage();
    expect((await page.goto(dashboard.url))!.status()).toBe(200);
    // alpha is green once the scheduled verify has verified its newest backup (the worker's run).
    await reloadUntil(async () => (await page.locator('ul.health li[data-source="alpha"]').getAttribute('data-level')) === 'ok');
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    for (const child of [dashboard?.child, worker?.child]) {
      if (child && child.exitCode === null) child.kill('SIGKILL');
    }
    await Promise.all([dashboard?.exited, worker?.exited]);
    await redis?.stop();
  });

  it('serves a page with no script and no external asset', async () => {
    const html = await (await fetch(dashboard.url, { headers: bearer })).text();
    expect(html).not.toMatch(/<script|<link|@import|url\(/i);
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('health summary: alpha green with the three facts, beta red and stale (past notify.staleAfter), each reason in words', async () => {
    const alphaLine = await page.locator('ul.health li[data-source="alpha"]').innerText();
    expect(alphaLine).toMatch(
      /^alpha: ok · newest good backup \d+ (s|min) old \(bound 1 d 6 h \(schedule alpha-nightly, alpha-weekly\)\); its copy verified; last restore drill passed \d+ (s|min).* ago \(restore took \d+\.\d s\)$/,
    );
    await reloadUntil(async () => /over its bound/.test(await page.locator('ul.health li[data-source="beta"]').innerText()));
    const beta = page.locator('ul.health li[data-source="beta"]');
    expect(await beta.getAttribute('data-level')).toBe('bad');
    const text = await beta.innerText();
    expect(text).toMatch(/^beta: AT RISK · the newest good backup is \d+ s old, over its bound of 3 s \(notify\.staleAfter\)/);
    expect(text).toContain(`the copy of ${betaFull} in "local" is not verified yet`);
    expect(text).toContain('no restore drill yet');
    const summary = await api('summary');
    const sources = summary.sources as { sourceId: string; level: string; newestGood: { backupId: string } }[];
    expect(sources.map((s) => [s.sourceId, s.level])).toEqual([
      ['alpha', 'ok'],
      ['beta', 'bad'],
    ]);
    expect(sources[0]!.newestGood.backupId).toBe(alpha[2]!.id);
  });

  it('schedules: the cron in words with its zone, the next run, the last run with its duration, and a warning for the one Redis lacks', async () => {
    const row = (id: string) => page.locator(`table.schedules tr[data-schedule="${id}"]`);
    expect(await row('alpha-nightly').innerText()).toMatch(
      /^alpha-nightly\s+incremental\s+alpha\s+every day at 02:00 0 2 \* \* \*\s+UTC\s+\d{4}-\d\d-\d\d 02:00 UTC \(in .+\)\s+none kept in Redis\s+in Redis$/,
    );
    expect(await row('alpha-weekly').innerText()).toMatch(/every Sunday at 03:00 0 3 \* \* 0\s+Europe\/Berlin\s+\d{4}-\d\d-\d\d 0[12]:00 UTC/);
    // The verify schedule has run (the worker ran it): ok, when, and how long it took.
    expect(await row('alpha-verify').innerText()).toMatch(/\*\/5 \* \* \* \* \*\s+UTC\s+.+\s+ok, \d+ s ago, took \d+\.\d s\s+in Redis$/);
    const missing = row('alpha-prune');
    expect(await missing.getAttribute('data-state')).toBe('missing');
    expect(await missing.innerText()).toMatch(/every day at 04:30 .*not in Redis: is "botbackup scheduler" running with this config\?$/);
    const schedules = (await api('schedules')).schedules as {
      id: string;
      state: string;
      words: string | null;
      lastRun: { result: string; durationMs: number } | null;
    }[];
    expect(schedules.map((s) => [s.id, s.state])).toEqual([
      ['alpha-nightly', 'scheduled'],
      ['alpha-prune', 'missing'],
      ['alpha-verify', 'scheduled'],
      ['alpha-weekly', 'scheduled'],
    ]);
    const verify = schedules.find((s) => s.id === 'alpha-verify')!;
    expect(verify.lastRun).toMatchObject({ result: 'completed' });
    expect(verify.lastRun!.durationMs).toBeGreaterThan(0);
  });

  it('workers: the worker with its host, queues, sources, version and heartbeat; a red line for beta, whose queue no worker serves', async () => {
    const row = page.locator(`table.workers tr[data-worker="${WORKER}"]`);
    const version = (JSON.parse(await fs.readFile(path.join(path.dirname(cliBin), '../../engine/package.json'), 'utf8')) as { version: string }).version;
    expect(await row.innerText()).toMatch(
      new RegExp(`^${WORKER}\\s+${os.hostname()}\\s+backup\\.alpha, maintenance\\s+alpha\\s+${version.replace(/\./g, '\\.')}\\s+\\d+ s ago$`),
    );
    expect(await page.locator('p.unserved').allInnerTexts()).toEqual(['No worker serves backup.beta: backups of "beta" will wait.']);
    // The heartbeat itself: under the prefix, expiring within three intervals, ids and times only.
    const client = new Redis(redis.url);
    try {
      const key = redisKeys.workerHeartbeat(PREFIX, WORKER);
      const ttl = await client.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30_000);
      const record = JSON.parse((await client.get(key))!) as Record<string, unknown>;
      expect(Object.keys(record).sort()).toEqual(['at', 'concurrency', 'host', 'intervalMs', 'name', 'pid', 'queues', 'sources', 'startedAt', 'version']);
    } finally {
      client.disconnect();
    }
    const workers = await api('workers');
    expect((workers.workers as { name: string; sources: string[] }[]).map((w) => [w.name, w.sources])).toEqual([[WORKER, ['alpha']]]);
    expect(workers.unserved).toEqual([{ queue: 'backup.beta', sourceId: 'beta' }]);
  });

  it('trends: one mark per backup in the size and duration plots, full and incremental apart, one per peak and now in the age plot, each titled with its exact value', async () => {
    const count = (source: string, plot: string, series: string) =>
      page.locator(`.trend[data-source="${source}"] svg[data-plot="${plot}"] g[data-series="${series}"] [data-point]`).count();
    for (const plot of ['stored', 'duration']) {
      expect(await count('alpha', plot, 'full'), plot).toBe(1);
      expect(await count('alpha', plot, 'incremental'), plot).toBe(2);
      expect(await count('beta', plot, 'full'), plot).toBe(1);
      expect(await count('beta', plot, 'incremental'), plot).toBe(0);
    }
    // alpha: three good backups: two peaks (before the second and third) and now; beta: now.
    expect(await count('alpha', 'age', 'age')).toBe(3);
    expect(await count('beta', 'age', 'age')).toBe(1);
    expect(await page.locator('.trend[data-source="beta"] svg[data-plot="age"] line[data-guide="bound"] title').textContent()).toBe('bound: 3 s (3 s)');
    // The hover titles give the exact stored size, as /api/backups has it.
    const backups = (await api('backups')).sources as { sourceId: string; backups: { backupId: string; storedBytes: number }[] }[];
    const full = backups.find((s) => s.sourceId === 'alpha')!.backups.find((b) => b.backupId === alpha[0]!.id)!;
    const title = await page.locator('.trend[data-source="alpha"] svg[data-plot="stored"] g[data-series="full"] [data-point] title').textContent();
    expect(title).toMatch(new RegExp(`^${alpha[0]!.id} \\(full\\), \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC: .+ stored \\(${full.storedBytes} bytes\\)$`));
    // One source's part alone.
    expect(((await api('trends?source=beta')).sources as { sourceId: string }[]).map((t) => t.sourceId)).toEqual(['beta']);
    const trends = (await api('trends')).sources as { sourceId: string; backups: unknown[]; age: { kind: string }[]; rpo: null }[];
    expect(trends.map((t) => [t.sourceId, t.backups.length, t.age.filter((a) => a.kind === 'peak' || a.kind === 'now').length, t.rpo])).toEqual([
      ['alpha', 3, 3, null],
      ['beta', 1, 1, null],
    ]);
  });

  it('drills: alpha’s last drill with its RTO and the check it ran; none yet for beta', async () => {
    const alphaRow = page.locator('table.drills tr[data-source="alpha"]');
    expect(await alphaRow.getAttribute('data-ok')).toBe('true');
    expect(await alphaRow.innerText()).toMatch(/^alpha\s+\d+ (s|min) ago\s+passed\s+\S+\s+local\s+\d+\.\d s\s+.+\s+deals-not-empty: ok \(returned 1\)$/);
    expect(await page.locator('table.drills tr[data-source="beta"]').innerText()).toMatch(/^beta\s+none yet$/);
    const drills = (await api('drills')).sources as { sourceId: string; last: { ok: boolean; restoreMs: number; checks: unknown[] } | null }[];
    expect(drills.map((d) => [d.sourceId, d.last?.ok ?? null, d.last?.checks])).toEqual([
      ['alpha', true, [{ name: 'deals-not-empty', ok: true, detail: 'returned 1' }]],
      ['beta', null, undefined],
    ]);
    expect(drills[0]!.last!.restoreMs).toBeGreaterThan(0);
  });

  it('restore help: the command shown for a backup restores it when run as shown, and a full’s steps by hand restore it with the stock tools', async () => {
    const [full, , newest] = alpha as [(typeof alpha)[0], unknown, (typeof alpha)[0]];
    const cell = (id: string) => page.locator(`tr[data-backup="${id}"] td.restore`);
    // JavaScript is off: open the <details> the way a click would, then read what it shows.
    await page.locator(`tr[data-backup="${newest.id}"] td.restore summary`).click();
    const command = await cell(newest.id).locator('pre.command').innerText();
    expect(command).toBe(`botbackup --config ${config} restore ${newest.id} --source alpha --target ./restored-alpha`);
    expect(await cell(newest.id).locator('pre.manual').count()).toBe(0);
    // Run it as shown, with `botbackup` on PATH as the installed command is.
    const bin = path.join(tmp.dir, 'bin');
    await fs.mkdir(bin, { recursive: true });
    await fs.writeFile(path.join(bin, 'botbackup'), `#!/bin/sh\nexec "${process.execPath}" "${cliBin}" "$@"\n`, { mode: 0o755 });
    const work = path.join(tmp.dir, 'restore-here');
    await fs.mkdir(work);
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const restored = await runCli(['bash', '-c', command], { raw: true, cwd: work, env });
    expect(restored.code, restored.stderr).toBe(0);
    for (const f of ['config/bot.json', '.env', 'keys/binance.key']) {
      expect(await sha256File(path.join(work, 'restored-alpha', f)), f).toBe(await sha256File(path.join(tmp.dir, 'alpha', f)));
    }

    // The full's stock steps, run as shown in a shell (they run in the local target's folder).
    const manual = await cell(full.id).locator('pre.manual').textContent();
    expect(manual).toContain(`ID=${full.id} SRC=alpha`);
    const steps = await runCli(['bash', '-euo', 'pipefail', '-c', manual!], { raw: true, cwd: work });
    expect(steps.code, steps.stderr).toBe(0);
    expect(steps.stdout).toMatch(/: OK\n/);
    expect(steps.stdout.trim().split('\n').at(-1)).toBe('ok');
    const byHand = path.join(tmp.dir, 'repo', 'restored');
    expect(await sha256File(path.join(byHand, 'config/bot.json'))).toBe(await sha256File(path.join(tmp.dir, 'alpha', 'config/bot.json')));
    await fs.rm(byHand, { recursive: true });

    const api_ = (await api('backups')).sources as { sourceId: string; backups: { backupId: string; restore: { command: string; manual: string | null } }[] }[];
    const listed = api_.find((s) => s.sourceId === 'alpha')!.backups;
    expect(listed.find((b) => b.backupId === newest.id)!.restore.command).toBe(command);
    expect(listed.find((b) => b.backupId === full.id)!.restore.manual).toBe(manual);
  });

  it('every /api/* answer has the API version and botbackup’s; none holds a secret, a hash or the Redis URL', async () => {
    const secrets = ['test-secret', 'test-private-key', TOKEN, redis.url];
    for (const route of ['summary', 'schedules', 'workers', 'trends', 'drills', 'backups']) {
      const response = await fetch(`${dashboard.url}api/${route}`, { headers: bearer });
      const text = await response.text();
      const body = JSON.parse(text) as Api;
      expect([route, body.version, typeof body.botbackup, Number.isNaN(Date.parse(body.generatedAt))]).toEqual([route, 1, 'string', false]);
      expect(response.headers.get('server-timing')).toMatch(/^app;dur=\d+(\.\d)?$/);
      for (const secret of secrets) expect(text, route).not.toContain(secret);
      expect(text, route).not.toMatch(/[0-9a-f]{64}/);
      expect((await fetch(`${dashboard.url}api/${route}`)).status, route).toBe(401);
    }
    const html = await page.content();
    for (const secret of secrets) expect(html).not.toContain(secret);
    expect(html).not.toMatch(/[0-9a-f]{64}/);
  });

  it.skipIf(!SCREENSHOTS)('saves screenshots of the page (BOTBACKUP_SCREENSHOTS)', async () => {
    const dir = SCREENSHOTS!;
    const file = (name: string) => path.join(dir, `dashboard-${name}.png`);
    const names = ['home', 'health', 'schedules', 'workers', 'trends', 'drills', 'restore'];
    await fs.mkdir(dir, { recursive: true });
    // An image left from an earlier run must not pass for one taken now.
    await Promise.all(names.map((name) => fs.rm(file(name), { force: true })));
    await page.goto(dashboard.url);
    await page.screenshot({ path: file('home'), fullPage: false });
    for (const [name, selector] of [
      ['health', '#health'],
      ['schedules', '#schedules'],
      ['workers', '#workers'],
      ['trends', '#trends'],
      ['drills', '#drills'],
    ] as const) {
      await page.locator(selector).screenshot({ path: file(name) });
    }
    // Wide enough for a backups table with a restore cell unfolded.
    await page.setViewportSize({ width: 1900, height: 900 });
    await page.locator(`tr[data-backup="${alpha[0]!.id}"] td.restore summary`).click();
    await page.locator(`section.source[data-source="alpha"]`).screenshot({ path: file('restore') });
    for (const name of names) await expectPng(file(name));
  });

  it('a worker that stops leaves the panel at once, and its queues get their red lines', async () => {
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    await reloadUntil(async () => (await page.locator('p.unserved').count()) === 3);
    expect(await page.locator('p.unserved').allInnerTexts()).toEqual([
      'No worker serves maintenance: verify, prune, replicate and drill jobs will wait.',
      'No worker serves backup.alpha: backups of "alpha" will wait.',
      'No worker serves backup.beta: backups of "beta" will wait.',
    ]);
    expect(await page.locator('table.workers').count()).toBe(0);
    expect(await page.locator('#workers').innerText()).toContain('No worker is running (none has a heartbeat in Redis).');
  });
});
