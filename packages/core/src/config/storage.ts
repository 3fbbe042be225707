import { z } from 'zod';
import { duration, ms, pathIn, slug } from './fields.js';
import type { Problem } from './issues.js';

/** A `storage` entry: a local folder (its path made absolute against `baseDir`) or an S3 bucket. */
export function storageSchema(baseDir: string) {
  const local = z.strictObject({
    name: slug,
    type: z.literal('local'),
    /** Absolute path of the repository folder. */
    path: pathIn(baseDir),
  });
  return z.discriminatedUnion('type', [local, s3Schema]);
}
export type StorageConfig = z.output<ReturnType<typeof storageSchema>>;
export type LocalStorageConfig = Extract<StorageConfig, { type: 'local' }>;
export type S3StorageConfig = Extract<StorageConfig, { type: 's3' }>;

const s3Schema = z
  .strictObject({
    name: slug,
    type: z.literal('s3'),
    bucket: z.string().min(3, 'a bucket name'),
    /** Key prefix inside the bucket. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9._\/-]*$/, 'letters, digits, ".", "_", "-" and "/"')
      .optional(),
    /** S3-compatible server (MinIO...); AWS S3 when unset. */
    endpoint: z.url('a URL such as http://minio:9000').optional(),
    region: z.string().min(1).optional(),
    forcePathStyle: z.boolean().optional(),
    /** Explicit credentials (use ${VAR} references); otherwise the AWS SDK's default chain (AWS_ACCESS_KEY_ID..., profile). */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    sessionToken: z.string().min(1).optional(),
    serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
    storageClass: z
      .string()
      .regex(/^[A-Z_]+$/, 'an S3 storage class such as STANDARD_IA')
      .optional(),
    /** A request with no byte sent or received for this long fails the target (default 60s). */
    stallTimeout: duration.optional(),
  })
  .refine((t) => (t.accessKeyId === undefined) === (t.secretAccessKey === undefined), {
    message: 'accessKeyId and secretAccessKey, both or neither',
    path: ['secretAccessKey'],
  })
  // stallTimeoutMs is there only when configured: the store then uses its own default.
  .transform(({ stallTimeout, ...target }) => ({ ...target, ...(stallTimeout === undefined ? {} : { stallTimeoutMs: ms(stallTimeout) }) }));

/** A storage name used twice, which would make two targets one in the catalog and in messages. */
export function storageProblems(storage: readonly StorageConfig[]): Problem | undefined {
  const seen = new Set<string>();
  for (const [i, target] of storage.entries()) {
    if (seen.has(target.name)) return { path: ['storage', i, 'name'], message: `repeats the storage name "${target.name}"; names must be unique` };
    seen.add(target.name);
  }
  return undefined;
}
