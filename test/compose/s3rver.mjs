// The compose test's S3 stand-in: s3rver on 127.0.0.1:<S3_PORT>, its objects under /data (the
// minio-data volume). It accepts the key pair S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY (s3rver
// knows one fixed pair; this adds botbackup's, as minio-init adds botbackup's user to MinIO).
// The bucket is created by the minio-init stand-in.
import { createRequire } from 'node:module';
import S3rver from 's3rver';

const { DUMMY_ACCOUNT } = createRequire(import.meta.url)('s3rver/lib/models/account.js');
DUMMY_ACCOUNT.createKeyPair(process.env.S3_ACCESS_KEY_ID, process.env.S3_SECRET_ACCESS_KEY);
const server = new S3rver({ address: '127.0.0.1', port: Number(process.env.S3_PORT), silent: true, directory: '/data' });
await server.run();
console.log(`s3rver listening on 127.0.0.1:${process.env.S3_PORT}`);
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
