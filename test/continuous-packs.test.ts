import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBin, makeKeys, runCli, useTempDir } from './helpers/bot.js';
import { shippedSegments, tradeRows, tradeWriter, until, useProcesses, writeContinuousConfig } from './helpers/continuous.js';

/**
 * Packs (docs/continuous.md, "Storage: packs"), with real processes: a bot committing numbered
 * trades, `botbackup stream` shipping and packing its WAL, and restore --at, verify and prune
 * reading packs back.
 */
/** Waits until the newest segment or pack ends at the WAL-index's count of committed frames (the writer stopped). */
async function everyCommitShipped(repo: string, db: string): Promise<void> {
  await until('the last commit shipped', async () => {
    const all = [...(await shippedSegments(repo)), ...(await shippedSegments(repo, 'packs'))];
    const last = (s: (typeof all)[number]) => s.name.lastSeq ?? s.name.seq;
    const newest = all.sort((a, b) => (a.generation === b.generation ? last(a) - last(b) : a.generation < b.generation ? -1 : 1)).at(-1);
    return newest?.name.lastFrame === (await fs.readFile(`${db}-shm`)).readUInt32LE(16) ? true : undefined;
  });
}

describe('continuous protection: packs', () => {
  const tmp = useTempDir();
  const start = useProcesses();

  it('a pack restores to a moment exactly as its segments do; verify checks it; prune deletes the segments it holds', async () => {
    const dir = tmp.dir;
    const repo = path.join(dir, 'repo');
    const db = path.join(dir, 'bot/trades.db');
    await fs.mkdir(path.join(dir, 'bot'));
    // A window longer than the test: the one pack is the one a stop stores, and its segments stay.
    const config = await writeContinuousConfig(dir, { keys: await makeKeys(dir), continuous: '{ packEvery: 1h }' });
    const writer = start([tradeWriter, db, path.join(dir, 'truth.txt'), '200'], { cwd: dir });
    await writer.waitFor(/ready/, 'the writer');
    const stream = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await stream.waitFor(/first backup \S+ committed/, "the generation's first backup");
    await until('five segments', async () => ((await shippedSegments(repo)).length >= 5 ? true : undefined));
    await writer.stop();
    await everyCommitShipped(repo, db);
    stream.child.kill('SIGTERM');
    expect(await stream.exited).toBe(0);

    const packs = await shippedSegments(repo, 'packs');
    const segments = await shippedSegments(repo);
    expect(packs.length).toBeGreaterThanOrEqual(1);
    const pack = packs[0]!;
    const held = segments.filter((s) => s.generation === pack.generation && s.name.seq >= pack.name.seq && s.name.seq <= pack.name.lastSeq!);
    // Every segment it holds is still there (a stop deletes none), and it is smaller than they are together.
    expect(held.map((s) => s.name.seq)).toEqual(Array.from({ length: pack.name.lastSeq! - pack.name.seq + 1 }, (_, i) => pack.name.seq + i));
    expect(pack.size).toBeLessThan(held.reduce((n, s) => n + s.size, 0));

    // A moment inside the pack: read from the pack, then (the pack moved away) from its segments.
    const at = new Date(held[Math.floor(held.length / 2)]!.name.lastCommitAt).toISOString();
    const fromPack = await runCli(['-c', config, 'restore', '--at', at, '-t', path.join(dir, 'from-pack')]);
    expect(fromPack.code, fromPack.stderr).toBe(0);
    await fs.rename(pack.file, path.join(dir, 'pack-aside'));
    const fromSegments = await runCli(['-c', config, 'restore', '--at', at, '-t', path.join(dir, 'from-segments')]);
    expect(fromSegments.code, fromSegments.stderr).toBe(0);
    await fs.rename(path.join(dir, 'pack-aside'), pack.file);
    const live = tradeRows(db);
    const restored = tradeRows(path.join(dir, 'from-pack/trades.db'));
    expect(restored.length).toBeGreaterThan(0);
    expect(restored.length).toBeLessThan(live.length);
    expect(restored).toEqual(live.slice(0, restored.length));
    expect(tradeRows(path.join(dir, 'from-segments/trades.db'))).toEqual(restored);

    // verify reads the pack like a segment (signature, header against key, sha256) and finds no gap.
    const verified = await runCli(['-c', config, 'verify', '--all']);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    // A pack that does not check out (one byte of its body flipped) keeps its segments from prune.
    const good = await fs.readFile(pack.file);
    const bad = Buffer.from(good);
    bad[bad.length - 1]! ^= 0xff;
    await fs.writeFile(pack.file, bad);
    const refused = await runCli(['-c', config, '--json', 'prune']);
    expect(refused.code, refused.stderr).toBe(0);
    expect((JSON.parse(refused.stdout) as { leftovers: unknown[] }).leftovers).toEqual([]);
    expect((await shippedSegments(repo)).length).toBe(segments.length);
    await fs.writeFile(pack.file, good);
    // prune deletes the segments the checked pack holds, and nothing else.
    const pruned = await runCli(['-c', config, '--json', 'prune']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const removed = (JSON.parse(pruned.stdout) as { leftovers: { key: string }[] }).leftovers.map((l) => l.key).sort();
    expect(removed).toEqual(held.map((s) => s.key).sort());
    expect((await shippedSegments(repo)).map((s) => s.key)).toEqual(segments.filter((s) => !held.includes(s)).map((s) => s.key));
    expect((await shippedSegments(repo, 'packs')).map((p) => p.key)).toEqual(packs.map((p) => p.key));
    const latest = await runCli(['-c', config, 'restore', '--at', new Date(Date.now() + 1000).toISOString(), '-t', path.join(dir, 'latest')]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(tradeRows(path.join(dir, 'latest/trades.db'))).toEqual(live);
  });

  it('the streamer stores a pack every packEvery and deletes the segments it holds one packEvery later', async () => {
    const dir = tmp.dir;
    const repo = path.join(dir, 'repo');
    const db = path.join(dir, 'bot/trades.db');
    await fs.mkdir(path.join(dir, 'bot'));
    const config = await writeContinuousConfig(dir, { continuous: '{ packEvery: 2s }' });
    const writer = start([tradeWriter, db, path.join(dir, 'truth.txt'), '200'], { cwd: dir });
    await writer.waitFor(/ready/, 'the writer');
    const stream = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await stream.waitFor(/first backup \S+ committed/, "the generation's first backup");
    const packed = await until(`a pack whose segments are gone (${stream.out()})`, async () => {
      const segments = await shippedSegments(repo);
      const pack = (await shippedSegments(repo, 'packs'))[0];
      if (!pack || segments.length === 0) return undefined;
      return segments.some((s) => s.generation === pack.generation && s.name.seq <= pack.name.lastSeq!) ? undefined : pack;
    });
    // The segments after it go on from where it ends.
    expect((await shippedSegments(repo))[0]!.name.seq).toBeGreaterThan(packed.name.lastSeq!);
    await writer.stop();
    await everyCommitShipped(repo, db);
    stream.child.kill('SIGTERM');
    expect(await stream.exited).toBe(0);
    const latest = await runCli(['-c', config, 'restore', '--at', new Date(Date.now() + 1000).toISOString(), '-t', path.join(dir, 'latest')]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(tradeRows(path.join(dir, 'latest/trades.db'))).toEqual(tradeRows(db));
  });
});
