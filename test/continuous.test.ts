import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cliBin, makeKeys, runCli, useTempDir } from './helpers/bot.js';
import { shippedSegments, tradeRows, tradeWriter, until, useProcesses, writeContinuousConfig, type Running } from './helpers/continuous.js';

/**
 * Continuous protection end to end, with real processes: a bot committing numbered trades
 * (test/helpers/trade-writer.mjs), `botbackup stream` shipping its WAL, and restore --at,
 * restore of the newest commit and recover reading the segments back. Kills are SIGKILL.
 */

/** Whether a WAL follower process (follower-child.js) for this database is running: its socket is named by a hash of the database's real path. */
function followerRunning(db: string): boolean {
  const hash = createHash('sha256').update(realpathSync(db)).digest('hex').slice(0, 24);
  // From /proc rather than ps: procps is not among the tools the suite installs.
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .some((pid) => {
      let args: string;
      try {
        args = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return false; // it exited meanwhile
      }
      return args.includes('follower-child.js') && args.includes(hash);
    });
}

/** The shipped segments of the trades database in <dir>/repo. */
const segments = (dir: string) => shippedSegments(path.join(dir, 'repo'));

/** The WAL-index's count of committed frames of a live database (the -shm header, as SQLite writes it on this machine). */
async function committedFrames(db: string): Promise<number> {
  const shm = await fs.readFile(`${db}-shm`);
  return shm.readUInt32LE(16);
}

/** Waits until the newest shipped segment ends at the live database's newest commit (the writer stopped). */
async function caughtUp(dir: string, stream: Running): Promise<void> {
  const db = path.join(dir, 'bot/trades.db');
  await until(`the streamer to ship the last commit (its output: ${stream.out()})`, async () => {
    const last = (await segments(dir)).at(-1);
    return last && last.name.lastFrame === (await committedFrames(db)) ? true : undefined;
  });
}

