import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import {
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
  type _Error as S3DeleteError,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertValidKey, type ObjectStore, type StoredObject } from './object-store';

const MiB = 1024 * 1024;
/** S3's floor for every part but the last, and its ceiling on parts per upload. */
const MIN_PART_BYTES = 5 * MiB;
const MAX_PARTS = 10_000;
/** DeleteObjects accepts at most this many keys per request. */
const DELETE_BATCH = 1000;

/** How to reach the bucket; credentials default to the SDK chain (env, profile, instance/task role). */
export interface S3ObjectStoreOptions {
  /** Bucket holding the stage. */
  bucket: string;
  /** Key prefix inside the bucket (e.g. `freshline/stage`); leading and trailing slashes are ignored. */
  prefix?: string;
  /** AWS region of the bucket. */
  region: string;
  /** Endpoint of an S3-compatible server (MinIO, a loopback test server); omit for AWS. */
  endpoint?: string;
  /** Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key` (needed by most S3-compatible servers). */
  forcePathStyle?: boolean;
  /** Static credentials or a provider; omitted, the SDK's default chain resolves them. */
  credentials?: S3ClientConfig['credentials'];
  /** Multipart part size in bytes (default 8 MiB, at least 5 MiB); raised automatically for files over 10,000 parts. */
  partSizeBytes?: number;
  /** Parts uploaded concurrently per file (default 4); memory is about partSizeBytes × queueSize per upload. */
  queueSize?: number;
  /** Keys per ListObjectsV2 page (1–1000, default 1000); lowered only to exercise pagination in tests. */
  listPageSize?: number;
}

/** A failed S3 call: names the operation, the bucket and the S3 error code; never carries credentials. */
export class S3StoreError extends Error {
  constructor(
    message: string,
    /** S3 error code (NoSuchBucket, AccessDenied, …) or the network error code. */
    readonly code: string | undefined,
    /** HTTP status of the failed response, when there was one. */
    readonly httpStatus: number | undefined,
  ) {
    super(message);
    this.name = 'S3StoreError';
  }
}

/** Error codes that mean "these credentials may not do this", where a hint saves a support round trip. */
const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'CredentialsProviderError',
]);

/** Object store on S3 (production stage): keys map to `s3://<bucket>/<prefix>/<key>`. */
export class S3ObjectStore implements ObjectStore {
  /** The SDK client (other S3 calls can share its connection pool; tests observe its requests). */
  readonly client: S3Client;
  /** Bucket holding the stage. */
  readonly bucket: string;
  /** Normalised key prefix without leading or trailing slash ('' for the bucket root). */
  readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number;
  /** Secrets we were handed explicitly, scrubbed from every error message as a last line of defence. */
  private readonly secrets: string[];

