import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Readable, Transform } from 'node:stream';
import type { S3Client, S3ClientConfig, ServerSideEncryption, StorageClass } from '@aws-sdk/client-s3';
import { StorageError, type StorageErrorCode } from '@botbackup/core';
import { isValidKey, type BackupStore, type GetOptions, type ObjectInfo, type RemovedTemp, type StoreCallOptions } from './backup-store.js';

export interface S3StoreOptions {
  name: string;
  bucket: string;
  /** Key prefix inside the bucket ("" or ending without a slash: "botbackup" stores under "botbackup/"). */
  prefix?: string | undefined;
  /** For MinIO and other S3-compatible servers; AWS when unset. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Path-style addressing (`http://host/bucket/key`), which MinIO needs; on by default with an endpoint. */
  forcePathStyle?: boolean | undefined;
  /** Explicit credentials; otherwise the AWS SDK's default chain (environment variables, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  serverSideEncryption?: ServerSideEncryption | undefined;
  storageClass?: StorageClass | undefined;
  /** Attempts per request, transient errors retried with backoff by the SDK (default 5). */
  maxAttempts?: number | undefined;
  /** Part size of multipart uploads (default 8 MiB; S3 allows at most 10,000 parts). */
  partSize?: number | undefined;
  /**
   * A request whose connection makes no progress (no byte sent or received) for this long fails
   * at once, not retried: the target has stopped answering (default 60 s; see docs/storage.md).
   */
  stallTimeoutMs?: number | undefined;
  /**
   * Told once (until the target makes progress again) when requests have been waiting with no
   * byte sent or received for half the stall timeout (at most 15 s): the one line a user sees
   * while a target stalls, before it is given up.
   */
  onWait?: ((message: string) => void) | undefined;
}

/** The default of {@link S3StoreOptions.stallTimeoutMs}. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
/** How long {@link S3Store.probe} waits for the target (at most the stall timeout): a health check must be quick. */
const PROBE_TIMEOUT_MS = 5_000;
/** What a probe's errors name in place of a key: it reads no object of its own. */
const PROBE_SUBJECT = 'the repository';
/** The name given to a request that made no progress for the stall timeout (never retried). */
const STALLED = 'BotbackupStalled';

type S3Sdk = typeof import('@aws-sdk/client-s3');
type LibStorage = typeof import('@aws-sdk/lib-storage');

// The AWS SDK is loaded on first use, once per process: loading it takes longer than a whole
// `botbackup list`, and most commands of a config without an S3 target never need it.
let s3Sdk: Promise<S3Sdk> | undefined;
let libStorage: Promise<LibStorage> | undefined;
const loadS3Sdk = (): Promise<S3Sdk> => (s3Sdk ??= import('@aws-sdk/client-s3'));
const loadLibStorage = (): Promise<LibStorage> => (libStorage ??= import('@aws-sdk/lib-storage'));

/**
 * A repository in an S3 bucket (AWS S3, MinIO, any S3-compatible service). Uploads stream through
 * lib-storage's multipart upload (a few parts in memory at a time, never the whole object), and
 * an object becomes visible only when the upload completes; a failed or aborted upload is
 * aborted on the server. Downloads stream the response body. Checksums are computed only where
 * the API requires them (`WHEN_REQUIRED`): the repository's own sha256 sums protect every byte,
 * and SDK-default CRC32 trailers are not understood by every S3-compatible server.
 */
export class S3Store implements BackupStore {
  readonly name: string;
  readonly location: string;
  /** The client and the SDK's commands, made on first use (see loadS3Sdk). */
  private ready: Promise<{ client: S3Client; sdk: S3Sdk }> | undefined;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly stallTimeoutMs: number;
  /** The connections of the client's agents: their bytes tell whether the target makes progress. */
  private readonly sockets = new Set<Socket>();
  /** Bytes sent and received by connections that have closed. */
  private closed = { sent: 0, answered: 0 };
  private inFlight = 0;
  private watchdog: NodeJS.Timeout | undefined;
  /** The bytes received in all when `onWait` was last told; it is told again only once the target answered since. */
  private warnedAt: number | undefined;

  constructor(private readonly options: S3StoreOptions) {
    this.name = options.name;
    this.bucket = options.bucket;
    this.prefix = options.prefix ? `${options.prefix.replace(/\/+$/, '')}/` : '';
    this.location = `s3://${options.bucket}/${this.prefix}${options.endpoint ? ` at ${new URL(options.endpoint).origin}` : ''}`;
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  }

  /** The client, made once the SDK is loaded; every call of this store waits for it. */
  private sdk(): Promise<{ client: S3Client; sdk: S3Sdk }> {
    this.ready ??= loadS3Sdk().then((sdk) => ({ client: this.createClient(sdk), sdk }));
    return this.ready;
  }

