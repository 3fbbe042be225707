import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliBin, makeKeys, runCli, useTempDir, type TestKeys } from './helpers/bot.js';
import { shippedSegments, tradeWriter, until, useProcesses, writeContinuousConfig, type Running } from './helpers/continuous.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook.js';

/**
 * What status, list and the streamer's alert say of continuous protection, against real
 * processes: a bot committing numbered trades (test/helpers/trade-writer.mjs), `botbackup
 * stream` shipping its WAL to a local target, a local webhook receiver. Every wait has a
 * deadline and waits for what it needs; nothing asserts how long anything took.
 */

const receivers: WebhookReceiver[] = [];
/** The processes of the running test (set in the describe block, after its temp folder: they are killed first). */
let start: ReturnType<typeof useProcesses>;

/** Resolves with `promise`, or fails naming `what` after `timeoutMs`. */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function writeConfig(dir: string, options: { notify?: string; keys?: TestKeys } = {}): Promise<string> {
  return writeContinuousConfig(dir, { continuous: '{ alertAfter: 2s }', keys: options.keys, extra: options.notify });
}

/** A bot committing `rate` trades a second into bot/trades.db, once its first commit is made. */
async function startWriter(dir: string, rate = 50): Promise<Running> {
  const truth = path.join(dir, 'truth.txt');
  const before = await lastTradeId(truth);
  const writer = start([tradeWriter, path.join(dir, 'bot/trades.db'), truth, String(rate)]);
  // Its first commit: "ready" is printed only for the first trade of a new database.
  await until('the writer to commit', async () => {
    if (writer.child.exitCode !== null) throw new Error(`the writer exited (${writer.child.exitCode})`);
    return (await lastTradeId(truth)) > before ? true : undefined;
  });
  return writer;
}

/** What a `stream -v` printed so far, by event: segments shipped, the generation's first backup, the alert, shipping again. */
function events(stream: Running): { shipped: number; base: boolean; alert: boolean; recovered: boolean } {
  const out = stream.out();
  if (stream.child.exitCode !== null) throw new Error(`stream exited (${stream.child.exitCode}):\n${out}\n${stream.err()}`);
  return {
    shipped: (out.match(/^trades: segment \d+,/gm) ?? []).length,
    base: /^Generation \S+: first backup \S+ committed\.$/m.test(out),
    alert: /^ALERT: /m.test(out),
    recovered: /^Shipping again/m.test(out),
  };
}

/** The segment files of the repository: their generation, number, last commit and size. */
async function segmentFiles(repo: string): Promise<{ generation: string; seq: number; lastCommitAt: number; size: number; file: string }[]> {
  return (await shippedSegments(repo)).map((s) => ({
    generation: s.generation,
    seq: s.name.seq,
    lastCommitAt: s.name.lastCommitAt,
    size: s.size,
    file: s.file,
  }));
}

/** `status --json`'s continuous part of the source, as the tests read it. */
interface ContinuousJson {
  alertAfterMs: number;
  error: string | null;
  databases: {
    database: string;
    newestShippedCommit: { at: string; ageMs: number; generation: string; seq: number } | null;
    generation: { id: string; segments: number; bytes: number; firstSeq: number | null; firstMissingSeq: number | null } | null;
    unshipped: boolean | null;
    state: string;
    warning: string | null;
  }[];
}

async function statusJson(file: string): Promise<ContinuousJson> {
  const result = await runCli(['--config', file, '--json', 'status']);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { sources: { id: string; continuous: ContinuousJson }[] }).sources.find((s) => s.id === 'bot')!.continuous;
}

/** The id of the last trade in the writer's truth file (0: none). */
async function lastTradeId(truth: string): Promise<number> {
  const text = await fs.readFile(truth, 'utf8').catch(() => '');
  const last = text.trim().split('\n').at(-1);
  return last ? Number(last.split(' ')[0]) : 0;
}

/** The last trade the writer knows it committed: its ts (ms). */
async function lastTradeTs(dir: string): Promise<number> {
  const lines = (await fs.readFile(path.join(dir, 'truth.txt'), 'utf8')).trim().split('\n');
  return Number(lines.at(-1)!.split(' ')[1]);
}

