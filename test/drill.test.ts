import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillKeys, redisOptionsFromUrl, type DrillRecord } from '@botbackup/core';
import { createBot, flipByte, makeKeys, runCli, useTempDir, writeConfig, type TestKeys } from './helpers/bot.js';
import { startWebhookReceiver } from './helpers/webhook.js';
import { startWorkerProcess, useWorkerProcesses } from './helpers/worker.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';

/** Check queries inside the source (writeConfig's `extra` would put them at the top level). */
const GOOD_CHECKS = [
  '    checks:',
  '      - { name: deals-before-backup, query: "SELECT count(*) > 0 FROM deals WHERE ts <= :asOfMs" }',
  '      - { name: has-orders, database: trades, query: "SELECT count(*) FROM orders" }',
  '      - { name: as-of, query: "SELECT :asOfMs" }',
];
const FAILING_CHECK = '      - { name: impossible-deals, query: "SELECT count(*) FROM deals WHERE id < 0" }';

async function setup(dir: string, options: { checks?: string[]; extra?: string; keys?: TestKeys; identity?: boolean } = {}) {
  const root = path.join(dir, 'bot');
  await createBot(root, { deals: 300 });
  const repo = path.join(dir, 'repo');
  const file = await writeConfig(dir, {
    root,
    repo,
    extra: `catalog: ${JSON.stringify(path.join(dir, 'catalog.sqlite'))}\n${options.extra ?? ''}`,
    keys: options.keys,
    identity: options.identity,
  });
  const text = await fs.readFile(file, 'utf8');
  const checks = options.checks ?? GOOD_CHECKS;
  await fs.writeFile(
    file,
    text.replace(/^( {4}allowPlaintextSecrets: \w+)\n/m, (line) => [line.trimEnd(), ...checks, ''].join('\n')),
  );
  return { root, repo, file };
}

async function backup(file: string): Promise<string> {
  return (await backupInfo(file)).id;
}

