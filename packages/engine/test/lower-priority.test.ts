import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/helpers/bot.js';

describe('lowerPriority', () => {
  it('renices every thread of the process, and threads started later inherit it', () => {
    // In a child process, so the test runner keeps its own priority.
    const script = `
      import fs from 'node:fs';
      import os from 'node:os';
      import { Worker } from 'node:worker_threads';
      import { lowerPriority } from '@botbackup/engine';
      const before = os.getPriority();
      const after = lowerPriority(7);
      const threads = fs.readdirSync('/proc/self/task').map((t) => os.getPriority(Number(t)));
      const worker = new Worker('import { parentPort } from "node:worker_threads"; import os from "node:os"; parentPort.postMessage(os.getPriority(0));', { eval: true, type: 'module' });
      worker.once('message', (inWorker) => {
        console.log(JSON.stringify({ before, after, threads, inWorker, again: lowerPriority(3) }));
        process.exit(0);
      });
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' }));
    expect(out.before).toBeLessThan(7);
    expect(out.after).toBe(7);
    expect(out.threads.length).toBeGreaterThan(1);
    expect(out.threads.every((p: number) => p === 7)).toBe(true);
    expect(out.inWorker).toBe(7);
    // It never raises a priority back.
    expect(out.again).toBe(7);
  });
});
