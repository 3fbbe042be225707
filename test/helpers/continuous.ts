import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parseWalSegmentName, type WalSegmentName } from '@botbackup/core';
import { afterEach } from 'vitest';
import { keysYaml, repoRoot, type TestKeys } from './bot.js';

/**
 * What the continuous-protection tests share: child processes (a bot committing trades,
 * `botbackup stream`) with their output, a wait with a deadline, the config of a continuous
 * source, and the segments a repository holds.
 */

/** The bot of these tests: numbered trades at a steady rate (see trade-writer.mjs). */
export const tradeWriter = path.join(repoRoot, 'test/helpers/trade-writer.mjs');

/** A child process with its output kept and ways to wait on it. */
export interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first match of `pattern` in its stdout; fails if it exits first, or after a while. */
  waitFor: (pattern: RegExp, what: string) => Promise<RegExpExecArray>;
  /** Sends SIGTERM (when still running) and waits for the exit code. */
  stop: () => Promise<number | null>;
}

/**
 * `start(args)` runs `node <args>` and tracks it; every process still running when a test ends
 * is killed (SIGKILL) and awaited. Register this after useTempDir, so that it runs first.
 */
export function useProcesses(): (args: string[], options?: { cwd?: string; env?: Record<string, string> }) => Running {
  const children = new Set<ChildProcess>();
  afterEach(async () => {
    const exits = [...children].map(
      (child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve))),
    );
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(exits);
    children.clear();
  });
  return (args, options = {}) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd ?? repoRoot, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (children.delete(child), resolve(code))));
    return {
      child,
      out: () => out,
      err: () => err,
      exited,
      waitFor: (pattern, what) =>
        until(`${what} (stdout: ${out.slice(-2000)}; stderr: ${err})`, async () => {
          const match = pattern.exec(out);
          if (match) return match;
          if (child.exitCode !== null) throw new Error(`${what}: the process exited (${child.exitCode}) first.\nstdout: ${out}\nstderr: ${err}`);
          return undefined;
        }),
      stop: async () => {
        if (child.exitCode === null) child.kill('SIGTERM');
        return exited;
      },
    };
  };
}

/** Polls `check` until it gives a value; fails naming `what` after the deadline (generous: nothing here is timed). */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ContinuousConfigOptions {
  /** The source's `continuous` value (default `true`). */
  continuous?: string;
  keys?: TestKeys;
  /** Local targets by name and folder (default: `local` in <dir>/repo). */
  targets?: { name: string; path: string }[];
  /** More YAML at the end (redis, worker, notify, defaults...). */
  extra?: string;
}

/** A config at <dir>/<name> with one continuous source `bot`: <dir>/bot/trades.db. */
export async function writeContinuousConfig(dir: string, options: ContinuousConfigOptions = {}, name = 'botbackup.yaml'): Promise<string> {
  const file = path.join(dir, name);
  const targets = options.targets ?? [{ name: 'local', path: path.join(dir, 'repo') }];
  await fs.writeFile(
    file,
    `version: 1
sources:
  - id: bot
    root: ${JSON.stringify(path.join(dir, 'bot'))}
    continuous: ${options.continuous ?? 'true'}
    databases:
      - path: trades.db
storage:
${targets.map((t) => `  - { name: ${t.name}, type: local, path: ${JSON.stringify(t.path)} }`).join('\n')}
catalog: ${JSON.stringify(path.join(dir, `${name}.catalog.sqlite`))}
${options.keys ? keysYaml(options.keys) : ''}${options.extra ?? ''}
`,
  );
  return file;
}

/** One shipped segment of the trades database in a repository folder. */
export interface Shipped {
  generation: string;
  key: string;
  file: string;
  name: WalSegmentName;
  size: number;
}

/**
 * The trades database's segments in a repository folder, by generation, then number; with
 * `packs`, its packs instead (a pack holds a run of segments, which stay for minutes after it).
 */
export async function shippedSegments(repo: string, kind: 'segments' | 'packs' = 'segments'): Promise<Shipped[]> {
  const root = path.join(repo, 'wal/bot');
  const found: Shipped[] = [];
  for (const generation of await fs.readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, generation, 'trades');
    for (const file of await fs.readdir(dir).catch(() => [] as string[])) {
      const name = parseWalSegmentName(file);
      if (!name || (name.lastSeq !== undefined) !== (kind === 'packs')) continue;
      const size = (await fs.stat(path.join(dir, file)).catch(() => undefined))?.size ?? 0;
      found.push({ generation, key: `wal/bot/${generation}/trades/${file}`, file: path.join(dir, file), name, size });
    }
  }
  return found.sort((a, b) => (a.generation === b.generation ? a.name.seq - b.name.seq : a.generation < b.generation ? -1 : 1));
}

/** Every trade of a trades database, in id order. */
export function tradeRows(file: string): { id: number; ts: number; symbol: string; price: number; qty: number; note: string }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('select id, ts, symbol, price, qty, note from trades order by id').all() as never;
  } finally {
    db.close();
  }
}
