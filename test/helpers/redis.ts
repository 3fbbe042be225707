import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { redisKeys } from '@botbackup/core';

const wrapper = path.join(path.dirname(fileURLToPath(import.meta.url)), 'redis-process.mjs');

export interface StartRedisOptions {
  /** Sets `requirepass`; the URL then carries it (`redis://:<password>@…`). */
  password?: string;
  /** AOF fsync policy: production's `everysec` by default; `always` when a test SIGKILLs the server and needs every write back. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /**
   * Serves TLS only (no plain port), with a throwaway CA and a server certificate for 127.0.0.1
   * and localhost that `openssl` makes in the data folder; the URL is then `rediss://` and `ca`
   * names the CA's PEM file. Clients need no certificate of their own.
   */
  tls?: boolean;
  /**
   * An ACL user besides `default` (which keeps `password`, or no password): the URL then logs in
   * as this user. `rules` default to {@link BOTBACKUP_ACL_RULES} (keys and channels under the
   * prefix `botbackup`).
   */
  aclUser?: { name: string; password: string; rules?: string[] };
}

/** The ACL rules docs/deploy.md gives a botbackup user (prefix `botbackup`), after `on >PASSWORD`. */
export const BOTBACKUP_ACL_RULES = [`~${redisKeys.all('botbackup')}`, '+@all', '-@dangerous', '+info'];

/**
 * A private redis-server (never the shared one on 6379): its URL, port and data folder, stop(),
 * and for fault tests kill() (SIGKILL, as a crash: the data folder stays) and restart() (the same
 * folder on the same port). It runs as production should: AOF on (a restart keeps the data),
 * no RDB snapshots, `maxmemory-policy noeviction`; and it dies with the test process.
 */
export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  /** With `tls`: the PEM file of the CA that signed the server's certificate. */
  ca?: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

interface Running {
  wrapper: ChildProcess;
  /** redis-server's own pid (the wrapper's child). */
  pid: number;
  exited: Promise<void>;
}

/** Starts a private Redis on a free port of 127.0.0.1 and resolves once it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<PrivateRedis> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bb-redis-'));
  let certs: Certificates | undefined;
  try {
    if (options.tls) certs = await makeCertificates(path.join(dir, 'tls'));
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
  let port = 0;
  let running: Running | undefined;
  // Another process may take the free port between our probe and redis-server's bind: try again.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      running = await spawnRedis(dir, port, options, certs);
      break;
    } catch (error) {
      if (!(error instanceof BindError) || attempt >= 5) {
        await fs.rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  const auth = options.aclUser
    ? `${encodeURIComponent(options.aclUser.name)}:${encodeURIComponent(options.aclUser.password)}@`
    : options.password === undefined
      ? ''
      : `:${encodeURIComponent(options.password)}@`;
  const kill = async (): Promise<void> => {
    if (!running) return;
    const { pid, exited } = running;
    running = undefined;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await exited;
  };
  return {
    url: `${certs ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    port,
    dir,
    ...(certs ? { ca: certs.ca } : {}),
    kill,
    async restart() {
      await kill();
      // The port was ours a moment ago; a bind failure here is a leftover socket: retry briefly.
      for (let attempt = 1; ; attempt++) {
        try {
          running = await spawnRedis(dir, port, options, certs);
          return;
        } catch (error) {
          if (!(error instanceof BindError) || attempt >= 20) throw error;
          await delay(100);
        }
      }
    },
    async stop() {
      if (running) {
        const { wrapper, exited } = running;
        running = undefined;
        // The wrapper forwards SIGTERM: redis-server shuts down cleanly (AOF flushed).
        wrapper.kill('SIGTERM');
        await exited;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

class BindError extends Error {}

/** PEM files of a throwaway CA and of a server certificate it signed. */
interface Certificates {
  ca: string;
  cert: string;
  key: string;
}

