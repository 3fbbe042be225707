import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach } from 'vitest';
import { cliBin } from './bot.js';

/** A `botbackup worker` process, with a way to wait for a log line. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the first log record (JSON line on stderr) that matches. */
  waitFor(match: (record: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  /** Every log record so far. */
  records: Record<string, unknown>[];
}

/** Starts `botbackup --config <config> worker <args>` as a child process that logs JSON lines. */
export function startWorkerProcess(config: string, ...args: string[]): WorkerProcess {
  const child = spawn(process.execPath, [cliBin, '--config', config, 'worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const records: Record<string, unknown>[] = [];
  const waiters: { match: (r: Record<string, unknown>) => boolean; resolve: (r: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    records.push(record);
    for (const w of waiters.splice(0)) {
      if (w.match(record)) w.resolve(record);
      else waiters.push(w);
    }
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    records,
    waitFor: (match) =>
      new Promise((resolve, reject) => {
        const seen = records.find(match);
        if (seen) return resolve(seen);
        waiters.push({ match, resolve });
        void exited.then((code) => reject(new Error(`the worker exited (${code}) before the awaited log line`)));
      }),
  };
}

/** The worker processes a describe block starts (push them here): each is killed with SIGKILL, and awaited, after every test. */
export function useWorkerProcesses(): WorkerProcess[] {
  const workers: WorkerProcess[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  });
  return workers;
}