async function backupInfo(file: string): Promise<{ id: string; startedAt: string }> {
  const run = await runCli(['--config', file, '--json', 'backup']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { id: string; startedAt: string };
}

async function archiveOf(repo: string, backupId: string): Promise<string> {
  const dir = path.join(repo, 'data', 'testbot', backupId);
  const name = (await fs.readdir(dir)).find((n) => n.startsWith('archive'));
  return path.join(dir, name!);
}

describe('botbackup drill (in-process, history in the local catalog)', () => {
  const tmp = useTempDir();

  it('a drill of a good backup passes, runs the check queries at the backup time, and records restore time and data age', async () => {
    const scratch = path.join(tmp.dir, 'scratch');
    const { file } = await setup(tmp.dir, { extra: `defaults: { tmpDir: ${JSON.stringify(scratch)} }\n` });
    const { id, startedAt } = await backupInfo(file);
    const run = await runCli(['--config', file, 'drill']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^drill passed: backup ${id} from "local" restored and checked in \\d+\\.\\d s; data age \\d+s; checks: deals-before-backup ok, has-orders ok, as-of ok$`,
        'm',
      ),
    );

    const json = await runCli(['--config', file, '--json', 'drill', id]);
    expect(json.code, json.stderr).toBe(0);
    const record = JSON.parse(json.stdout) as DrillRecord;
    expect(record).toMatchObject({ sourceId: 'testbot', backupId: id, store: 'local', ok: true, read: [id] });
    expect(record.restoreMs).toBeGreaterThan(0);
    expect(record.dataAgeMs).toBeGreaterThanOrEqual(0);
    expect(record.checks).toEqual([
      { name: 'deals-before-backup', ok: true, detail: 'returned 1' },
      { name: 'has-orders', ok: true, detail: 'returned 1' },
      // :asOfMs is the backup's start, not the drill's time.
      { name: 'as-of', ok: true, detail: `returned ${Date.parse(startedAt)}` },
    ]);
    // The scratch folder is gone.
    expect(await fs.readdir(scratch)).toEqual([]);
  });

  it('a check query that fails fails the drill with exit 6, naming the check', async () => {
    const { file } = await setup(tmp.dir, { checks: [...GOOD_CHECKS, FAILING_CHECK] });
    const id = await backup(file);
    const run = await runCli(['--config', file, 'drill']);
    expect(run.code, run.stderr).toBe(6);
    expect(run.stdout).toMatch(new RegExp(`^drill FAILED: backup ${id} from "local": Check "impossible-deals" failed`, 'm'));
    expect(run.stdout).toMatch(/^ {2}FAILED impossible-deals: returned 0, not a true value$/m);
    expect(run.stdout).toMatch(/^ {2}ok {5}has-orders: returned 1$/m);
    expect(run.stderr).toMatch(/Check "impossible-deals" failed/);
  });

  it('a corrupted archive byte fails the drill with exit 6', async () => {
    const { file, repo } = await setup(tmp.dir);
    const id = await backup(file);
    await flipByte(await archiveOf(repo, id));
    const run = await runCli(['--config', file, '--json', 'drill']);
    expect(run.code, run.stderr).toBe(6);
    const record = JSON.parse(run.stdout) as DrillRecord;
    expect(record).toMatchObject({ backupId: id, ok: false, read: [id], checks: [] });
    expect(record.code).toMatch(/CHECKSUM_MISMATCH|BAD_ARCHIVE|TRUNCATED/);
    expect(run.stderr).toMatch(new RegExp(`Drill of backup ${id} from "local" failed`));
  });

  it('drills rotate: newest backup first, then the other, then the one drilled longest ago', async () => {
    const { file } = await setup(tmp.dir);
    const first = await backup(file);
    const second = await backup(file);
    const drilled: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await runCli(['--config', file, '--json', 'drill']);
      expect(run.code, run.stderr).toBe(0);
      drilled.push((JSON.parse(run.stdout) as DrillRecord).backupId);
    }
    expect(drilled).toEqual([second, first, second]);
  });

  it('a drill of an incremental reads its chain, and marks every backup of it as drilled', async () => {
    const { file } = await setup(tmp.dir);
    const full = await backup(file);
    const inc = await runCli(['--config', file, '--json', 'backup', '--incremental']);
    expect(inc.code, inc.stderr).toBe(0);
    const incremental = (JSON.parse(inc.stdout) as { id: string }).id;
    const run = await runCli(['--config', file, '--json', 'drill']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ backupId: incremental, ok: true, read: [full, incremental] });
  });

  it('an encrypted, signed backup: the drill checks it with the identity, and fails with exit 11 without one', async () => {
    const keys = await makeKeys(tmp.dir);
    const { file } = await setup(tmp.dir, { keys });
    const id = await backup(file);
    const good = await runCli(['--config', file, '--json', 'drill']);
    expect(good.code, good.stderr).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ backupId: id, ok: true });

    // A host without the identity (a worker whose config lacks encryption.identityFile) cannot open it.
    const hostFile = path.join(tmp.dir, 'host.yaml');
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(hostFile, text.replace(/^ {2}identityFile: .*\n/m, '').replace('catalog.sqlite', 'host-catalog.sqlite'));
    const bad = await runCli(['--config', hostFile, 'drill']);
    expect(bad.code, bad.stderr).toBe(11);
    expect(bad.stdout).toMatch(new RegExp(`^drill FAILED: backup ${id} from "local": `, 'm'));
  });
});

describe('drill jobs on a worker (private Redis)', () => {
  const tmp = useTempDir();
  let redis: PrivateRedis;
  const workers = useWorkerProcesses();
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  it('a scheduled drill job records its result in Redis; a drill whose check fails, or whose copy is corrupt, fails the job and sends the failure webhook', async () => {
    const hook = await startWebhookReceiver();
    const { received, events } = hook;
    const client = new Redis(redisOptionsFromUrl(redis.url));
    try {
      const prefix = 'd1';
      const { file, repo, root } = await setup(tmp.dir, {
        extra: [
          `redis: { url: "${redis.url}", prefix: ${prefix} }`,
          'worker: { sources: [testbot], lockDuration: 2s, stalledInterval: 1s, drainTimeout: 30s }',
          'schedules:',
          '  - { id: daily-drill, source: testbot, job: drill, cron: "0 5 * * *" }',
          `notify: { webhook: "${hook.url}/hook", on: [failure] }`,
          '',
        ].join('\n'),
      });
      const id = await backup(file);
      const worker = startWorkerProcess(file);
      workers.push(worker);
      await worker.waitFor((r) => r.msg === 'worker started');

      const good = await runCli(['--config', file, '--json', 'run', 'daily-drill']);
      expect(good.code, good.stderr).toBe(0);
      const out = JSON.parse(good.stdout.slice(good.stdout.indexOf('{'))) as { state: string; result: Record<string, unknown> };
      expect(out.state).toBe('completed');
      expect(out.result).toMatchObject({ type: 'drill', sourceId: 'testbot', backupId: id, drill: { store: 'local', ok: true, read: 1, checks: 3 } });
      const copies = await client.hgetall(drillKeys.copies(prefix, 'testbot'));
      expect(Object.keys(copies)).toEqual([drillKeys.field('local', id)]);
      const passed = JSON.parse(copies[drillKeys.field('local', id)]!) as DrillRecord;
      expect(passed).toMatchObject({ backupId: id, store: 'local', ok: true });
      expect(passed.restoreMs).toBeGreaterThan(0);
      expect(JSON.parse((await client.get(drillKeys.last(prefix, 'testbot')))!)).toEqual(passed);

      // A newer backup whose data fails a check (no orders): the rotation drills it next.
      execFileSync('sqlite3', [path.join(root, 'data/trades.db'), 'DELETE FROM orders']);
      const noOrders = await backup(file);
      const failedCheck = await runCli(['--config', file, 'run', 'daily-drill']);
      expect(failedCheck.code, failedCheck.stderr).toBe(6);
      expect(failedCheck.stderr).toMatch(new RegExp(`Drill of backup ${noOrders} from "local" failed: Check "has-orders" failed`));
      await events(1);
      expect(received[0]).toMatchObject({ event: 'failure', sourceId: 'testbot', job: 'drill' });
      expect(String(received[0]!.text)).toMatch(/drill:testbot \(job \S+\) failed: Drill of backup .*has-orders/);

      // The first backup, corrupted: drilled longest ago, it is next.
      await flipByte(await archiveOf(repo, id));
      const bad = await runCli(['--config', file, 'run', 'daily-drill']);
      expect(bad.code, bad.stderr).toBe(6);
      expect(bad.stderr).toMatch(new RegExp(`Drill of backup ${id} from "local" failed`));
      await events(2);
      expect(received[1]).toMatchObject({ event: 'failure', sourceId: 'testbot', job: 'drill' });
      expect(String(received[1]!.text)).toMatch(/drill:testbot \(job \S+\) failed: Drill of backup/);
      const last = JSON.parse((await client.get(drillKeys.last(prefix, 'testbot')))!) as DrillRecord;
      expect(last).toMatchObject({ backupId: id, ok: false });
      expect(JSON.parse((await client.hget(drillKeys.copies(prefix, 'testbot'), drillKeys.field('local', id)))!)).toEqual(last);
    } finally {
      client.disconnect();
      hook.close();
    }
  });
});