/** A CA and a server certificate for 127.0.0.1 and localhost, valid for a day (EC keys: quick to make). */
async function makeCertificates(dir: string): Promise<Certificates> {
  await fs.mkdir(dir, { recursive: true });
  const at = (name: string) => path.join(dir, name);
  const openssl = async (...args: string[]) => {
    try {
      await promisify(execFile)('openssl', args, { cwd: dir });
    } catch (error) {
      throw new Error(`openssl ${args[0]} failed (the TLS tests need openssl): ${(error as Error).message}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '1', '-subj', '/CN=botbackup test CA');
  await openssl('req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost');
  await fs.writeFile(
    at('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  // prettier-ignore
  await openssl('x509', '-req', '-in', at('server.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial',
    '-out', at('server.crt'), '-days', '1', '-extfile', at('server.ext'));
  return { ca: at('ca.crt'), cert: at('server.crt'), key: at('server.key') };
}

async function spawnRedis(dir: string, port: number, options: StartRedisOptions, certs: Certificates | undefined): Promise<Running> {
  // prettier-ignore
  const args = [
    ...(certs
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key, '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no']
      : ['--port', String(port)]),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'yes',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--logfile', '',
  ];
  if (options.password !== undefined) args.push('--requirepass', options.password);
  // redis-server joins the words after --user into one `user` line of its config.
  if (options.aclUser) args.push('--user', options.aclUser.name, 'on', `>${options.aclUser.password}`, ...(options.aclUser.rules ?? BOTBACKUP_ACL_RULES));
  const child = spawn(process.execPath, [wrapper, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let pid: number | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const match = /^pid (\d+)$/.exec(line);
    if (match && pid === undefined) pid = Number(match[1]);
    else log += `${line}\n`;
  });
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const deadline = Date.now() + 15_000;
  // Poll PING (it answers -LOADING while the AOF is replayed, then +PONG); no fixed sleeps.
  for (;;) {
    if (exitCode !== undefined) {
      if (/Address already in use|bind: /i.test(log)) throw new BindError(`redis-server could not bind 127.0.0.1:${port}`);
      throw new Error(`redis-server exited with ${exitCode} before it was ready:\n${log}`);
    }
    if (pid !== undefined && (await ping(port, options.password, certs?.ca))) return { wrapper: child, pid, exited };
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`redis-server on port ${port} did not answer PING within 15 s:\n${log}`);
    }
    await delay(20);
  }
}

/** A port nothing listens on right now (the kernel's pick for port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether Redis on this port answers PING with PONG (not an error such as -LOADING); over TLS with `caFile`. */
async function ping(port: number, password: string | undefined, caFile?: string): Promise<boolean> {
  const command = (...parts: string[]) => `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
  const ca = caFile === undefined ? undefined : await fs.readFile(caFile, 'utf8');
  return new Promise((resolve) => {
    const socket = ca === undefined ? net.connect({ host: '127.0.0.1', port }) : tls.connect({ host: '127.0.0.1', port, ca });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once(ca === undefined ? 'connect' : 'secureConnect', () =>
      socket.write((password === undefined ? '' : command('AUTH', password)) + command('PING')),
    );
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('+PONG')) done(true);
      else if (reply.includes('-')) done(false);
    });
  });
}

/** Polls `check` until it holds (for conditions no event reports); fails after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const held = await eventually(
    async () => check(),
    (ok) => ok,
    timeoutMs,
    20,
  );
  if (!held) throw new Error('timed out waiting for a condition');
}

/**
 * Polls an async `read` until `holds` accepts its value, and returns that value (or, after
 * `timeoutMs`, the last one read, for the caller's assertion to show what was there).
 */
export async function eventually<T>(read: () => Promise<T>, holds: (value: T) => boolean, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (holds(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A port on 127.0.0.1 where nothing listens (for "Redis unreachable" cases). */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** redis-server's own pid, from INFO (for SIGSTOP/SIGCONT: a server that hangs with its socket open). */
export async function serverPid(url: string): Promise<number> {
  const client = new Redis(url);
  try {
    return Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
  } finally {
    client.disconnect();
  }
}
