import fs from 'node:fs/promises';
import path from 'node:path';
import { repositoryKeys } from '@botbackup/core';
import { listBackupIds, loadConfig, readManifest, verifyWal, type PruneResult, type WalVerdict } from '@botbackup/engine';
import { createStore } from '@botbackup/storage';
import { describe, expect, it } from 'vitest';
import { cliBin, makeKeys, runCli, useTempDir, type TestKeys } from './helpers/bot.js';
import { shippedSegments, tradeRows, tradeWriter, until, useProcesses, writeContinuousConfig, type Running, type Shipped } from './helpers/continuous.js';

/**
 * Shipped WAL segments as part of the backup chain (issue 21): prune deletes what no kept
 * backup's point-in-time range needs and nothing else, verify reads every segment and finds a
 * gap, a damaged body and a renamed segment, and replicate fills a target that missed them. Real
 * parts: a bot committing trades in its own process (test/helpers/trade-writer.mjs), the real
 * `botbackup stream` in another, the CLI for every step.
 */

// Prune keeps the newest backup alone; every backup is full (a streamer's first backup would otherwise build on the newest one).
const RETENTION = 'defaults:\n  retention: { keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0, grace: 0s }\n  incremental: { maxChainLength: 0 }\n';

function writeConfig(dir: string, name: string, targets: ('local' | 'second')[], keys: TestKeys): Promise<string> {
  const paths = { local: path.join(dir, 'repo'), second: path.join(dir, 'repo2') };
  // Segments as shipped (packEvery: false): prune at segment granularity; packs in continuous-packs.test.ts.
  return writeContinuousConfig(
    dir,
    { keys, continuous: '{ packEvery: false }', targets: targets.map((t) => ({ name: t, path: paths[t] })), extra: RETENTION },
    name,
  );
}

const segments = shippedSegments;

/** Restores the source as of `at` into a new folder; returns its trades (ids 1..N, checked). */
async function restoreAt(config: string, dir: string, at: number, name: string): Promise<ReturnType<typeof tradeRows>> {
  const target = path.join(dir, name);
  const r = await runCli(['-c', config, 'restore', '--at', new Date(at).toISOString(), '-t', target]);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const rows = tradeRows(path.join(target, 'trades.db'));
  expect(rows.map((t) => t.id)).toEqual(rows.map((_, i) => i + 1));
  return rows;
}

/** The salts of the live database's WAL, from its header. */
async function liveSalt(db: string): Promise<[number, number] | undefined> {
  const header = await fs.readFile(`${db}-wal`).catch(() => undefined);
  return header && header.length >= 32 ? [header.readUInt32BE(16), header.readUInt32BE(20)] : undefined;
}

