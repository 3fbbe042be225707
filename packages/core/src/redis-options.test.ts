import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, redactUrl } from './config/index.js';
import { ConfigError } from './errors.js';
import { redisConnectionOptions, redisOptionsFromUrl } from './redis-options.js';

/** The ConfigError that `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected an error');
}

describe('redisOptionsFromUrl', () => {
  it.each([
    ['redis://127.0.0.1:6380', { host: '127.0.0.1', port: 6380, db: 0 }],
    ['redis://:p%40ss@redis/2', { host: 'redis', port: 6379, db: 2, password: 'p@ss' }],
    ['rediss://backup:secret@cache.example:6390/1', { host: 'cache.example', port: 6390, db: 1, username: 'backup', password: 'secret', tls: {} }],
    ['redis://botbackup:s%2Fcr%23t@10.0.0.5:6379', { host: '10.0.0.5', port: 6379, db: 0, username: 'botbackup', password: 's/cr#t' }],
  ])('%s', (url, expected) => {
    expect(redisOptionsFromUrl(url)).toEqual(expected);
  });

  it('refuses other schemes and bad databases without echoing the password', () => {
    for (const url of ['http://h:1', 'redis://:hunter2@h/x', 'not a url']) {
      const error = configError(() => redisOptionsFromUrl(url, 'b.yaml'));
      expect(error.field).toBe('redis.url');
      expect(error.message).not.toContain('hunter2');
    }
  });
});

describe('redisConnectionOptions', () => {
  let dir: string;
  let ca: string;
  const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-redis-options-'));
    ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, pem);
    fs.writeFileSync(path.join(dir, 'not-pem.txt'), 'hello\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("is the URL's options without TLS settings", () => {
    expect(redisConnectionOptions({ url: 'rediss://u:pw@h:6390/3' })).toEqual(redisOptionsFromUrl('rediss://u:pw@h:6390/3'));
    expect(redisConnectionOptions({ url: 'redis://h', tls: {} })).toEqual({ host: 'h', port: 6379, db: 0 });
  });

  it('reads the CA file and passes the servername for rediss://', () => {
    expect(redisConnectionOptions({ url: 'rediss://botbackup:pw@10.0.0.5:6390', tls: { ca, servername: 'redis.internal' } }, 'b.yaml')).toEqual({
      host: '10.0.0.5',
      port: 6390,
      db: 0,
      username: 'botbackup',
      password: 'pw',
      tls: { ca: pem, servername: 'redis.internal' },
    });
    expect(redisConnectionOptions({ url: 'rediss://h', tls: { servername: 'r' } }).tls).toEqual({ servername: 'r' });
  });

  it('a missing or unreadable CA file is a ConfigError naming redis.tls.ca and the path, never the password', () => {
    const missing = path.join(dir, 'nope.pem');
    const error = configError(() => redisConnectionOptions({ url: 'rediss://:hunter2@h', tls: { ca: missing } }, 'b.yaml'));
    expect(error.field).toBe('redis.tls.ca');
    expect(error.message).toBe(
      `b.yaml: field "redis.tls.ca" names ${missing}, which does not exist; it must be the PEM file of the CA that signed the Redis server's certificate.`,
    );
    expect(error.message).not.toContain('hunter2');
    expect(configError(() => redisConnectionOptions({ url: 'rediss://h', tls: { ca: dir } })).field).toBe('redis.tls.ca');
    const notPem = configError(() => redisConnectionOptions({ url: 'rediss://h', tls: { ca: path.join(dir, 'not-pem.txt') } }));
    expect(notPem.field).toBe('redis.tls.ca');
    expect(notPem.message).toContain('no PEM certificate');
  });

  it('refuses TLS settings with a plain redis:// URL', () => {
    const error = configError(() => redisConnectionOptions({ url: 'redis://:hunter2@h', tls: { ca } }, 'b.yaml'));
    expect(error.field).toBe('redis.tls');
    expect(error.message).toContain('rediss://');
    expect(error.message).not.toContain('hunter2');
  });

  it("works with redis.tls from a config file: the CA path is resolved against the config file's folder", () => {
    const file = path.join(dir, 'botbackup.yaml');
    const text = `version: 1
sources: [{ id: bot, root: ., files: [{ kind: config, include: ["*.json"] }] }]
storage: [{ name: local, type: local, path: repo }]
redis: { url: "rediss://botbackup:\${REDIS_PASSWORD}@10.0.0.5:6390/0", tls: { ca: ca.pem, servername: redis.internal } }
`;
    const config = parseConfig(text, { file, env: { REDIS_PASSWORD: 'hunter2' } });
    expect(config.redis!.tls).toEqual({ ca, servername: 'redis.internal' });
    expect(redisConnectionOptions(config.redis!, file).tls).toEqual({ ca: pem, servername: 'redis.internal' });
    const unknown = configError(() => parseConfig(text.replace('servername:', 'verify: false, servername:'), { file, env: { REDIS_PASSWORD: 'x' } }));
    expect(unknown.field).toBe('redis.tls');
    expect(configError(() => parseConfig(text.replace('ca: ca.pem', 'ca: ""'), { file, env: { REDIS_PASSWORD: 'x' } })).field).toBe('redis.tls.ca');
    expect(parseConfig(text.replace(/, tls: \{[^}]*\}/, ''), { file, env: { REDIS_PASSWORD: 'x' } }).redis!.tls).toBeUndefined();
  });
});

describe('redactUrl', () => {
  it.each([
    ['redis://:hunter2@redis:6379/0', 'redis://:***@redis:6379/0'],
    ['rediss://botbackup:hunter2@h:6380', 'rediss://botbackup:***@h:6380'],
    ['redis://hunter2@h', 'redis://***@h'],
    ['redis://h:6379/1', 'redis://h:6379/1'],
    // Unescaped @, / and # in a password (a ${VAR} that was not URL-encoded): all of it is hidden.
    ['redis://botbackup:hun@ter2@h:6379', 'redis://botbackup:***@h:6379'],
    ['redis://botbackup:hun/ter2@h:6379', 'redis://botbackup:***@h:6379'],
    ['redis://:hun#ter2@h', 'redis://:***@h'],
  ])('%s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});
