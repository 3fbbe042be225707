import { describe, expect, it } from 'vitest';
import { JOB_TYPES } from './config/index.js';
import { JobPayloadError, jobPayloadSchema, jobProgressSchema, jobResultSchema, parseJobPayload } from './job-contract.js';

describe('parseJobPayload', () => {
  it('accepts a payload of every job type of the config, keeping known fields and dropping undefined ones', () => {
    const payloads = {
      full: { type: 'full', sourceId: 'bot', scheduleId: 'weekly' },
      incremental: { type: 'incremental', sourceId: 'bot' },
      verify: { type: 'verify', sourceId: 'bot', backup: 'latest', deep: true },
      prune: { type: 'prune', sourceId: 'bot', scheduleId: 'nightly-prune' },
      replicate: { type: 'replicate' },
      drill: { type: 'drill', sourceId: 'bot', backup: '20261126T020000Z-ab12', store: 'local' },
    } as const;
    expect(Object.keys(payloads).sort()).toEqual([...JOB_TYPES].sort());
    for (const payload of Object.values(payloads)) expect(parseJobPayload(payload)).toEqual(payload);
    // As JSON gives it back: no key for an undefined field, nothing the contract does not know.
    const parsed = parseJobPayload({ type: 'replicate', sourceId: undefined, scheduleId: 'r', data: 'x' });
    expect(Object.keys(parsed)).toEqual(['type', 'scheduleId']);
  });

  it('refuses a payload that breaks the contract, naming every problem in one sentence', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'full' }, /\(sourceId: Invalid input: expected string, received undefined\)/],
      [{ type: 'drill', sourceId: 3, scheduleId: 4 }, /\(sourceId: .*received number; scheduleId: .*received number\)/],
      [
        { type: 'backup', sourceId: 'bot' },
        /\(type: Invalid discriminator value\. Expected 'full' \| 'incremental' \| 'verify' \| 'prune' \| 'replicate' \| 'drill'\)/,
      ],
      [{ type: 'verify', deep: 'yes' }, /\(deep: Invalid input: expected boolean, received string\)/],
      [null, /\(Invalid input: expected object, received null\)/],
    ];
    for (const [value, message] of cases) {
      const error = (() => {
        try {
          parseJobPayload(value);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(JobPayloadError);
      expect((error as JobPayloadError).code).toBe('JOB_INVALID');
      expect((error as JobPayloadError).exitCode).toBe(2);
      expect((error as Error).message).toMatch(/^The job's payload is not a valid botbackup job \(.+\); it was not run\.$/);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('has one payload and one result per job type, and no other', () => {
    const types = (options: readonly { shape: { type: { options?: readonly string[]; value?: string } } }[]) =>
      options.flatMap((o) => o.shape.type.options ?? [o.shape.type.value!]).sort();
    expect(types(jobPayloadSchema.options)).toEqual([...JOB_TYPES].sort());
    expect(types(jobResultSchema.options)).toEqual([...JOB_TYPES].sort());
  });
});

describe('job results and progress', () => {
  it('reads back what the worker stores', () => {
    expect(jobResultSchema.parse({ type: 'full', sourceId: 'bot', skipped: 'another job (7) is working on source "bot"' })).toMatchObject({
      skipped: expect.any(String),
    });
    expect(jobResultSchema.parse({ type: 'replicate', copied: 2, removed: 0 })).toEqual({ type: 'replicate', copied: 2, removed: 0 });
    expect(jobResultSchema.safeParse({ type: 'verify', sourceId: 'bot' }).success).toBe(false);
    // A phase with no known total is stored without one (JSON drops undefined).
    expect(jobProgressSchema.parse({ phase: 'copy', done: 4096, subject: 'b1', percent: 100 })).toEqual({
      phase: 'copy',
      done: 4096,
      subject: 'b1',
      percent: 100,
    });
    expect(jobProgressSchema.parse({ phase: 'failed', code: 'STORAGE', exitCode: 5 })).toEqual({ phase: 'failed', code: 'STORAGE', exitCode: 5 });
  });
});
