import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** A Docker engine of the test's own: its data root and socket in `dir`, stopped by `stop()`. */
export interface DockerEngine {
  host: string;
  stop(): Promise<void>;
}

/**
 * Starts `dockerd` as this machine allows: no iptables rules, no bridge (containers use the
 * host's network), everything under `dir`. Needs root, as dockerd does.
 */
export async function startDockerEngine(dir: string): Promise<DockerEngine> {
  const socket = path.join(dir, 'docker.sock');
  const log = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  const args = ['--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'docker.pid')];
  const child: ChildProcess = spawn('dockerd', [...args, '-H', `unix://${socket}`, '--iptables=false', '--ip6tables=false', '--bridge=none'], {
    stdio: ['ignore', log, log],
  });
  const host = `unix://${socket}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`dockerd exited (${child.exitCode}): ${fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').slice(-2000)}`);
    try {
      execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { env: { ...process.env, DOCKER_HOST: host }, stdio: 'pipe' });
      break;
    } catch (error) {
      if (i > 120) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return {
    host,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      // dockerd leaves its network namespace's mount (exec/netns/default) behind: unmount what is
      // still mounted under dir, deepest first, so that the folder can be removed.
      const mounts = fs
        .readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((line) => line.split(' ')[1])
        .filter((m): m is string => !!m && m.startsWith(dir + '/'));
      for (const mount of mounts.reverse()) spawnSync('umount', ['-l', mount]);
    },
  };
}