describe('continuous protection: status, list and the alert', () => {
  const tmp = useTempDir();
  start = useProcesses();
  afterEach(() => {
    for (const r of receivers.splice(0)) r.close();
  });

  it('status and list show the newest shipped commit, its generation and segments; a quiet bot is ok, a stopped streamer is BEHIND, a lost segment a GAP', async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    const file = await writeConfig(dir);
    const repo = path.join(dir, 'repo');
    let writer = await startWriter(dir);
    const stream = start([cliBin, '--config', file, '-v', 'stream']);
    await until('three segments and the first backup', async () => {
      const seen = events(stream);
      return seen.shipped >= 3 && seen.base ? true : undefined;
    });

    // The bot goes quiet: once everything it committed is shipped, status says so whatever the age.
    writer.child.kill('SIGTERM');
    expect(await writer.exited).toBe(0);
    const lastTs = await lastTradeTs(dir);
    const quiet = await until('status to see every commit shipped', async () => {
      const c = await statusJson(file);
      return c.databases[0]?.state === 'shipped' ? c : undefined;
    });
    const files = await segmentFiles(repo);
    const newest = files.at(-1)!;
    expect(new Set(files.map((f) => f.generation)).size).toBe(1);
    expect(quiet.alertAfterMs).toBe(2000);
    expect(quiet.error).toBeNull();
    const db = quiet.databases[0]!;
    expect(db).toMatchObject({
      database: 'trades',
      newestShippedCommit: { at: new Date(newest.lastCommitAt).toISOString(), generation: newest.generation, seq: newest.seq },
      generation: { id: newest.generation, segments: files.length, bytes: files.reduce((n, f) => n + f.size, 0), firstSeq: 1, firstMissingSeq: null },
      unshipped: false,
      warning: null,
    });
    // The streamer first saw the bot's last commit no earlier than the bot took its time stamp.
    expect(Date.parse(db.newestShippedCommit!.at)).toBeGreaterThanOrEqual(lastTs);
    expect(db.newestShippedCommit!.ageMs).toBeGreaterThanOrEqual(0);

    const text = await runCli(['--config', file, 'status']);
    expect(text.code, text.stderr).toBe(0);
    const line = `bot trades: newest shipped commit ${new Date(newest.lastCommitAt)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z')} (`;
    expect(text.stdout).toContain('Continuous protection (');
    expect(text.stdout).toContain(line);
    expect(text.stdout).toMatch(
      new RegExp(`generation ${newest.generation}, ${files.length} segments \\([\\d.]+ KiB\\); ok, nothing committed waits unshipped\\n`),
    );
    const list = await runCli(['--config', file, 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`continuous "bot" trades: newest shipped commit [^\\n]+ ago\\), generation ${newest.generation}, ${files.length} segments`),
    );
    const listJson = await runCli(['--config', file, '--json', 'list']);
    expect(Array.isArray(JSON.parse(listJson.stdout))).toBe(true);

    // The streamer stops (SIGKILL) and the bot writes again: once the newest shipped commit is
    // older than alertAfter (2s), status finds committed frames no segment holds.
    stream.child.kill('SIGKILL');
    await stream.exited;
    writer = await startWriter(dir, 20);
    const behind = await until('status to say BEHIND', async () => {
      const c = await statusJson(file);
      return c.databases[0]?.state === 'behind' ? c : undefined;
    });
    expect(behind.databases[0]!.unshipped).toBe(true);
    expect(behind.databases[0]!.warning).toContain('committed frames wait unshipped');
    const behindText = await runCli(['--config', file, 'status']);
    expect(behindText.stdout).toContain('; BEHIND: committed frames wait unshipped');
    writer.child.kill('SIGTERM');
    await writer.exited;

    // A segment lost from the only target: a gap, named.
    const middle = files[1]!;
    await fs.rm(middle.file);
    const gap = await statusJson(file);
    expect(gap.databases[0]!.generation!.firstMissingSeq).toBe(middle.seq);
    expect(gap.databases[0]!.warning).toContain(`segment ${middle.seq} of the newest generation is missing from every target`);
    const gapList = await runCli(['--config', file, 'list']);
    expect(gapList.stdout).toContain(`; GAP: segment ${middle.seq} is missing from every target listed`);
  });

  it('a target that takes nothing: the stale alert reaches the webhook with the source and no secret, then recovery once it takes segments again, and they land', async () => {
    const dir = tmp.dir;
    await fs.mkdir(path.join(dir, 'bot'));
    const hook = await startWebhookReceiver();
    receivers.push(hook);
    const keys = await makeKeys(dir);
    const env = { HOOK_TOKEN: 'hook-token-7f3a9c', HOOK_BEARER: 'bearer-secret-51de0b' };
    const file = await writeConfig(dir, {
      keys,
      notify: `notify: { webhook: "${hook.url}/hook/\${HOOK_TOKEN}", headers: { Authorization: "Bearer \${HOOK_BEARER}" } }`,
    });
    const repo = path.join(dir, 'repo');
    await startWriter(dir, 20);
    const stream = start([cliBin, '--config', file, '-v', 'stream'], { env });
    await until('a segment and the first backup', async () => {
      const seen = events(stream);
      return seen.shipped >= 1 && seen.base ? true : undefined;
    });
    expect(hook.received).toEqual([]);

    // The only target breaks: a file where its folder was (even root cannot write under it).
    await fs.rename(repo, `${repo}.away`);
    await fs.writeFile(repo, 'not a folder\n');
    await within(hook.events(1), 'the stale notification');
    const stale = hook.received[0]!;
    expect(stale).toMatchObject({ event: 'stale', sourceId: 'bot', job: 'stream' });
    expect(String(stale.message)).toMatch(/unshipped/);
    const identity = await fs.readFile(keys.identityFile, 'utf8');
    const secretKey = /AGE-SECRET-KEY-[0-9A-Z]+/.exec(identity)![0];
    for (const secret of [env.HOOK_TOKEN, env.HOOK_BEARER, secretKey]) expect(JSON.stringify(hook.received)).not.toContain(secret);
    expect(hook.authorizations[0]).toBe(`Bearer ${env.HOOK_BEARER}`);
    const shippedBefore = events(stream).shipped;

    // The target comes back: shipping resumes where it stopped, and says so.
    const back = Date.now();
    await fs.rm(repo);
    await fs.rename(`${repo}.away`, repo);
    await within(hook.events(2), 'the recovery notification');
    expect(hook.received[1]).toMatchObject({ event: 'recovery', sourceId: 'bot', job: 'stream' });
    const landed = await until('segments committed after the target came back', async () => {
      const files = await segmentFiles(repo);
      return files.some((f) => f.lastCommitAt >= back) ? files : undefined;
    });
    // One generation, numbered 1, 2, 3... without a gap: nothing the bot committed meanwhile was dropped.
    expect(new Set(landed.map((f) => f.generation)).size).toBe(1);
    expect(landed.map((f) => f.seq)).toEqual(landed.map((_, i) => i + 1));
    expect(events(stream)).toMatchObject({ alert: true, recovered: true });
    expect(events(stream).shipped).toBeGreaterThan(shippedBefore);
  });
});