  constructor(options: S3ObjectStoreOptions) {
    if (!options.bucket) throw new Error('S3 stage: bucket is required');
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix) assertValidKey(this.prefix);
    this.partSize = options.partSizeBytes ?? 8 * MiB;
    if (!Number.isInteger(this.partSize) || this.partSize < MIN_PART_BYTES) {
      throw new Error(
        `S3 stage: partSizeBytes must be an integer of at least ${MIN_PART_BYTES} (5 MiB, S3's minimum part size)`,
      );
    }
    this.queueSize = options.queueSize ?? 4;
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1)
      throw new Error('S3 stage: queueSize must be a positive integer');
    this.pageSize = options.listPageSize ?? 1000;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > 1000) {
      throw new Error('S3 stage: listPageSize must be an integer between 1 and 1000');
    }
    const creds = options.credentials;
    this.secrets =
      creds && typeof creds === 'object'
        ? [creds.secretAccessKey, creds.sessionToken ?? ''].filter((s) => s.length >= 4)
        : [];
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
    });
  }

  /** The full object key in the bucket for a store key. */
  private objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** The store key for a full object key (inverse of objectKey). */
  private storeKey(objectKey: string): string {
    return this.prefix ? objectKey.slice(this.prefix.length + 1) : objectKey;
  }

  async putFile(key: string, localPath: string): Promise<{ key: string; bytes: number }> {
    const Key = this.objectKey(key);
    const { size } = await stat(localPath);
    // A fixed part size caps the object at 10,000 parts; grow parts for files that would exceed it.
    const partSize = Math.max(this.partSize, Math.ceil(size / MAX_PARTS));
    try {
      // Streamed in part-sized chunks: memory stays near partSize × queueSize whatever the file size.
      // On failure Upload aborts the multipart upload, so no orphaned parts keep accruing storage.
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key, Body: createReadStream(localPath) },
        partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      throw this.failure('putFile', Key, err);
    }
    await rm(localPath, { force: true }); // same contract as the local store: the file has moved
    return { key, bytes: size };
  }

  uriFor(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async exists(key: string): Promise<boolean> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return true;
    } catch (err) {
      // HEAD responses have no body, so S3 can only say 404; a missing bucket also reads as "absent"
      // here and surfaces on the next putFile or list.
      if (statusOf(err) === 404 || nameOf(err) === 'NotFound' || nameOf(err) === 'NoSuchKey') return false;
      throw this.failure('exists', Key, err);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    for await (const page of this.pages('list', prefix)) {
      for (const o of page) out.push({ key: this.storeKey(o.key), bytes: o.bytes });
    }
    return out; // ListObjectsV2 returns keys in ascending UTF-8 order
  }

  async deletePrefix(prefix: string): Promise<void> {
    let batch: string[] = [];
    for await (const page of this.pages('deletePrefix', prefix)) {
      batch.push(...page.map((o) => o.key));
      while (batch.length >= DELETE_BATCH) {
        await this.deleteBatch(prefix, batch.slice(0, DELETE_BATCH));
        batch = batch.slice(DELETE_BATCH);
      }
    }
    if (batch.length) await this.deleteBatch(prefix, batch);
  }

  /**
   * Pages of objects under `prefix/`. The trailing slash matters: deleting window `…/a--b` must not
   * touch a sibling `…/a--bc`. Deleting while paging is safe: the continuation token marks a position
   * in key order, not an offset.
   */
  private async *pages(op: string, prefix: string): AsyncGenerator<{ key: string; bytes: number }[]> {
    const Prefix = `${this.objectKey(prefix.replace(/\/+$/, ''))}/`;
    let ContinuationToken: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken, MaxKeys: this.pageSize }),
        );
      } catch (err) {
        throw this.failure(op, Prefix, err);
      }
      yield (res.Contents ?? []).flatMap((o) => (o.Key ? [{ key: o.Key, bytes: o.Size ?? 0 }] : []));
      ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  private async deleteBatch(prefix: string, keys: string[]): Promise<void> {
    let res;
    try {
      res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
      );
    } catch (err) {
      throw this.failure('deletePrefix', `${this.objectKey(prefix.replace(/\/+$/, ''))}/`, err);
    }
    // DeleteObjects answers 200 even when some keys failed; they are only listed in Errors.
    const failed = deleteFailure(this.bucket, res.Errors);
    if (failed) throw new S3StoreError(this.redact(failed.message), failed.code, failed.httpStatus);
  }

  /** Describes a failed call by operation, URI and S3 error code; copies no SDK object, so no secret can ride along. */
  private failure(op: string, objectKey: string, err: unknown): S3StoreError {
    const status = statusOf(err);
    // HEAD errors have no body, so the SDK can only call them 'Unknown'; the status still tells a refusal.
    const code = nameOf(err) === 'Unknown' && status === 403 ? 'Forbidden' : nameOf(err);
    const reason = err instanceof Error ? err.message : String(err);
    const hint =
      (code && AUTH_CODES.has(code)) || status === 403
        ? ` (check the credentials and their access to bucket '${this.bucket}')`
        : '';
    const message = `S3 ${op} s3://${this.bucket}/${objectKey} failed in bucket '${this.bucket}': ${code ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${reason}${hint}`;
    return new S3StoreError(this.redact(message), code, status);
  }

  private redact(text: string): string {
    return this.secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);
  }
}

/**
 * The error for DeleteObjects' per-key failures, or null when there were none. Lists at most 10 keys
 * so one bad batch cannot produce a megabyte of error message.
 */
export function deleteFailure(bucket: string, errors: S3DeleteError[] | undefined): S3StoreError | null {
  if (!errors?.length) return null;
  const shown = errors.slice(0, 10).map((e) => `${e.Key ?? '?'} (${e.Code ?? 'error'}: ${e.Message ?? 'no message'})`);
  const more = errors.length > shown.length ? `, and ${errors.length - shown.length} more` : '';
  const codes = [...new Set(errors.map((e) => e.Code).filter((c): c is string => !!c))];
  return new S3StoreError(
    `S3 deletePrefix could not delete ${errors.length} object(s) in bucket '${bucket}': ${shown.join(', ')}${more}`,
    codes.length === 1 ? codes[0] : undefined,
    undefined,
  );
}

/** The S3 error code or Node error code of a thrown value, if any. */
function nameOf(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : err.name;
}

/** The HTTP status the SDK attached to a service error, if any. */
function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}
