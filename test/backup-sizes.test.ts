import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBackupSizes, formatBytes } from '@botbackup/core';
import { startDashboardProcess } from './helpers/dashboard.js';
import { createBot, listFiles, makeKeys, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';

const TOKEN = 'sizes-test-token-0123456789abcdef';

interface Sizes {
  entryBytes: number;
  storedBytes: number;
}

/**
 * A backup's two sizes (docs/cli.md, "Sizes") are the same numbers in every output: backup, list,
 * show, verify, status, the dashboard's page, /api/backups and /metrics. Each is checked against
 * what is really there: stored against the bytes of the files under the backup's data folder,
 * packed against the bytes a restore of the full backup writes. Encrypted, so that the archive
 * and page maps are also checked to be named for what they are (`.age`).
 */
describe('the sizes of a backup agree everywhere, and equal the bytes really stored', () => {
  const tmp = useTempDir('all');
  let redis: PrivateRedis;
  let config: string;
  let repo: string;
  const env = { DASHBOARD_TOKEN: TOKEN };
  const made: (Sizes & { id: string; type: string })[] = [];
  /** The bytes of every file under each backup's data folder, by backup id. */
  const onDisk = new Map<string, number>();

  beforeAll(async () => {
    redis = await startRedis();
    const root = path.join(tmp.dir, 'bot');
    repo = path.join(tmp.dir, 'repo');
    await createBot(root, { deals: 3000 });
    const keys = await makeKeys(tmp.dir);
    config = await writeConfig(tmp.dir, {
      root,
      repo,
      keys,
      extra: `catalog: ${JSON.stringify(path.join(tmp.dir, 'catalog.sqlite'))}\nredis: { url: "${redis.url}", prefix: sizes }\ndashboard: { token: "\${DASHBOARD_TOKEN}" }\n`,
    });
    for (const args of [['backup'], ['backup', '--incremental']]) {
      if (args.length > 1) execFileSync('sqlite3', [path.join(root, 'data/trades.db'), 'UPDATE deals SET price = price + 1 WHERE id % 200 = 0;']);
      const run = await runCli(['--config', config, '--json', ...args], { env });
      expect(run.code, run.stderr).toBe(0);
      made.push(JSON.parse(run.stdout) as Sizes & { id: string; type: string });
    }
    expect(made.map((b) => b.type)).toEqual(['full', 'incremental']);
    for (const b of made) {
      const folder = path.join(repo, 'data/testbot', b.id);
      let bytes = 0;
      for (const file of await listFiles(folder)) bytes += (await fs.stat(path.join(folder, file))).size;
      onDisk.set(b.id, bytes);
    }
  });

  afterAll(async () => {
    await redis?.stop();
  });

  const cli = async (...args: string[]) => {
    const run = await runCli(['--config', config, ...args], { env });
    expect(run.code, run.stderr).toBe(0);
    return run.stdout;
  };

  it('an encrypted archive and page map end in .age; the file list, never encrypted, does not', async () => {
    for (const b of made) {
      expect(await listFiles(path.join(repo, 'data/testbot', b.id))).toEqual(['archive.tar.zst.age', 'files.ndjson.zst', 'pagemap-trades.bin.age']);
    }
  });

  it("stored is the bytes under the backup's data folder (an incremental: its own objects only), as backup --json says", () => {
    for (const b of made) expect(b.storedBytes, b.id).toBe(onDisk.get(b.id));
    // What the incremental adds is far less than the full backup it builds on.
    expect(made[1]!.storedBytes).toBeLessThan(made[0]!.storedBytes);
  });

  it('packed is the bytes a restore of the full backup writes', async () => {
    const target = path.join(tmp.dir, 'restored');
    await cli('restore', made[0]!.id, '--target', target);
    let bytes = 0;
    for (const file of await listFiles(target)) bytes += (await fs.stat(path.join(target, file))).size;
    expect(made[0]!.entryBytes).toBe(bytes);
  });

  it('list, show and verify give the same numbers, in JSON and in text', async () => {
    const listed = JSON.parse(await cli('--json', 'list')) as (Sizes & { id: string })[];
    const listText = await cli('list');
    expect(listText.split('\n')[0]).toMatch(/^ID\s+SOURCE\s+TYPE\s+COMPLETED\s+PACKED\s+STORED\s+COPIES$/);
    for (const b of made) {
      const want = { entryBytes: b.entryBytes, storedBytes: onDisk.get(b.id)! };
      expect(
        listed.find((l) => l.id === b.id),
        'list --json',
      ).toMatchObject(want);
      expect(listText).toMatch(new RegExp(`^${b.id} .* ${formatBytes(want.entryBytes)} +${formatBytes(want.storedBytes)} +local:`, 'm'));

      const shown = JSON.parse(await cli('--json', 'show', b.id)) as { stats: Sizes };
      expect({ entryBytes: shown.stats.entryBytes, storedBytes: shown.stats.storedBytes }, 'show --json').toEqual(want);
      expect(await cli('show', b.id)).toContain(`, ${formatBackupSizes(want)} (zstd `);

      const verified = JSON.parse(await cli('--json', 'verify', b.id)) as (Sizes & { ok: boolean })[];
      expect(verified).toHaveLength(1);
      expect(verified[0], 'verify --json').toMatchObject({ ok: true, ...want });
      expect(await cli('verify', b.id)).toMatch(new RegExp(`^ok +${b.id} in "local": \\d+ entr(y|ies), ${formatBackupSizes(want)}, checked in `, 'm'));
    }
  });

  it("status gives the newest good backup's sizes, in JSON and in text", async () => {
    const newest = made[1]!;
    const want = { entryBytes: newest.entryBytes, storedBytes: onDisk.get(newest.id)! };
    const status = JSON.parse(await cli('--json', 'status')) as { sources: { newestGoodBackup: Sizes & { id: string } }[] };
    expect(status.sources[0]!.newestGoodBackup).toMatchObject({ id: newest.id, ...want });
    const text = await cli('status');
    expect(text).toMatch(/^SOURCE\s+NEWEST GOOD BACKUP\s+AGE\s+PACKED\s+STORED\s+STATE\s+LAST JOB$/m);
    expect(text).toMatch(new RegExp(`^testbot +${newest.id} +\\S+ +${formatBytes(want.entryBytes)} +${formatBytes(want.storedBytes)} +ok`, 'm'));
  });

  it('the dashboard gives the same numbers on its page, in /api/backups and in /metrics', async () => {
    const { child, url, exited } = await startDashboardProcess(config, env);
    try {
      const get = async (route: string) => {
        const response = await fetch(url + route, { headers: { Authorization: `Bearer ${TOKEN}` } });
        expect(response.status, route).toBe(200);
        return response.text();
      };
      const api = JSON.parse(await get('api/backups')) as { sources: { sourceId: string; backups: (Sizes & { backupId: string })[] }[] };
      const page = await get('');
      for (const b of made) {
        const want = { entryBytes: b.entryBytes, storedBytes: onDisk.get(b.id)! };
        expect(
          api.sources[0]!.backups.find((v) => v.backupId === b.id),
          'api/backups',
        ).toMatchObject(want);
        const row = new RegExp(`<tr data-backup="${b.id}">.*?</tr>`).exec(page)?.[0];
        expect(row).toContain(`<td class="packed"><span title="${want.entryBytes} bytes">${formatBytes(want.entryBytes)}</span></td>`);
        expect(row).toContain(`<td class="stored"><span title="${want.storedBytes} bytes">${formatBytes(want.storedBytes)}</span></td>`);
      }
      const metrics = await get('metrics');
      expect(metrics).toMatch(new RegExp(`^botbackup_backup_last_stored_bytes\\{source="testbot"\\} ${onDisk.get(made[1]!.id)}$`, 'm'));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
