import { createHash, timingSafeEqual } from 'node:crypto';

/** Credentials the dashboard accepts; with neither, every request is let through (loopback only). */
export interface DashboardAuth {
  /** `Authorization: Bearer <token>`; also accepted as the password of HTTP basic auth (any user name), so a browser can log in with it. */
  token?: string | undefined;
  basic?: { user: string; password: string } | undefined;
}

/** The `WWW-Authenticate` challenges of a 401: basic first, so that browsers show their login prompt. */
export const AUTH_CHALLENGES = ['Basic realm="botbackup", charset="UTF-8"', 'Bearer realm="botbackup"'];

/** Whether any credential is configured. */
export function hasCredentials(auth: DashboardAuth): boolean {
  return auth.token !== undefined || auth.basic !== undefined;
}

/**
 * Whether an `Authorization` header carries valid credentials: `Bearer <token>`, or `Basic` with
 * the configured user and password (or any user and the token as password). Every comparison is
 * of sha256 digests with `timingSafeEqual`, so neither a value's content nor its length shows in
 * the time taken, and every configured credential is compared whatever the outcome of the others.
 */
export function isAuthorized(header: string | undefined, auth: DashboardAuth): boolean {
  if (!hasCredentials(auth)) return true;
  if (header === undefined) return false;
  const space = header.indexOf(' ');
  if (space < 0) return false;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return auth.token !== undefined && sameSecret(value, auth.token);
  if (scheme !== 'basic') return false;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  // Every comparison runs (no short circuit): the time taken does not tell which part matched.
  const userOk = auth.basic !== undefined && sameSecret(user, auth.basic.user);
  const passwordOk = auth.basic !== undefined && sameSecret(password, auth.basic.password);
  const tokenOk = auth.token !== undefined && sameSecret(password, auth.token);
  return (userOk && passwordOk) || tokenOk;
}

/** Whether the dashboard may run without credentials: only when it listens on loopback. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