describe('shipped WAL segments in prune, verify and replicate', () => {
  const tmp = useTempDir();
  const start = useProcesses();

  /** A bot committing 100 trades a second (a checkpoint every 100 pages) and its keys. */
  async function bot(): Promise<{ keys: TestKeys; writer: Running; db: string }> {
    await fs.mkdir(path.join(tmp.dir, 'bot'));
    const keys = await makeKeys(tmp.dir);
    const db = path.join(tmp.dir, 'bot/trades.db');
    const writer = start([tradeWriter, db, path.join(tmp.dir, 'truth.txt'), '100', '100'], { cwd: tmp.dir });
    await writer.waitFor(/ready/, 'the writer to commit');
    return { keys, writer, db };
  }

  /** Starts `botbackup stream` and waits for its generation's first backup; returns it with that backup's id. */
  async function stream(config: string): Promise<{ streamer: Running; base: string; generation: string }> {
    const streamer = start([cliBin, '-c', config, 'stream', '-v'], { cwd: tmp.dir });
    const match = await streamer.waitFor(/Generation (\S+): first backup (\S+) committed/, "the generation's first backup");
    return { streamer, generation: match[1]!, base: match[2]! };
  }

  /** Waits until the repository holds `count` segments of `generation` whose last commit is after `after` (ms). */
  async function segmentsAfter(repo: string, generation: string, after: number, count: number): Promise<Shipped[]> {
    return until(`${count} segments of ${generation} after ${new Date(after).toISOString()}`, async () => {
      const list = (await segments(repo)).filter((s) => s.generation === generation);
      return list.filter((s) => s.name.lastCommitAt > after).length >= count ? list : undefined;
    });
  }

  it('prune keeps every segment a kept backup needs from its position on, deletes the rest, and then whole generations no kept backup is linked to', async () => {
    const { keys, db } = await bot();
    const config = await writeConfig(tmp.dir, 'botbackup.yaml', ['local'], keys);
    const repo = path.join(tmp.dir, 'repo');
    const store = createStore((await loadConfig(config)).storage[0]!);
    const { streamer, generation, base } = await stream(config);
    await segmentsAfter(repo, generation, 0, 3);

    // A second full backup while the streamer ships: its snapshot's WAL position lies in the generation's segments.
    const full = await runCli(['-c', config, 'backup', '--full']);
    expect(full.code, full.stderr).toBe(0);
    const ids = (await listBackupIds(store, 'bot')).map((b) => b.backupId);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(base);
    const second = await readManifest(store, 'bot', ids[1]!);
    const position = second.databases[0]!.wal!;
    expect(position).toBeDefined();
    const shipped = await segmentsAfter(repo, generation, Date.parse(second.completedAt), 3);
    await streamer.stop();

    // The segment that holds the second backup's position: prune's cut.
    const holding = shipped.find(
      (s) =>
        s.name.salt[0] === position.salt[0] &&
        s.name.salt[1] === position.salt[1] &&
        s.name.firstFrame - 1 <= position.frame &&
        position.frame <= s.name.lastFrame,
    );
    expect(holding, JSON.stringify({ position, shipped: shipped.map((s) => s.name) })).toBeDefined();
    const cut = holding!.name.seq;
    expect(cut).toBeGreaterThan(1);
    // A moment after the second backup (a segment's last commit) and one before it (in what prune deletes).
    const later = shipped.filter((s) => s.name.lastCommitAt > Date.parse(second.completedAt))[1]!.name.lastCommitAt;
    const earlier = shipped[0]!.name.lastCommitAt;
    expect(earlier).toBeLessThan(Date.parse(second.startedAt));
    const before = await restoreAt(config, tmp.dir, later, 'before-prune');
    expect(before.length).toBeGreaterThan(0);

    const dry = await runCli(['-c', config, '--json', 'prune', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as PruneResult;
    expect(plan.backups.map((b) => [b.id, b.keep])).toEqual([
      [base, false],
      [second.id, true],
    ]);
    const expectedGone = shipped.filter((s) => s.name.seq < cut).map((s) => s.key);
    expect(plan.wal).toEqual([expect.objectContaining({ id: generation, action: 'trim', delete: expectedGone, deleted: false })]);
    expect((await segments(repo)).length).toBe(shipped.length);
    const dryText = await runCli(['-c', config, 'prune', '--dry-run']);
    expect(dryText.stdout).toContain(`would delete ${cut - 1}`);
    expect(dryText.stdout).toContain(`trades from segment ${cut}: backup ${second.id}`);

    const pruned = await runCli(['-c', config, '--json', 'prune']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as PruneResult).wal).toEqual([expect.objectContaining({ action: 'trim', deleted: true })]);
    const left = await segments(repo);
    expect(left.map((s) => s.name.seq)).toEqual(shipped.filter((s) => s.name.seq >= cut).map((s) => s.name.seq));
    await expect(fs.stat(path.join(repo, repositoryKeys.walGenerationRecord('bot', generation)))).resolves.toBeDefined();
    expect((await listBackupIds(store, 'bot')).map((b) => b.backupId)).toEqual([second.id]);

    // Inside the kept range a point-in-time restore gives what it gave before; before it, none is possible any more.
    expect(await restoreAt(config, tmp.dir, later, 'after-prune')).toEqual(before);
    const gone = await runCli(['-c', config, 'restore', '--at', new Date(earlier).toISOString(), '-t', path.join(tmp.dir, 'too-early')]);
    expect(gone.code, gone.stdout).toBe(7);
    // A pruned prefix is not a gap (the engine's verify: the CLI's would mark the kept backup verified, and prune keeps the newest verified).
    const trimmed = await verifyWal({ stores: [store], sourceId: 'bot', policy: { trusted: [keys.publicKey], insecure: false } });
    expect(trimmed.map((v) => [v.ok, v.segments, v.ranges[0]?.first])).toEqual([[true, left.length, cut]]);

    // The bot checkpoints and restarts its WAL while nothing follows it: the next streamer must start a new generation.
    const oldSalt = left.at(-1)!.name.salt;
    await until('the WAL to restart', async () => {
      const salt = await liveSalt(db);
      return salt && (salt[0] !== oldSalt[0] || salt[1] !== oldSalt[1]) ? true : undefined;
    });
    const next = await stream(config);
    expect(next.generation).not.toBe(generation);
    await segmentsAfter(repo, next.generation, 0, 1);
    await next.streamer.stop();
    const again = await runCli(['-c', config, '--json', 'prune']);
    expect(again.code, again.stderr).toBe(0);
    const result = JSON.parse(again.stdout) as PruneResult;
    expect(
      result.backups.filter((b) => b.keep).map((b) => b.id),
      JSON.stringify(result.backups),
    ).toEqual([next.base]);
    expect(result.wal.map((g) => [g.id, g.action, g.deleted])).toEqual([
      [generation, 'delete', true],
      [next.generation, 'keep', false],
    ]);
    expect(await fs.readdir(path.join(repo, 'wal/bot'))).toEqual([next.generation]);
    expect((await segments(repo)).every((s) => s.generation === next.generation)).toBe(true);
    const verified = await runCli(['-c', config, 'verify', '--all']);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/ok {5}WAL of "bot" in "local": 1 generation\(s\), \d+ segment\(s\)/);
  });

  it('verify reads every segment on every target and names a gap, a damaged body and a renamed segment; replicate fills a target that missed them, and a restore from it alone works', async () => {
    const { keys, writer } = await bot();
    const only = await writeConfig(tmp.dir, 'local.yaml', ['local'], keys);
    const both = await writeConfig(tmp.dir, 'both.yaml', ['local', 'second'], keys);
    const secondOnly = await writeConfig(tmp.dir, 'second.yaml', ['second'], keys);
    const repo = path.join(tmp.dir, 'repo');
    const repo2 = path.join(tmp.dir, 'repo2');
    const { streamer, generation } = await stream(only);
    const shipped = await segmentsAfter(repo, generation, 0, 8);
    await streamer.stop();
    await writer.stop();

    // The second target missed everything: replicate copies the backup and every WAL object, checked, verbatim.
    const replicated = await runCli(['-c', both, '--json', 'replicate']);
    expect(replicated.code, replicated.stderr + replicated.stdout).toBe(0);
    const copied = JSON.parse(replicated.stdout) as { copied: unknown[]; wal: { copied: { to: string; objects: number }[]; failed: unknown[] } };
    expect(copied.copied).toHaveLength(1);
    const all = await segments(repo);
    expect(copied.wal.copied).toEqual([expect.objectContaining({ sourceId: 'bot', to: 'second', objects: all.length + 1 })]);
    expect(copied.wal.failed).toEqual([]);
    for (const s of all) expect(await fs.readFile(s.file.replace(repo, repo2))).toEqual(await fs.readFile(s.file));
    const text = await runCli(['-c', both, 'replicate']);
    expect(text.stdout).toContain(`WAL: 0 object(s) copied, ${all.length + 1} already on every reachable target`);

    const at = all.at(-1)!.name.lastCommitAt;
    const fromFirst = await restoreAt(only, tmp.dir, at, 'from-local');
    expect(await restoreAt(secondOnly, tmp.dir, at, 'from-second')).toEqual(fromFirst);

    const config = await loadConfig(both);
    const stores = config.storage.map(createStore);
    const policy = { trusted: config.signing.trusted, insecure: false };
    const clean = await verifyWal({ stores, sourceId: 'bot', policy });
    expect(clean.map((v) => [v.store, v.ok, v.segments, v.problems])).toEqual([
      ['local', true, all.length, []],
      ['second', true, all.length, []],
    ]);

    // Damage: the second target loses a middle segment and has another renamed; the first has a byte of a body flipped.
    const [gap, damaged, renamed] = [shipped[3]!, shipped[4]!, shipped[5]!];
    await fs.rm(gap.file.replace(repo, repo2));
    const body = await fs.open(damaged.file, 'r+');
    const { size } = await body.stat();
    const last = Buffer.alloc(1);
    await body.read(last, 0, 1, size - 1);
    await body.write(Buffer.from([last[0]! ^ 0xff]), 0, 1, size - 1);
    await body.close();
    const renamedKey = renamed.key.replace(String(renamed.name.lastCommitAt), String(renamed.name.lastCommitAt + 1));
    await fs.rename(renamed.file.replace(repo, repo2), path.join(repo2, renamedKey));

    const found = await verifyWal({ stores, sourceId: 'bot', policy });
    const problems = (v: WalVerdict | undefined) => v!.problems.map((p) => [p.key, p.code]);
    expect(problems(found.find((v) => v.store === 'local'))).toEqual([[damaged.key, 'CHECKSUM_MISMATCH']]);
    expect(problems(found.find((v) => v.store === 'second'))).toEqual([
      [renamedKey, 'BAD_MANIFEST'],
      [damaged.key, 'BROKEN_CHAIN'],
    ]);
    const gapText = found.find((v) => v.store === 'second')!.problems[1]!.error;
    expect(gapText).toContain(`segment ${gap.name.seq} is missing; storage "local" holds them`);
    expect(found.find((v) => v.store === 'second')!.problems[0]!.error).toContain('renamed or tampered with');

    const cli = await runCli(['-c', both, 'verify', '--all']);
    expect(cli.code, cli.stdout + cli.stderr).toBe(6);
    expect(cli.stdout).toContain('FAILED WAL of "bot" in "local"');
    expect(cli.stdout).toContain('FAILED WAL of "bot" in "second"');
    expect(cli.stdout).toContain('does not match the sha256 in its signed header');
    const json = await runCli(['-c', both, '--json', 'verify', '--all']);
    expect(json.code).toBe(6);
    const verdicts = (JSON.parse(json.stdout) as { kind?: string; store: string; ok: boolean }[]).filter((v) => v.kind === 'wal');
    expect(verdicts.map((v) => [v.store, v.ok])).toEqual([
      ['local', false],
      ['second', false],
    ]);

    // Replicate fills what the second target lacks (the deleted segment, the renamed one's true name) from the first; the
    // renamed object, held by the second alone and refused by the check, is not copied anywhere, and the run says so (exit 6).
    const refill = await runCli(['-c', both, '--json', 'replicate']);
    expect(refill.code, refill.stderr).toBe(6);
    expect(refill.stderr).toContain(`${renamedKey} could not be copied to "local"`);
    const refilled = JSON.parse(refill.stdout) as { wal: { copied: unknown[]; badCopies: { key: string; store: string }[] } };
    expect(refilled.wal.copied).toEqual([expect.objectContaining({ to: 'second', objects: 2 })]);
    expect(refilled.wal.badCopies).toEqual([expect.objectContaining({ key: renamedKey, store: 'second' })]);
    await fs.rm(path.join(repo2, renamedKey));
    const after = await verifyWal({ stores, sourceId: 'bot', policy });
    expect(after.map((v) => [v.store, v.ok])).toEqual([
      ['local', false],
      ['second', true],
    ]);
  });
});