describe('continuous protection', () => {
  const tmp = useTempDir();
  const start = useProcesses();
  const startWriter = (dir: string, rate = 200) =>
    start([tradeWriter, path.join(dir, 'bot/trades.db'), path.join(dir, 'truth.txt'), String(rate)], { cwd: dir });

  it('ships the WAL encrypted and signed; restore --at gives a consistent past state and the newest restore equals the live database', async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    const config = await writeContinuousConfig(dir, { keys: await makeKeys(dir) });
    const writer = startWriter(dir);
    await writer.waitFor(/ready/, 'the writer');
    const stream = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await stream.waitFor(/first backup \S+ committed/, "the generation's first backup");
    await until('six segments', async () => ((await segments(dir)).length >= 6 ? true : undefined));
    await writer.stop();
    await caughtUp(dir, stream);

    const live = tradeRows(path.join(dir, 'bot/trades.db'));
    const latest = await runCli(['-c', config, 'restore', '--at', new Date(Date.now() + 1000).toISOString(), '-t', path.join(dir, 'latest')]);
    expect(latest.stderr).toBe('');
    expect(latest.code).toBe(0);
    expect(latest.stdout).toMatch(/commit\(s\) from \d+ WAL segment\(s\)/);
    expect(tradeRows(path.join(dir, 'latest/trades.db'))).toEqual(live);

    // Two moments between segments: each gives exactly the first M trades, later moments more.
    const list = await segments(dir);
    const counts: number[] = [];
    for (const k of [2, 4]) {
      const at = new Date(list[k]!.name.lastCommitAt).toISOString();
      const target = path.join(dir, `at-${k}`);
      const result = await runCli(['-c', config, 'restore', '--at', at, '-t', target]);
      expect(result.code, result.stderr).toBe(0);
      const restored = tradeRows(path.join(target, 'trades.db'));
      expect(restored.length).toBeGreaterThan(0);
      expect(restored).toEqual(live.slice(0, restored.length));
      counts.push(restored.length);
    }
    expect(counts[1]!).toBeGreaterThan(counts[0]!);
    expect(counts[1]!).toBeLessThan(live.length);

    // A drill of the streamer's first backup restores it as a recovery would: with every segment after it.
    const drill = await runCli(['-c', config, '--json', 'drill', (await fs.readdir(path.join(dir, 'repo/manifests/bot')))[0]!.replace(/\.json$/, '')]);
    expect(drill.code, drill.stderr).toBe(0);
    const record = JSON.parse(drill.stdout) as { ok: boolean; wal?: { segments: number; commits: number; lastCommitAt: string } };
    expect(record.ok).toBe(true);
    expect(record.wal?.segments).toBeGreaterThanOrEqual(list.length - 1);
    expect(record.wal?.lastCommitAt).toBe(new Date(list.at(-1)!.name.lastCommitAt).toISOString());

    // The segment on disk opens with the stock tools: two header lines, then age, then zstd.
    const header = (
      await fs.readFile(
        path.join(dir, 'repo/wal/bot', list[0]!.generation, 'trades', (await fs.readdir(path.join(dir, 'repo/wal/bot', list[0]!.generation, 'trades')))[0]!),
        'utf8',
      )
    ).split('\n');
    expect(JSON.parse(header[0]!)).toMatchObject({ format: 'botbackup.wal-segment', body: { encryption: { format: 'age' } } });
    expect(JSON.parse(header[1]!)).toMatchObject({ algorithm: 'ed25519' });
    stream.child.kill('SIGTERM');
    expect(await stream.exited).toBe(0);
  });

  it('refuses, in one sentence, what it cannot stream: a missing database, one not in WAL mode, a source not continuous', async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    const config = await writeContinuousConfig(dir);
    const missing = await runCli(['-c', config, 'stream']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toBe(
      `botbackup: Database "trades" not found at ${path.join(dir, 'bot/trades.db')}; check the path in the config or that the bot has created it.\n`,
    );
    const db = new Database(path.join(dir, 'bot/trades.db'));
    db.exec('create table t (x)');
    db.close();
    const rollback = await runCli(['-c', config, 'stream']);
    expect(rollback.code).toBe(4);
    expect(rollback.stderr).toMatch(/^botbackup: Cannot stream source "bot": the database is in journal_mode=delete, not WAL; .*\n$/);
    const plain = await runCli(['-c', await writeContinuousConfig(dir, { continuous: 'false' }, 'plain.yaml'), 'stream']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/^botbackup: Source "bot" is not continuous; set "continuous: true" on it in .*plain\.yaml to stream its WAL\.\n$/);
    // Nothing was written anywhere.
    await expect(fs.readdir(path.join(dir, 'repo'))).rejects.toThrow();
  });

  it('resumes after SIGKILL of the streamer with no frame missing or shipped twice', async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    const config = await writeContinuousConfig(dir);
    const writer = startWriter(dir);
    await writer.waitFor(/ready/, 'the writer');
    const first = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await first.waitFor(/first backup \S+ committed/, "the generation's first backup");
    await until('three segments', async () => ((await segments(dir)).length >= 3 ? true : undefined));
    first.child.kill('SIGKILL');
    await first.exited;
    const before = (await segments(dir)).length;

    // The killed streamer's follower still holds the WAL: the next streamer attaches to it.
    expect(followerRunning(path.join(dir, 'bot/trades.db'))).toBe(true);
    const second = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await second.waitFor(/Continuing generation/, 'the resumed streamer');
    expect(second.out()).not.toMatch(/New generation/);
    await until('three more segments', async () => ((await segments(dir)).length >= before + 3 ? true : undefined));
    await writer.stop();
    await caughtUp(dir, second);

    const list = await segments(dir);
    expect(new Set(list.map((s) => s.generation)).size).toBe(1);
    for (const [i, s] of list.entries()) {
      expect(s.name.seq).toBe(i + 1);
      const prev = list[i - 1]?.name;
      if (prev && prev.salt[0] === s.name.salt[0] && prev.salt[1] === s.name.salt[1]) expect(s.name.firstFrame).toBe(prev.lastFrame + 1);
      else if (prev) expect(s.name.firstFrame).toBe(1);
    }
    const restored = await runCli(['-c', config, 'restore', '--at', new Date(Date.now() + 1000).toISOString(), '-t', path.join(dir, 'out')]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(tradeRows(path.join(dir, 'out/trades.db'))).toEqual(tradeRows(path.join(dir, 'bot/trades.db')));
    // A second streamer of the same database beside a live one is refused in one sentence.
    const third = await runCli(['-c', config, 'stream']);
    expect(third.code).toBe(2);
    expect(third.stderr).toMatch(/^botbackup: Another streamer is following .*trades\.db \(its WAL follower serves it\); stop that one first\.\n$/);
    second.child.kill('SIGTERM');
    await second.exited;
    // A stopped streamer ends its follower: the WAL is the bot's alone again.
    await until('the follower to end', async () => (followerRunning(path.join(dir, 'bot/trades.db')) ? undefined : true));
  });

  it('starts a new generation when the WAL was emptied after the follower of a killed streamer gave up', async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    const config = await writeContinuousConfig(dir, { continuous: '{ resumeWithin: 1s }' });
    const writer = startWriter(dir);
    await writer.waitFor(/ready/, 'the writer');
    const first = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await first.waitFor(/first backup \S+ committed/, "the generation's first backup");
    await until('two segments', async () => ((await segments(dir)).length >= 2 ? true : undefined));
    first.child.kill('SIGKILL');
    await first.exited;
    const db = path.join(dir, 'bot/trades.db');
    await until('the orphaned follower to give up', async () => (followerRunning(db) ? undefined : true));
    await writer.stop();
    // Nothing holds the WAL now: the bot's checkpoint copies every frame and empties it.
    const bot = new Database(db);
    expect((bot.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]!.busy).toBe(0);
    bot.close();

    const second = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await second.waitFor(/New generation \S+: generation \S+ cannot be continued/, 'a new generation');
    await second.waitFor(/first backup \S+ committed/, "the new generation's first backup");
    second.child.kill('SIGTERM');
    await second.exited;
    // The newest state is the new generation's first backup: a restore of now equals the database.
    const restored = await runCli(['-c', config, 'restore', '--at', new Date(Date.now() + 1000).toISOString(), '-t', path.join(dir, 'out')]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(tradeRows(path.join(dir, 'out/trades.db'))).toEqual(tradeRows(db));
  });

  it('recovers a lost disk from the shipped WAL: every trade shipped before the loss, exactly', async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    const config = await writeContinuousConfig(dir);
    const writer = startWriter(dir);
    await writer.waitFor(/ready/, 'the writer');
    const stream = start([cliBin, '-c', config, 'stream'], { cwd: dir });
    await stream.waitFor(/first backup \S+ committed/, "the generation's first backup");
    // Trades the bot knows are committed now; two segments later (the second polled after the first
    // was stored, so after now) every one of them is shipped.
    const known = (await fs.readFile(path.join(dir, 'truth.txt'), 'utf8')).trim().split('\n').length;
    const seen = (await segments(dir)).length;
    await until('two more segments', async () => ((await segments(dir)).length >= seen + 2 ? true : undefined));
    writer.child.kill('SIGKILL');
    await writer.exited;
    for (const suffix of ['', '-wal', '-shm']) await fs.rm(path.join(dir, `bot/trades.db${suffix}`), { force: true });
    await stream.waitFor(/Shipping stopped/, 'the streamer noticing the lost database');
    stream.child.kill('SIGTERM');
    await stream.exited;

    const recovered = await runCli(['-c', config, 'recover']);
    expect(recovered.code, recovered.stderr).toBe(12);
    expect(recovered.stdout).toMatch(/shipped WAL segment/);
    const restored = tradeRows(path.join(dir, 'bot/trades.db'));
    const truth = (await fs.readFile(path.join(dir, 'truth.txt'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => line.split(' ').slice(0, 2).map(Number) as [number, number]);
    expect(restored.length).toBeGreaterThanOrEqual(known);
    // The truth line is written after the commit returns: a kill between the two leaves one trade out of it.
    expect(restored.length).toBeLessThanOrEqual(truth.length + 1);
    const shown = Math.min(restored.length, truth.length);
    expect(restored.slice(0, shown).map((t) => [t.id, t.ts])).toEqual(truth.slice(0, shown));
    expect(restored.map((t) => t.id)).toEqual(restored.map((_, i) => i + 1));
  });
});
