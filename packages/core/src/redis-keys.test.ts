import { describe, expect, it } from 'vitest';
import { drillKeys, queueKeys, queueNames, redisKeys } from './redis-keys.js';

describe('redis keys', () => {
  it('names the queues, and tells a backup queue’s source', () => {
    expect(queueNames.backup('bot')).toBe('backup.bot');
    expect(queueNames.sourceOf(queueNames.backup('bot'))).toBe('bot');
    expect(queueNames.sourceOf(queueNames.maintenance)).toBeUndefined();
  });

  it('builds BullMQ’s keys of a queue, the pattern that finds them, and the queue back from a key', () => {
    expect(queueKeys.of('bb', 'backup.bot', 'meta')).toBe('bb:backup.bot:meta');
    expect(queueKeys.pattern('bb', 'meta')).toBe('bb:*:meta');
    // A prefix with glob characters matches only itself.
    expect(queueKeys.pattern('b*[x]', 'meta')).toBe('b\\*\\[x\\]:*:meta');
    expect(queueKeys.queueOf('bb', 'bb:backup.bot:meta', 'meta')).toBe('backup.bot');
    // A job's key under a queue, another prefix, or no queue at all: not a queue's.
    expect(queueKeys.queueOf('bb', 'bb:backup.bot:repeat:daily:meta', 'meta')).toBeUndefined();
    expect(queueKeys.queueOf('bb', 'other:backup.bot:meta', 'meta')).toBeUndefined();
    expect(queueKeys.queueOf('bb', 'bb::meta', 'meta')).toBeUndefined();
  });

  it('keeps every key of ours under the prefix, as the ACL pattern allows', () => {
    const keys = [
      redisKeys.sourceLock('bb', 'bot'),
      redisKeys.health('bb', { type: 'verify', sourceId: 'bot', scheduleId: 'nightly' }),
      redisKeys.health('bb', { type: 'replicate' }),
      redisKeys.staleHealth('bb', 'bot'),
      redisKeys.staleCheck('bb'),
      redisKeys.staleNotified('bb', 'bot'),
      drillKeys.copies('bb', 'bot'),
      drillKeys.last('bb', 'bot'),
    ];
    // The shapes deployed Redis servers hold: a change would orphan them.
    expect(keys).toEqual([
      'bb:lock:source:bot',
      'bb:health:schedule:nightly',
      'bb:health:replicate:*',
      'bb:health:stale:bot',
      'bb:stale-check',
      'bb:stale-notified:bot',
      'bb:drills:bot:copies',
      'bb:drills:bot:last',
    ]);
    expect(redisKeys.all('bb')).toBe('bb:*');
  });
});
