import { describe, expect, it } from 'vitest';
import { queueKeys, redisKeys } from './redis-keys.js';
import { parseWorkerHeartbeat, type WorkerHeartbeat } from './worker-heartbeat.js';

const heartbeat: WorkerHeartbeat = {
  name: 'host-a:4242',
  host: 'host-a',
  pid: 4242,
  version: '0.1.0',
  queues: ['backup.bot', 'maintenance'],
  sources: ['bot'],
  concurrency: 1,
  startedAt: '2026-11-26T09:00:00.000Z',
  at: '2026-11-26T09:00:10.000Z',
  intervalMs: 10_000,
};

describe('worker heartbeat', () => {
  it('round-trips through JSON, dropping unknown fields', () => {
    expect(parseWorkerHeartbeat(JSON.stringify(heartbeat))).toEqual(heartbeat);
    expect(parseWorkerHeartbeat(JSON.stringify({ ...heartbeat, token: 'x' }))).toEqual(heartbeat);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '"x"'],
    ['no name', JSON.stringify({ ...heartbeat, name: undefined })],
    ['a queue that is not a string', JSON.stringify({ ...heartbeat, queues: ['backup.bot', 3] })],
    ['a time that is not one', JSON.stringify({ ...heartbeat, at: 'yesterday' })],
    ['pid as a string', JSON.stringify({ ...heartbeat, pid: '4242' })],
  ])('refuses %s', (_name, text) => {
    expect(parseWorkerHeartbeat(text)).toBeUndefined();
  });

  it('keys live under the prefix, never look like a queue key, and the SCAN pattern matches them', () => {
    expect(redisKeys.workerHeartbeat('bb', 'host-a:4242')).toBe('bb:workers:heartbeat:host-a:4242');
    expect(redisKeys.workerHeartbeats('b*b')).toBe('b\\*b:workers:heartbeat:*');
    // A worker named like a BullMQ part is still no queue's key.
    expect(queueKeys.queueOf('bb', redisKeys.workerHeartbeat('bb', 'meta'), 'meta')).toBeUndefined();
  });
});
