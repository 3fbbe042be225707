import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliBin, createBot, repoRoot, runCli, useTempDir, writeConfig } from './helpers/bot.js';

/**
 * Progress and logs as a person and a script see them: the real CLI in a real terminal (a pty
 * made by util-linux `script`, 120 columns), through pipes, with -q, -v, --json and --log-file.
 * Assertions are on the bytes written, never on how long anything took.
 */

/**
 * The command line that runs the CLI with every pread64 (SQLite's page reads) delayed by 20 µs
 * under strace: an integrity check of the test's database (about 50,000 page reads) then takes
 * over a second on any machine, so that it is seen under way (drawn ten times a second, reported
 * every 250 ms) whatever the machine's speed. The rest of the CLI reads in large chunks and
 * hardly slows.
 */
const SLOW_PAGE_READS = ['strace', '-f', '-qq', '-o', '/dev/null', '--seccomp-bpf', '-e', 'trace=pread64', '-e', 'inject=pread64:delay_enter=20'];

/** Runs the CLI in a pseudo-terminal; returns everything it wrote (stdout and stderr share the terminal). */
function runInTerminal(args: string[], prefix: string[] = []): Promise<{ code: number; output: string }> {
  const quoted = [...prefix, process.execPath, cliBin, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `stty cols 120 rows 40; exec ${quoted}`, '/dev/null'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

/** The lines left on screen: what follows the last "erase line" of each line, without carriage returns. */
function screenLines(output: string): string[] {
  return output.split('\n').map((line) => (line.split('\x1b[2K').at(-1) ?? '').replaceAll('\r', ''));
}

/** Every state a live line was drawn in (each redraw starts with a carriage return and an erase). */
function drawnStates(output: string): string[] {
  return output.split(/\r\x1b\[2K|\x1b\[1A\x1b\[2K|\n/).map((s) => s.replaceAll('\r', ''));
}

const ANY_ESCAPE = /\x1b\[|\r/;

interface ProgressLine {
  event: string;
  phase: string;
  subject?: string;
  state: string;
  done: number;
  total: number | null;
  unit: string;
  percent: number | null;
  rate: number | null;
  eta: number | null;
  elapsed: number;
}

describe('progress and logs', () => {
  const tmp = useTempDir('all');
  let config: string;

  beforeAll(async () => {
    const root = path.join(tmp.dir, 'bot');
    // About 100 MiB: each phase takes a few hundred milliseconds at least, so that it is drawn
    // (and reported with --json, every 250 ms) while under way, not only at its end.
    await createBot(root, { deals: 600_000 });
    config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
  });

  it('on a terminal: one line per phase redrawn in place, each ended with 100% and a newline, then the summary; no log lines', async () => {
    const { code, output } = await runInTerminal(['-c', config, 'backup']);
    expect(code, output).toBe(0);
    const lines = screenLines(output);
    expect(lines).toContainEqual(expect.stringMatching(/^snapshot trades +100% +\d+ pages +\d+ pages\/s +\d+\.\d s$/));
    expect(lines).toContainEqual(expect.stringMatching(/^pack +100% +[\d.]+ MiB +[\d.]+ [KMG]iB\/s +\d+\.\d s$/));
    // Redrawn in place, with percent, amount, rate and ETA while it runs.
    expect(output).toContain('\r\x1b[2K');
    expect(drawnStates(output)).toContainEqual(expect.stringMatching(/^pack +\d{1,2}% +[\d.]+ [KM]iB \/ [\d.]+ MiB +[\d.]+ [KMG]iB\/s +ETA \d+\.\d s$/));
    // The summary starts on a line of its own, after the last phase's line.
    const summary = lines.findIndex((l) => /^Full backup \S+ of "testbot": .* in \d+\.\d s\.$/.test(l));
    expect(summary, output).toBeGreaterThan(lines.findIndex((l) => l.startsWith('pack ') && l.includes('100%')));
    expect(lines[summary + 1]).toMatch(/^ {2}stored in "local" \(/);
    expect(output).not.toMatch(/INFO|backup committed|backup started/);
  });

  it('restore --deep on a terminal: read and a moving integrity check, each left as one line, then the summary', async () => {
    const target = path.join(tmp.dir, 'restored');
    const { code, output } = await runInTerminal(['-c', config, 'restore', 'latest', '--deep', '--target', target], SLOW_PAGE_READS);
    expect(code, output).toBe(0);
    const lines = screenLines(output);
    // (A phase done in one step has no rate to show.)
    expect(lines).toContainEqual(expect.stringMatching(/^read +100% +[\d.]+ MiB +([\d.]+ [KMG]iB\/s +)?\d+\.\d s$/));
    expect(lines).toContainEqual(expect.stringMatching(/^integrity check data\/trades\.db +100% +[\d.]+ MiB +[\d.]+ [KMG]iB\/s +\d+\.\d s$/));
    // The integrity check moves: drawn between its start and its end.
    expect(drawnStates(output)).toContainEqual(expect.stringMatching(/^integrity check data\/trades\.db +([1-9]|[1-9]\d)% +[\d.]+ MiB \/ [\d.]+ MiB /));
    expect(lines).toContainEqual(expect.stringMatching(/^Restored backup \S+ from "local": .* into .*restored in \d+\.\d s\.$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}data\/trades\.db: sha256 [0-9a-f]{64} matches the backup, integrity_check ok$/));
  });

  it('no progress at all when stderr is a pipe, nor with -q on a terminal; the summary stays', async () => {
    const piped = await runCli(['-c', config, 'backup']);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toMatch(/^Full backup \S+ of "testbot"/);

    const quiet = await runInTerminal(['-c', config, '-q', 'backup']);
    expect(quiet.code, quiet.output).toBe(0);
    expect(quiet.output).not.toMatch(/%|\x1b\[/);
    // -q: no informational output either, only what goes wrong.
    expect(quiet.output.trim()).toBe('');
  });

  it('--json: progress events as JSON lines on stderr, one object each, and the result alone on stdout', async () => {
    const target = path.join(tmp.dir, 'restored-json');
    const r = await runCli([...SLOW_PAGE_READS, process.execPath, cliBin, '-c', config, '--json', 'restore', 'latest', '--deep', '--target', target], {
      raw: true,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ target, databases: [{ path: 'data/trades.db', integrityCheck: 'ok' }] });
    expect(r.stderr).not.toMatch(ANY_ESCAPE);
    const events = r.stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ProgressLine);
    for (const e of events) {
      expect(Object.keys(e).sort()).toEqual(
        ['event', 'phase', 'state', 'done', 'total', 'unit', 'percent', 'rate', 'eta', 'elapsed', ...(e.subject === undefined ? [] : ['subject'])].sort(),
      );
      expect(e).toMatchObject({ event: 'progress', unit: 'bytes' });
      expect(e.done).toBeLessThanOrEqual(e.total!);
    }
    for (const phase of ['read', 'integrity']) {
      const mine = events.filter((e) => e.phase === phase);
      // Each phase ends with one "done" event, at its total, and none after it.
      expect(mine.filter((e) => e.state === 'done')).toHaveLength(1);
      expect(mine.at(-1)).toMatchObject({ state: 'done', percent: 100, eta: 0 });
      expect(mine.at(-1)!.done).toBe(mine.at(-1)!.total);
      expect(mine.slice(0, -1).every((e) => e.state === 'running' && e.percent! < 100)).toBe(true);
    }
    // The integrity check moves: an event between its start and its end.
    expect(events.some((e) => e.phase === 'integrity' && e.state === 'running' && e.done > 0 && e.done < e.total!)).toBe(true);
  });

  it('logs: warnings only by default, -v adds info, --log-file gets info as JSON lines whatever stderr shows', async () => {
    const verbose = await runCli(['-c', config, '-v', 'backup']);
    expect(verbose.code, verbose.stderr).toBe(0);
    const records = verbose.stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(['backup started', 'database snapshot taken and checked', 'backup committed']));
    expect(records.every((r) => r.level === 30)).toBe(true);

    const logFile = path.join(tmp.dir, 'logs/botbackup.log');
    const logged = await runCli(['-c', config, 'backup'], { env: { BOTBACKUP_LOG_FILE: logFile } });
    expect(logged.code, logged.stderr).toBe(0);
    expect(logged.stderr).toBe('');
    const flagged = await runCli(['-c', config, '--log-file', logFile, 'backup']);
    expect(flagged.code, flagged.stderr).toBe(0);
    const inFile = (await fs.readFile(logFile, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; backupId: string });
    // Appended: both backups, each from start to commit.
    const committed = inFile.filter((r) => r.msg === 'backup committed').map((r) => r.backupId);
    expect(committed).toHaveLength(2);
    expect(logged.stdout).toContain(committed[0]);
    expect(flagged.stdout).toContain(committed[1]);
  });
});
