import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryKeys, type Config } from '@botbackup/core';
import { listBackupIds, loadConfig, pruneBackups, runBackup, verifyBackup, readManifest } from '@botbackup/engine';
import { createStore, type BackupStore } from '@botbackup/storage';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';

const DAY = 86_400_000;

async function keys(store: BackupStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out.sort();
}

describe('prune: the retention plan applied on every target', () => {
  const tmp = useTempDir();

  /** A bot, two local targets, and backups made at fixed times `daysAgo` before now (full, then incrementals). */
  async function setup(daysAgo: number[], retention = 'daily: 2, weekly: 1, monthly: 1, yearly: 0, grace: 1h') {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const file = await writeConfig(tmp.dir, {
      root,
      repo: path.join(tmp.dir, 'repo'),
      extra: `defaults:\n  orphanGrace: 1h\n  retention: { ${retention} }\n`,
    });
    const text = (await fs.readFile(file, 'utf8')).replace(
      /^compression:/m,
      `  - { name: second, type: local, path: ${JSON.stringify(path.join(tmp.dir, 'repo2'))} }\ncompression:`,
    );
    await fs.writeFile(file, text);
    const config: Config = await loadConfig(file);
    const stores = config.storage.map(createStore);
    const ids: string[] = [];
    const base = Date.now();
    for (const [i, ago] of daysAgo.entries()) {
      const at = new Date(base - ago * DAY);
      const { manifest } = await runBackup({ config, stores, incremental: i % 3 !== 0, now: () => at });
      ids.push(manifest.id);
    }
    return { file, config, stores, ids };
  }

  it('deletes what no rule keeps, from every target, keeps every chain whole, and a second prune deletes nothing', async () => {
    const { config, stores, ids, file } = await setup([40, 39, 38, 20, 19, 12, 11, 10, 3, 2, 1]);
    const dry = await runCli(['--config', file, '--json', 'prune', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { backups: { id: string; keep: boolean; reasons: string[]; deleted: boolean }[] };
    expect(plan.backups.map((b) => b.id)).toEqual(ids);
    expect(plan.backups.every((b) => !b.deleted)).toBe(true);
    // A dry run deletes nothing.
    for (const store of stores) expect((await listBackupIds(store)).map((b) => b.backupId)).toEqual(ids);
    const doomed = plan.backups.filter((b) => !b.keep).map((b) => b.id);
    expect(doomed.length).toBeGreaterThan(0);
    for (const b of plan.backups) expect(b.reasons.length, b.id).toBeGreaterThan(0);

    const real = await pruneBackups({ config, stores });
    expect(real.backups.filter((b) => b.deleted).map((b) => b.id)).toEqual(doomed);
    const kept = ids.filter((id) => !doomed.includes(id));
    for (const store of stores) {
      expect((await listBackupIds(store)).map((b) => b.backupId)).toEqual(kept);
      // No object of a deleted backup is left; every kept backup is whole, with its whole chain.
      for (const id of doomed) expect(await keys(store, repositoryKeys.dataPrefix('testbot', id))).toEqual([]);
      for (const id of kept) {
        const manifest = await readManifest(store, 'testbot', id);
        if (manifest.parent !== null) expect(kept).toContain(manifest.parent);
        await verifyBackup({ store, manifest });
      }
    }
    const again = await pruneBackups({ config, stores });
    expect(again.backups.filter((b) => !b.keep)).toEqual([]);
  });

  it('an interrupted prune (killed between manifests and objects) leaves every listed backup restorable; the next prune finishes the job', async () => {
    const { config, stores, ids } = await setup([30, 29, 28, 2, 1], 'daily: 1, weekly: 0, monthly: 0, yearly: 0, grace: 1h');
    // Fault injection: the first object delete fails, as if the process died right after the manifests went.
    let fail = true;
    const dying = stores.map((store) =>
      Object.create(store, {
        delete: {
          value: async (key: string, options?: { signal?: AbortSignal }) => {
            if (fail && key.startsWith('data/')) throw new Error('killed');
            return store.delete(key, options);
          },
        },
      }),
    ) as BackupStore[];
    await expect(pruneBackups({ config, stores: dying })).rejects.toThrow('killed');
    fail = false;
    const listed = (await listBackupIds(stores[0]!)).map((b) => b.backupId);
    expect(listed.length).toBeLessThan(ids.length);
    for (const store of stores) {
      for (const id of (await listBackupIds(store)).map((b) => b.backupId)) {
        const manifest = await readManifest(store, 'testbot', id);
        await verifyBackup({ store, manifest });
      }
    }
    // What the interruption left are objects of no backup: the next prune removes them (grace 0).
    const next = await pruneBackups({ config: { ...config, orphanGraceMs: 0 }, stores });
    expect(next.leftovers.length).toBeGreaterThan(0);
    for (const store of stores) {
      const owners = new Set((await listBackupIds(store)).map((b) => b.backupId));
      for (const key of await keys(store, 'data/')) expect(owners.has(repositoryKeys.parseDataKey(key)!.backupId), key).toBe(true);
    }
  });

  it('prune prints the plan as a table: kept by which rule, or why it goes', async () => {
    // A full backup 10 days ago with two incrementals on it, and a full one yesterday.
    const { file } = await setup([10, 5, 4, 1], 'daily: 1, weekly: 0, monthly: 0, yearly: 0, grace: 1h');
    const run = await runCli(['--config', file, 'prune', '--dry-run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/BACKUP\s+SOURCE\s+AGE\s+TYPE\s+DECISION\s+KEPT BY \/ WHY IT GOES/);
    expect(run.stdout).toMatch(/would delete/);
    expect(run.stdout).toMatch(/daily \d{4}-\d{2}-\d{2}/);
    expect(run.stdout).toMatch(/no rule keeps it/);
    expect(run.stdout).toMatch(/1 kept, 3 would be deleted \(dry run\)\./);
  });

  it("with the manifests known (the catalog's cache), a prune reads no manifest: its cost is the listing and what it deletes", async () => {
    const { config, stores, ids } = await setup([9, 8, 7, 6, 5, 4, 3, 2, 1], 'daily: 9, weekly: 0, monthly: 0, yearly: 0, grace: 1h');
    const known = new Map(await Promise.all(ids.map(async (id) => [id, await readManifest(stores[0]!, 'testbot', id)] as const)));
    let manifestReads = 0;
    const counting = stores.map((store) =>
      Object.create(store, {
        get: {
          value: (key: string, options?: object) => {
            if (key.startsWith('manifests/')) manifestReads++;
            return store.get(key, options);
          },
        },
      }),
    ) as BackupStore[];
    const result = await pruneBackups({ config, stores: counting, knownManifests: known });
    expect(result.backups.every((b) => b.keep)).toBe(true);
    expect(manifestReads).toBe(0);
    // Without them, every manifest is read once.
    await pruneBackups({ config, stores: counting });
    expect(manifestReads).toBe(ids.length);
  });
});
