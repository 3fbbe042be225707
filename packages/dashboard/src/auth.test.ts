import { describe, expect, it } from 'vitest';
import { hasWriteProof, hostOfHeader, isAllowedHost, isAuthorized, isLoopbackHost, type DashboardAuth } from './auth.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const TOKEN = 'token-0123456789abcdef';

describe('isAuthorized', () => {
  const both: DashboardAuth = { token: TOKEN, basic: { user: 'ops', password: 'pass:word-1' } };
  it.each([
    ['no header', undefined, false],
    ['an empty header', '', false],
    ['the bearer token', `Bearer ${TOKEN}`, true],
    ['the scheme in any case', `bearer ${TOKEN}`, true],
    ['a longer token', `Bearer ${TOKEN}0`, false],
    ['a shorter token', `Bearer ${TOKEN.slice(0, -1)}`, false],
    ['the token without a scheme', TOKEN, false],
    ['basic user and password (a colon in the password)', basic('ops', 'pass:word-1'), true],
    ['basic with the wrong user', basic('root', 'pass:word-1'), false],
    ['basic with the wrong password', basic('ops', 'pass:word-2'), false],
    ['the token as basic password, any user', basic('anyone', TOKEN), true],
    ['the token as basic user', basic(TOKEN, 'x'), false],
    ['basic without a colon', `Basic ${Buffer.from('ops').toString('base64')}`, false],
    ['another scheme', `Digest ${TOKEN}`, false],
  ])('%s', (_, header, expected) => {
    expect(isAuthorized(header, both)).toBe(expected);
  });

  it('accepts only what is configured', () => {
    expect(isAuthorized(`Bearer ${TOKEN}`, { basic: { user: 'ops', password: TOKEN } })).toBe(false);
    expect(isAuthorized(basic('ops', 'pass:word-1'), { token: TOKEN })).toBe(false);
    expect(isAuthorized(undefined, {})).toBe(true);
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['::1', true],
    ['[::1]', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.10', false],
    ['127.0.0.1.example.com', false],
    ['dashboard', false],
  ])('%s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('hostOfHeader', () => {
  it.each([
    ['localhost:8080', 'localhost'],
    ['LocalHost', 'localhost'],
    ['127.0.0.1:8080', '127.0.0.1'],
    ['[::1]:8080', '::1'],
    ['[::1]', '::1'],
    ['backups.example.com', 'backups.example.com'],
    [undefined, undefined],
    ['', undefined],
    ['evil.example:80:80', undefined],
    ['user@evil.example', undefined],
    ['evil.example/path', undefined],
    ['[not-ipv6]:80', undefined],
    ['::1', undefined],
  ])('%s', (header, expected) => {
    expect(hostOfHeader(header)).toBe(expected);
  });
});

describe('isAllowedHost (DNS rebinding)', () => {
  it.each([
    ['localhost:8080', '127.0.0.1', [], true],
    ['127.0.0.1:8080', '127.0.0.1', [], true],
    ['[::1]:8080', '127.0.0.1', [], true],
    ['10.1.2.3:8080', '0.0.0.0', [], true],
    ['evil.example:8080', '127.0.0.1', [], false],
    ['evil.example', '0.0.0.0', [], false],
    ['localhost.evil.example', '127.0.0.1', [], false],
    ['127.0.0.1.nip.io', '127.0.0.1', [], false],
    [undefined, '127.0.0.1', [], false],
    ['backups.example.com', '0.0.0.0', ['backups.example.com'], true],
    ['Backups.Example.COM:443', '0.0.0.0', ['backups.example.com'], true],
    ['dashboard:8080', '0.0.0.0', ['Dashboard'], true],
    ['botbackup_dashboard_1:8080', '0.0.0.0', ['botbackup_dashboard_1'], true],
    ['other.example.com', '0.0.0.0', ['backups.example.com'], false],
    ['my-host.lan:8080', 'my-host.lan', [], true],
  ] as [string | undefined, string, string[], boolean][])('%s (listening on %s, allowed %j)', (header, listen, allowed, expected) => {
    expect(isAllowedHost(header, listen, allowed)).toBe(expected);
  });
});

describe('hasWriteProof', () => {
  const csrf = 'csrf-value-0123456789abcdef';
  const auth: DashboardAuth = { token: TOKEN, basic: { user: 'ops', password: 'pass:word-1' } };
  it.each([
    ['nothing', {}, false],
    ['basic auth alone (a browser resends it by itself)', { authorization: basic('ops', 'pass:word-1') }, false],
    ['the token as basic password', { authorization: basic('x', TOKEN) }, false],
    ['the bearer token', { authorization: `Bearer ${TOKEN}` }, true],
    ['a wrong bearer token', { authorization: `Bearer ${TOKEN}x` }, false],
    ['basic auth and the CSRF header', { authorization: basic('ops', 'pass:word-1'), 'x-xsrf-token': csrf }, true],
    ['a wrong CSRF header', { 'x-xsrf-token': `${csrf}x` }, false],
    ['the CSRF header twice', { 'x-xsrf-token': [csrf, csrf] }, false],
  ] as [string, Record<string, string | string[]>, boolean][])('%s', (_, headers, expected) => {
    expect(hasWriteProof(headers, auth, csrf)).toBe(expected);
  });

  it('without credentials (loopback), only the CSRF header; a bearer of nothing proves nothing', () => {
    expect(hasWriteProof({}, {}, csrf)).toBe(false);
    expect(hasWriteProof({ authorization: 'Bearer anything-at-all-here' }, {}, csrf)).toBe(false);
    expect(hasWriteProof({ 'x-xsrf-token': csrf }, {}, csrf)).toBe(true);
  });
});
