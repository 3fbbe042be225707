import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

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

/**
 * The host name a `Host` header names: lower case, without its port, an IPv6 address without
 * brackets; undefined when the header is missing or is not `host[:port]`.
 */
export function hostOfHeader(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim().toLowerCase();
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9_.-]+))(?::(\d{1,5}))?$/.exec(value);
  if (!match) return undefined;
  const ipv6 = match[1];
  if (ipv6 !== undefined) return isIP(ipv6) === 6 ? ipv6 : undefined;
  return match[2];
}

/**
 * Whether a request's `Host` header names this dashboard, so that a page of another site that
 * DNS rebinding pointed at it cannot use it: `localhost`, any IP address (a page can only
 * have an IP address as its origin when that address serves it, so it cannot rebind), the
 * address it listens on, and the names the config lists (`dashboard.allowedHosts`, e.g. a
 * reverse proxy's). The port is not compared: a proxy may forward any.
 */
export function isAllowedHost(header: string | undefined, listenHost: string, allowedHosts: readonly string[]): boolean {
  const host = hostOfHeader(header);
  if (host === undefined) return false;
  if (host === 'localhost' || isIP(host) !== 0) return true;
  if (host === listenHost.toLowerCase().replace(/^\[|\]$/g, '')) return true;
  return allowedHosts.some((name) => name.toLowerCase() === host);
}

/** The cookie that carries the dashboard's CSRF value to its pages, and the header its pages send it back in (bull-board's axios does both by default). */
export const CSRF_COOKIE = 'XSRF-TOKEN';
export const CSRF_HEADER = 'x-xsrf-token';

/**
 * Whether a request that changes something proves it does not come from a browser's ambient
 * credentials alone: the token as `Authorization: Bearer` (a browser never adds it by itself),
 * or the dashboard's CSRF value in the {@link CSRF_HEADER} header (only scripts of the
 * dashboard's own pages can read its cookie; another site's request with that header needs a
 * CORS preflight, which the dashboard never grants). Basic auth, which a browser resends with
 * every request, is not enough on its own.
 */
export function hasWriteProof(
  headers: { authorization?: string | undefined; [CSRF_HEADER]?: string | string[] | undefined },
  auth: DashboardAuth,
  csrf: string,
): boolean {
  const authorization = headers.authorization;
  const bearer = auth.token !== undefined && authorization !== undefined && /^bearer /i.test(authorization) && isAuthorized(authorization, auth);
  const given = headers[CSRF_HEADER];
  const csrfOk = typeof given === 'string' && sameSecret(given, csrf);
  return bearer || csrfOk;
}

function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
