// A private redis-server for the tests, in a wrapper that outlives it by nothing: it starts
// redis-server with the arguments it was given, prints "pid <n>" (redis-server's own pid, so the
// harness can SIGKILL the server itself, as a crash), forwards SIGTERM, exits with the server, and
// kills the server when its parent (the test process) is gone, however that died.
import { spawn } from 'node:child_process';

const server = spawn('redis-server', process.argv.slice(2), { stdio: ['ignore', 'pipe', 'pipe'] });
server.on('error', (error) => {
  process.stderr.write(`cannot start redis-server: ${error.message}\n`);
  process.exit(127);
});
process.stdout.write(`pid ${server.pid}\n`);
// Redis logs to stdout; the harness reads it from here for "Ready to accept connections" and
// bind failures, and shows it when the server fails to start.
server.stdout.pipe(process.stdout);
server.stderr.pipe(process.stderr);
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
process.on('SIGTERM', () => server.kill('SIGTERM'));
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) {
    server.kill('SIGKILL');
    process.exit(0);
  }
}, 500);
