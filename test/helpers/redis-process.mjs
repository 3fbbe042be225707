// A private redis-server for the tests, in a wrapper that outlives it by nothing: it starts
// redis-server with the arguments it was given, prints "pid <n>" (redis-server's own pid, so the
// harness can SIGKILL the server itself, as a crash), forwards SIGTERM, exits with the server, and
// when its parent (the test process) is gone, however that died, kills the server and removes
// its temp data folder (the argument after --dir), which the parent can no longer do.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

const args = process.argv.slice(2);
const server = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
server.on('error', (error) => {
  process.stderr.write(`cannot start redis-server: ${error.message}\n`);
  process.exit(127);
});
process.stdout.write(`pid ${server.pid}\n`);
// Redis logs to stdout; the harness reads bind failures from it, and shows it when the server
// fails to start.
server.stdout.pipe(process.stdout);
server.stderr.pipe(process.stderr);
const exitWithServer = (code, signal) => process.exit(code ?? (signal ? 1 : 0));
server.on('exit', exitWithServer);
process.on('SIGTERM', () => server.kill('SIGTERM'));
const parent = process.ppid;
const watch = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(watch);
  server.off('exit', exitWithServer);
  server.once('exit', () => {
    const dir = args[args.indexOf('--dir') + 1];
    if (dir) rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
  server.kill('SIGKILL');
}, 500);