  private createClient(sdk: S3Sdk): S3Client {
    const options = this.options;
    const config: S3ClientConfig = {
      region: options.region ?? 'us-east-1',
      // Every request: a connection not established, or a socket with no byte sent or received,
      // within the stall timeout fails it (a frozen server or a half-open connection).
      requestHandler: {
        connectionTimeout: this.stallTimeoutMs,
        socketTimeout: this.stallTimeoutMs,
        httpAgent: this.tracked(new http.Agent({ keepAlive: true, maxSockets: 50 })),
        httpsAgent: this.tracked(new https.Agent({ keepAlive: true, maxSockets: 50 })),
      },
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      maxAttempts: options.maxAttempts ?? 5,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    const client = new sdk.S3Client(config);
    // lib-storage uploads each multipart part as a Buffer, which SigV4 would hash (sha256) only to
    // sign it: one more pass over every byte on a host that also runs the bot (0.5 CPU-s per
    // 512 MiB, bench/s3.mjs). The SDK already sends streamed PutObject bodies as UNSIGNED-PAYLOAD;
    // parts go the same way. The repository's own sha256 sums protect the bytes end to end.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (context.commandName === 'UploadPartCommand' && request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'botbackupUnsignedParts' },
    );
    // The SDK retries a timed-out request (up to maxAttempts, each waiting the whole timeout
    // again): a target that made no progress for the stall timeout has stopped answering, and the
    // request fails now, so that the backup goes on without it.
    type Relative = Parameters<typeof client.middlewareStack.addRelativeTo>[0];
    client.middlewareStack.addRelativeTo(
      ((next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
        this.requestStarted();
        try {
          return await next(args);
        } catch (error) {
          if ((error as Error)?.name !== 'TimeoutError') throw error;
          throw Object.assign(new Error(`no progress for ${formatSeconds(this.stallTimeoutMs)}`), { name: STALLED });
        } finally {
          this.requestEnded();
        }
      }) as unknown as Relative,
      { relation: 'after', toMiddleware: 'retryMiddleware', name: 'botbackupStallNotRetried' },
    );
    return client;
  }

