import { describe, expect, it } from 'vitest';
import { isAuthorized, isLoopbackHost, type DashboardAuth } from './auth.js';

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
