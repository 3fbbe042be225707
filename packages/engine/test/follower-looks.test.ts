import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
// The built module: it starts follower-child.js (and that, wal-look-worker.js) from its own folder.
import { FollowerProcess } from '../dist/sqlite/follower-process.js';
import { LOOK_SLOTS, LookRing } from '../src/sqlite/wal-looks.js';
import { useTempDir } from '../../../test/helpers/bot.js';

const look = (n: number) => ({ salt: [7, 8] as [number, number], maxFrame: n, at: 1_700_000_000_000 + n });

describe('LookRing', () => {
  it('hands the reader every look since its count, oldest first, then nothing new', () => {
    const ring = new LookRing();
    for (let n = 1; n <= 3; n++) ring.push(look(n));
    const first = ring.since(0);
    expect(first.looks).toEqual([look(1), look(2), look(3)]);
    ring.push(look(4));
    const second = ring.since(first.next);
    expect(second.looks).toEqual([look(4)]);
    expect(ring.since(second.next).looks).toEqual([]);
  });

  it('keeps the newest slots when the reader falls behind, and reads on when the count wraps', () => {
    const ring = new LookRing();
    for (let n = 1; n <= LOOK_SLOTS + 10; n++) ring.push(look(n));
    const behind = ring.since(0);
    expect(behind.looks).toHaveLength(LOOK_SLOTS);
    expect(behind.looks[0]).toEqual(look(11));
    expect(behind.looks.at(-1)).toEqual(look(LOOK_SLOTS + 10));

    // A follower that has run for years: the Int32 count at its largest value, then past it.
    const wrapping = new LookRing();
    new Int32Array(wrapping.buffer, 0, 1)[0] = 2 ** 31 - 2;
    for (let n = 1; n <= 4; n++) wrapping.push(look(n));
    expect(wrapping.since(2 ** 31 - 2).looks).toEqual([look(1), look(2), look(3), look(4)]);
    expect(wrapping.since(wrapping.since(2 ** 31 - 2).next).looks).toEqual([]);
  });
});

describe('the follower process dates commits by its look thread', () => {
  const tmp = useTempDir();

  it('dates each commit after it began and before the next one began, not when the segment is polled', async () => {
    const file = path.join(tmp.dir, 'bot.db');
    const bot = new Database(file);
    bot.pragma('journal_mode = WAL');
    bot.exec('create table trades (id integer primary key, price real)');
    const follower = await FollowerProcess.start(file, { sampleMs: 2, resumeWithinMs: 5_000 });
    try {
      const insert = bot.prepare('insert into trades (price) values (?)');
      const began: number[] = [];
      for (let i = 0; i < 3; i++) {
        began.push(Date.now());
        insert.run(100 + i);
        // Far longer than a look (2 ms): the look thread has seen this commit before the next one.
        await sleep(300);
      }
      const polled = await follower.poll();
      const after = Date.now();
      expect(polled?.commits).toHaveLength(3);
      const dated = polled!.commits.map(([, at]) => at);
      for (let i = 0; i < 3; i++) {
        expect(dated[i]).toBeGreaterThanOrEqual(began[i]!);
        // Dated when polled (a second late in a streamer), every commit would be after the last one began.
        expect(dated[i]).toBeLessThan(i < 2 ? began[i + 1]! : after + 1);
      }
      await follower.ack();
    } finally {
      await follower.close();
      bot.close();
    }
  });
});