  /** An agent whose connections are watched (see {@link requestStarted}). */
  private tracked<A extends http.Agent>(agent: A): A {
    const withConnect = agent as unknown as { createConnection: (...args: unknown[]) => Socket };
    const create = withConnect.createConnection.bind(agent);
    withConnect.createConnection = (...args: unknown[]) => {
      const socket = create(...args);
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.closed.sent += socket.bytesWritten;
        this.closed.answered += socket.bytesRead;
      });
      return socket;
    };
    return agent;
  }

  /**
   * While requests are under way, a watchdog sums the bytes the connections have sent (handed to
   * the kernel) and received; when neither moves for the warning delay, `onWait` is told, once
   * until the target answers again. (Failing the request is the socket timeout's job.)
   */
  private requestStarted(): void {
    if (this.inFlight++ > 0 || !this.options.onWait) return;
    const warnAfter = Math.min(this.stallTimeoutMs / 2, 15_000);
    let last = { sent: -1, answered: -1 };
    let since = Date.now();
    this.watchdog = setInterval(
      () => {
        const now = { ...this.closed };
        for (const socket of this.sockets) {
          now.sent += socket.bytesWritten - socket.writableLength;
          now.answered += socket.bytesRead;
        }
        // Bytes sent postpone the line; only an answer (bytes received) lets a later stall say it again.
        if (this.warnedAt !== undefined && now.answered !== this.warnedAt) this.warnedAt = undefined;
        if (now.sent !== last.sent || now.answered !== last.answered) {
          last = now;
          since = Date.now();
        } else if (this.warnedAt === undefined && Date.now() - since >= warnAfter) {
          this.warnedAt = now.answered;
          this.options.onWait?.(
            `Waiting for storage "${this.name}" (${this.location}): nothing sent or received for ${formatSeconds(warnAfter)}; it is given up after ${formatSeconds(this.stallTimeoutMs)} without progress (stallTimeout).`,
          );
        }
      },
      Math.min(1000, warnAfter / 4),
    );
    this.watchdog.unref();
  }

  private requestEnded(): void {
    if (--this.inFlight > 0 || !this.watchdog) return;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  async put(key: string, body: Readable | Uint8Array, options: StoreCallOptions = {}): Promise<{ size: number }> {
    const objectKey = this.keyOf(key, 'put');
    let size = body instanceof Uint8Array ? body.length : 0;
    // A pass-through that counts what the upload reads; a failing body fails it (and the upload).
    const counted =
      body instanceof Uint8Array
        ? body
        : body.pipe(
            new Transform({
              transform(chunk: Buffer, _encoding, done) {
                size += chunk.length;
                done(null, chunk);
              },
            }),
          );
    if (body instanceof Readable && counted instanceof Transform) body.once('error', (error: Error) => counted.destroy(error));
    // The upload starts reading once the SDK is loaded (the first call of the process waits for
    // it): a body that fails before must not be an unhandled 'error'; the upload then reads a
    // destroyed stream and fails with its error, as it would have at once.
    if (counted instanceof Transform) counted.once('error', () => undefined);
    let loaded: { client: S3Client; Upload: LibStorage['Upload'] };
    try {
      loaded = { client: (await this.sdk()).client, Upload: (await loadLibStorage()).Upload };
    } catch (error) {
      // Not the target's failure: the SDK could not be loaded (a broken installation).
      if (body instanceof Readable) body.destroy();
      throw error;
    }
    const upload = new loaded.Upload({
      client: loaded.client,
      params: {
        Bucket: this.bucket,
        Key: objectKey,
        Body: counted,
        ServerSideEncryption: this.options.serverSideEncryption,
        StorageClass: this.options.storageClass,
      },
      partSize: this.options.partSize ?? 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    try {
      options.signal?.throwIfAborted();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      await upload.done();
      return { size };
    } catch (error) {
      if (body instanceof Readable) body.destroy();
      throw this.toStorageError(options.signal?.aborted ? options.signal.reason : error, 'put', key);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const objectKey = this.keyOf(key, 'get');
    const range = options.range ? `bytes=${options.range.start}-${options.range.end ?? ''}` : undefined;
    const { client, sdk } = await this.sdk();
    try {
      const response = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: range }), {
        abortSignal: options.signal,
      });
      if (!(response.Body instanceof Readable)) throw new Error('the response has no readable body');
      return response.Body;
    } catch (error) {
      throw this.toStorageError(error, 'get', key);
    }
  }

  async stat(key: string, options: StoreCallOptions = {}): Promise<ObjectInfo | undefined> {
    const objectKey = this.keyOf(key, 'stat');
    const { client, sdk } = await this.sdk();
    try {
      const head = await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: options.signal });
      return { key, size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (error) {
      const mapped = this.toStorageError(error, 'stat', key);
      if (mapped.storageCode === 'NOT_FOUND' && !isMissingBucket(error)) return undefined;
      throw mapped;
    }
  }

  async *list(prefix: string, options: StoreCallOptions = {}): AsyncIterable<ObjectInfo> {
    const { client, sdk } = await this.sdk();
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }), {
          abortSignal: options.signal,
        });
      } catch (error) {
        throw this.toStorageError(error, 'list', prefix);
      }
      for (const object of page.Contents ?? []) {
        if (!object.Key?.startsWith(this.prefix)) continue;
        yield { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string, options: StoreCallOptions = {}): Promise<void> {
    const objectKey = this.keyOf(key, 'delete');
    const { client, sdk } = await this.sdk();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: options.signal });
    } catch (error) {
      const mapped = this.toStorageError(error, 'delete', key);
      if (mapped.storageCode === 'NOT_FOUND' && !isMissingBucket(error)) return;
      throw mapped;
    }
  }

  /**
   * Aborts the multipart uploads under the prefix that were started more than `graceMs` ago (by
   * the server's clock): uploads of a process killed before it could abort them, which the
   * server keeps (and bills) until a lifecycle rule removes them. Younger ones may be an upload
   * in progress on another host, and are kept. A server without ListMultipartUploads (s3rver,
   * some S3-compatible services), a key without `s3:ListBucketMultipartUploads`, or a target
   * that cannot be reached removes nothing: the bucket's lifecycle rule must (docs/storage.md);
   * the backup's own writes report an unreachable target.
   */
  async removeStaleTemp(options: { graceMs: number; signal?: AbortSignal | undefined }): Promise<RemovedTemp[]> {
    const { client, sdk } = await this.sdk();
    const removed: RemovedTemp[] = [];
    const call = { abortSignal: options.signal };
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let page;
      // A backup starts with this: a target that does not answer delays it at most 10 s here
      // (the backup's own writes then wait the whole stallTimeout and report it).
      const listingTimeout = AbortSignal.timeout(Math.min(this.stallTimeoutMs, 10_000));
      try {
        page = await client.send(
          new sdk.ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
          { abortSignal: options.signal ? AbortSignal.any([options.signal, listingTimeout]) : listingTimeout },
        );
      } catch (error) {
        if (options.signal?.aborted) throw this.toStorageError(options.signal.reason, 'list', 'multipart uploads');
        if (listingTimeout.aborted) return removed;
        const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (['NotImplemented', 'MethodNotAllowed'].includes(e.name ?? '') || [405, 501].includes(e.$metadata?.httpStatusCode ?? 0)) return removed;
        const mapped = this.toStorageError(error, 'list', 'multipart uploads');
        if (mapped.storageCode === 'PERMISSION' || mapped.storageCode === 'UNAVAILABLE') return removed;
        throw mapped;
      }
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key?.startsWith(this.prefix) || !upload.UploadId || !upload.Initiated) continue;
        const age = Date.now() - upload.Initiated.getTime();
        if (age <= options.graceMs) continue;
        const key = upload.Key.slice(this.prefix.length);
        let bytes = 0;
        try {
          let partMarker: string | undefined;
          do {
            const parts = await client.send(
              new sdk.ListPartsCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId, PartNumberMarker: partMarker }),
              call,
            );
            for (const part of parts.Parts ?? []) bytes += part.Size ?? 0;
            partMarker = parts.IsTruncated ? parts.NextPartNumberMarker : undefined;
          } while (partMarker);
        } catch {
          // Only for the report: the size of what is removed.
        }
        try {
          await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }), call);
        } catch (error) {
          if ((error as { name?: string }).name === 'NoSuchUpload') continue; // completed or aborted meanwhile
          throw this.toStorageError(error, 'abort', `the unfinished upload of ${key}`);
        }
        removed.push({
          path: key,
          kind: 'upload',
          bytes,
          reason: `an unfinished multipart upload (${upload.UploadId}) started ${upload.Initiated.toISOString()}, older than the grace period`,
        });
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return removed;
  }

  /**
   * See BackupStore.probe: one ListObjectsV2 of at most one key under the prefix, the cheapest
   * request that proves the endpoint answers, the bucket exists (NoSuchBucket, unlike HeadBucket's
   * bodiless 404, says which is missing) and the credentials may list it. Given up after
   * PROBE_TIMEOUT_MS (the SDK's retries of a refused connection included).
   */
  async probe(options: StoreCallOptions = {}): Promise<void> {
    const { client, sdk } = await this.sdk();
    const limitMs = Math.min(this.stallTimeoutMs, PROBE_TIMEOUT_MS);
    const timeout = AbortSignal.timeout(limitMs);
    try {
      await client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }), {
        abortSignal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
      });
    } catch (error) {
      if (timeout.aborted && !options.signal?.aborted) {
        const message = `Storage "${this.name}" (${this.location}) did not answer within ${formatSeconds(limitMs)}; check the endpoint and that the server is running.`;
        throw new StorageError('UNAVAILABLE', { operation: 'check', key: PROBE_SUBJECT, backend: this.name, message }, { cause: error });
      }
      throw this.toStorageError(options.signal?.aborted ? options.signal.reason : error, 'check', PROBE_SUBJECT);
    }
  }

  private keyOf(key: string, operation: string): string {
    if (!isValidKey(key)) {
      throw new StorageError('INVALID_KEY', { operation, key, backend: this.name, message: `Storage "${this.name}": "${key}" is not a valid object key.` });
    }
    return this.prefix + key;
  }

  /** One sentence a user can act on; never a credential (the SDK's messages carry none). */
  private toStorageError(error: unknown, operation: string, key: string): StorageError {
    if (error instanceof StorageError) return error;
    const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const name = e.name ?? '';
    const status = e.$metadata?.httpStatusCode;
    const where = `storage "${this.name}" (${this.location})`;
    let code: StorageErrorCode;
    let message: string;
    if (name === STALLED) {
      code = 'UNAVAILABLE';
      message = `${where[0]!.toUpperCase()}${where.slice(1)} stopped answering: the ${operation} of ${key} made no progress for ${formatSeconds(this.stallTimeoutMs)} (stallTimeout).`;
    } else if (name === 'AbortError' || (error as Error)?.name === 'AbortError') {
      code = 'ABORTED';
      message = `The ${operation} of ${key} in ${where} was interrupted.`;
    } else if (isMissingBucket(error)) {
      code = 'UNAVAILABLE';
      message = `The bucket "${this.bucket}" of ${where} does not exist; create it or fix "bucket" in the config.`;
    } else if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      code = 'NOT_FOUND';
      message = `${key} does not exist in ${where}.`;
    } else if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'CredentialsProviderError', 'ExpiredToken'].includes(name) || status === 403) {
      code = 'PERMISSION';
      message = `${where} refused the ${operation} of ${key} (${name || `HTTP ${status}`}); check the access key, the secret key and the bucket policy.`;
    } else if (
      ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'TimeoutError'].includes(e.code ?? name) ||
      /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket hang up/.test(e.message ?? '')
    ) {
      code = 'UNAVAILABLE';
      message = `Cannot reach ${where} for the ${operation} of ${key} (${e.code ?? name}); check the endpoint and that the server is running.`;
    } else {
      code = 'IO';
      message = `The ${operation} of ${key} in ${where} failed: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}.`;
    }
    return new StorageError(code, { operation, key, backend: this.name, message }, { cause: error });
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function isMissingBucket(error: unknown): boolean {
  return (error as { name?: string }).name === 'NoSuchBucket';
}
