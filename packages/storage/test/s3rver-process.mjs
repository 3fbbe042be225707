// A real S3-compatible server for the tests: s3rver in its own process (its paginated listing
// needs Node's --openssl-legacy-provider, which the test process must not run with), on a free
// port (or the port given as argv[3], to restart a killed server where it was), storing under the
// folder given as argv[2]. Prints "port <n>" once it listens; exits when its parent does.
import S3rver from 's3rver';

const directory = process.argv[2];
const server = new S3rver({ address: '127.0.0.1', port: Number(process.argv[3] ?? 0), silent: true, directory });
const { port } = await server.run();
process.stdout.write(`port ${port}\n`);
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500);
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
