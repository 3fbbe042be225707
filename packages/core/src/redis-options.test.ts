import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { redisOptionsFromUrl } from './redis-options.js';

describe('redisOptionsFromUrl', () => {
  it.each([
    ['redis://127.0.0.1:6380', { host: '127.0.0.1', port: 6380, db: 0 }],
    ['redis://:p%40ss@redis/2', { host: 'redis', port: 6379, db: 2, password: 'p@ss' }],
    ['rediss://backup:secret@cache.example:6390/1', { host: 'cache.example', port: 6390, db: 1, username: 'backup', password: 'secret', tls: {} }],
  ])('%s', (url, expected) => {
    expect(redisOptionsFromUrl(url)).toEqual(expected);
  });

  it('refuses other schemes and bad databases without echoing the password', () => {
    for (const url of ['http://h:1', 'redis://:hunter2@h/x', 'not a url']) {
      const error = (() => {
        try {
          redisOptionsFromUrl(url, 'b.yaml');
        } catch (e) {
          return e as ConfigError;
        }
        throw new Error('expected an error');
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.field).toBe('redis.url');
      expect(error.message).not.toContain('hunter2');
    }
  });
});
