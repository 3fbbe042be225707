import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, useTempDir } from './helpers/bot.js';
import { shippedSegments, tradeWriter, until, useProcesses, writeContinuousConfig } from './helpers/continuous.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';
import { startDashboardProcess, type DashboardProcess } from './helpers/dashboard.js';
import { expectPng } from './helpers/png.js';

// The dashboard's RPO plot (issue 22) from real segments shipped by the real streamer while a bot
// commits trades, in Debian's chromium with JavaScript off: one mark per hour in which a shipped
// commit followed another, against continuous.alertAfter, and the newest shipped commit's age in
// the health line. BOTBACKUP_SCREENSHOTS=<dir> also saves the source's trends with the RPO plot
// there as dashboard-rpo.png (docs/images).

const CHROMIUM = '/usr/bin/chromium';
const H = 3_600_000;
const SCREENSHOTS = process.env.BOTBACKUP_SCREENSHOTS;
describe('dashboard: the RPO of a continuous source', () => {
  const tmp = useTempDir('all');
  // Only the bot and the streamer: both have exited before the first test (the dashboard lives across tests).
  const start = useProcesses();
  let redis: PrivateRedis | undefined;
  let browser: Browser | undefined;
  let dashboard: DashboardProcess | undefined;
  let url: string;
  let page: Page;
  /** The shipped segments' last commit times (ms), oldest first. */
  let times: number[];

  beforeAll(async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    redis = await startRedis();
    const file = await writeContinuousConfig(dir, { continuous: '{ alertAfter: 30s }', extra: `redis: { url: "${redis.url}", prefix: rpo }\n` });
    const writer = start([tradeWriter, path.join(dir, 'bot/trades.db'), path.join(dir, 'truth.txt'), '100']);
    await writer.waitFor(/ready/, 'the bot’s first commit');
    const stream = start([cliBin, '--config', file, '-v', 'stream']);
    await until('five segments shipped and the generation’s first backup', async () => {
      if (stream.child.exitCode !== null) throw new Error(`stream exited (${stream.child.exitCode}):\n${stream.out()}\n${stream.err()}`);
      const out = stream.out();
      return (out.match(/^trades: segment \d+,/gm) ?? []).length >= 5 && /^Generation \S+: first backup \S+ committed\.$/m.test(out) ? true : undefined;
    });
    writer.child.kill('SIGTERM');
    expect(await writer.exited).toBe(0);
    expect(await stream.stop()).toBe(0);
    times = (await shippedSegments(path.join(dir, 'repo'))).map((s) => s.name.lastCommitAt).sort((a, b) => a - b);

    dashboard = await startDashboardProcess(file);
    url = dashboard.url;
    browser = await chromium.launch({ executablePath: CHROMIUM });
    page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (dashboard && dashboard.child.exitCode === null) dashboard.child.kill('SIGKILL');
    await dashboard?.exited;
    await redis?.stop();
  });

  it('draws the worst time between shipped commits per hour against continuous.alertAfter, from the segments the streamer shipped', async () => {
    // What the plot must show, from the segments themselves: one point per hour in which a commit followed another.
    expect(times.length).toBeGreaterThanOrEqual(5);
    const hours = new Set(times.slice(1).map((t) => Math.floor(t / H))).size;

    const trends = (await (await fetch(`${url}api/trends`)).json()) as {
      version: number;
      sources: { sourceId: string; rpo: { alertAfterSeconds: number; points: { gapSeconds: number }[]; newestCommitAt: string } | null }[];
    };
    expect(trends.version).toBe(1);
    const rpo = trends.sources.find((s) => s.sourceId === 'bot')!.rpo!;
    expect(rpo.alertAfterSeconds).toBe(30);
    expect(rpo.newestCommitAt).toBe(new Date(times.at(-1)!).toISOString());
    expect(rpo.points).toHaveLength(hours);
    const worst = Math.max(...times.slice(1).map((t, i) => t - times[i]!)) / 1000;
    expect(Math.max(...rpo.points.map((p) => p.gapSeconds))).toBe(worst);
    const summary = (await (await fetch(`${url}api/summary`)).json()) as { sources: { sourceId: string; continuous: { newestCommitAt: string } | null }[] };
    expect(summary.sources.find((s) => s.sourceId === 'bot')!.continuous!.newestCommitAt).toBe(rpo.newestCommitAt);

    expect((await page.goto(url))!.status()).toBe(200);
    const plot = page.locator('.trend[data-source="bot"] svg[data-plot="rpo"]');
    expect(await plot.locator('g[data-series="rpo"] [data-point]').count()).toBe(hours);
    expect(await plot.locator('line[data-guide="alertAfter"] title').textContent()).toBe('continuous.alertAfter: 30 s (30 s)');
    const titles = await plot.locator('[data-point] title').allTextContents();
    expect(titles.some((t) => t.includes(`at worst`) && t.includes(`(${worst} s) between shipped commits of trades`))).toBe(true);
    expect(await page.locator('ul.health li[data-source="bot"] .continuous').innerText()).toMatch(
      /^newest shipped commit .+ old \(the RPO while the bot writes; continuous\.alertAfter 30 s\)$/,
    );
  });

  it.skipIf(!SCREENSHOTS)('saves a screenshot of the source’s trends with the RPO plot (BOTBACKUP_SCREENSHOTS)', async () => {
    const file = path.join(SCREENSHOTS!, 'dashboard-rpo.png');
    await fs.mkdir(SCREENSHOTS!, { recursive: true });
    await fs.rm(file, { force: true });
    // Wide enough for the source's four plots in one row, the RPO plot last.
    await page.setViewportSize({ width: 1600, height: 900 });
    expect((await page.goto(url))!.status()).toBe(200);
    await page.locator('.trend[data-source="bot"]').screenshot({ path: file });
    await expectPng(file);
  });
});
