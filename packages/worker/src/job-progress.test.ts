import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { JobProgress } from '@botbackup/core';
import { JobProgressReporter, type ProgressTarget } from './job-progress.js';

/** A job whose writes take a while, as over the network, and are recorded in the order they land. */
function slowJob(progress: unknown = 0, writeMs = 20): ProgressTarget & { stored: (JobProgress | number)[] } {
  const stored: (JobProgress | number)[] = [];
  return {
    progress,
    stored,
    async updateProgress(p) {
      await delay(writeMs * Math.random());
      stored.push(p);
    },
  };
}

const pack = (done: number, total = 1000) => ({ phase: 'pack' as const, done, total });

describe('JobProgressReporter', () => {
  it('throttles, and a completed job ends with its last phase complete, stored before completed() resolves', async () => {
    const job = slowJob();
    const reporter = new JobProgressReporter(job, 10_000);
    for (let done = 0; done <= 400; done += 100) reporter.report(pack(done));
    await reporter.completed();
    // The first event, then nothing until the interval ends; the end writes the last phase done.
    expect(job.stored).toEqual([
      { ...pack(0), percent: 0 },
      { ...pack(1000), percent: 100 },
    ]);
    reporter.report(pack(500));
    await delay(50);
    expect(job.stored).toHaveLength(2);
  });

  it('writes a held-back event when the interval ends, in order', async () => {
    const job = slowJob();
    const reporter = new JobProgressReporter(job, 50);
    reporter.report(pack(100));
    reporter.report(pack(200));
    reporter.report(pack(300));
    await delay(150);
    expect(job.stored).toEqual([
      { ...pack(100), percent: 10 },
      { ...pack(300), percent: 30 },
    ]);
    await reporter.completed();
    expect(job.stored.at(-1)).toEqual({ ...pack(1000), percent: 100 });
  });

  it('a failed attempt keeps the last phase it really reached, with the code and exit code', async () => {
    const job = slowJob();
    const reporter = new JobProgressReporter(job, 10_000);
    reporter.report({ phase: 'read', done: 100, total: 1000 });
    reporter.report({ phase: 'read', done: 400, total: 1000, subject: 'trades' });
    await reporter.failed('INTEGRITY', 6);
    expect(job.stored.at(-1)).toEqual({
      phase: 'failed',
      code: 'INTEGRITY',
      exitCode: 6,
      last: { phase: 'read', done: 400, total: 1000, subject: 'trades', percent: 40 },
    });
  });

  it('a phase without a total ends at 100% with what it did', async () => {
    const job = slowJob();
    const reporter = new JobProgressReporter(job);
    reporter.report({ phase: 'copy', done: 4096, total: undefined, subject: 'b1' });
    await reporter.completed();
    expect(job.stored.at(-1)).toEqual({ phase: 'copy', done: 4096, total: undefined, subject: 'b1', percent: 100 });
  });

  it("an attempt that reports nothing: an earlier attempt's phase ends complete; its failure is not left behind; nothing stays nothing", async () => {
    const earlier = { phase: 'failed', code: 'STORAGE', exitCode: 5, last: { ...pack(300), percent: 30 } };
    const retried = slowJob(earlier);
    await new JobProgressReporter(retried).completed();
    expect(retried.stored).toEqual([{ ...pack(1000), percent: 100 }]);

    const failedEarly = slowJob({ phase: 'failed', code: 'STORAGE', exitCode: 5 });
    await new JobProgressReporter(failedEarly).completed();
    expect(failedEarly.stored).toEqual([0]);

    const quiet = slowJob(0);
    await new JobProgressReporter(quiet).completed();
    expect(quiet.stored).toEqual([]);

    const failedAgain = slowJob(earlier);
    await new JobProgressReporter(failedAgain).failed('STORAGE', 5);
    expect(failedAgain.stored).toEqual([earlier]);
  });

  it('stop() drops a held-back event (a job moved back to delayed)', async () => {
    const job = slowJob();
    const reporter = new JobProgressReporter(job, 30);
    reporter.report(pack(100));
    reporter.report(pack(200));
    reporter.stop();
    await delay(100);
    expect(job.stored).toEqual([{ ...pack(100), percent: 10 }]);
  });

  it('a write that fails is dropped, and the final one still lands', async () => {
    let calls = 0;
    const stored: unknown[] = [];
    const reporter = new JobProgressReporter(
      {
        async updateProgress(p) {
          if (calls++ === 0) throw new Error('Connection is closed.');
          stored.push(p);
        },
      },
      10_000,
    );
    reporter.report(pack(100));
    await reporter.completed();
    expect(stored).toEqual([{ ...pack(1000), percent: 100 }]);
  });
});
