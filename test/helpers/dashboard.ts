import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cliBin } from './bot.js';

/** `botbackup dashboard` running as a process of its own. */
export interface DashboardProcess {
  child: ChildProcess;
  /** The URL it printed ("Dashboard at <url>"), ending in a slash. */
  url: string;
  /** What it wrote to stderr so far. */
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts `botbackup --config <config> dashboard --port 0 [args]` with `env` added to this
 * process's, and resolves once it printed its URL; rejects (with its stderr) if it exits first.
 * The caller stops it (`child.kill`, then `exited`).
 */
export async function startDashboardProcess(config: string, env: Record<string, string> = {}, ...args: string[]): Promise<DashboardProcess> {
  const child = spawn(process.execPath, [cliBin, '--config', config, 'dashboard', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /Dashboard at (http:\/\/\S+\/)/.exec(line);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`botbackup dashboard exited (${code}) before printing its URL:\n${stderr}`)));
  });
  return { child, url, stderr: () => stderr, exited };
}
