import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { LocalObjectStore } from '../../activities/storage/local';
import type { ObjectStore } from '../../activities/storage/object-store';
import { S3ObjectStore, S3StoreError, deleteFailure, type S3ObjectStoreOptions } from '../../activities/storage/s3';
import { stagePrefix } from '../../activities/sources/postgres/extract';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { quoteLiteral } from '../../activities/warehouse/sql';
import { SourceTableSchema } from '../../config/schema';
import { startS3, type S3StandIn } from '../stand-ins/s3';

const MiB = 1024 * 1024;
let s3: S3StandIn;
let tmp: string;
let seq = 0;

beforeAll(async () => {
  s3 = await startS3();
  tmp = mkdtempSync(join(tmpdir(), 'freshline-s3-store-'));
});
afterAll(async () => {
  await s3?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A store on the stand-in under its own prefix, so tests never see each other's objects. */
function s3Store(overrides: Partial<S3ObjectStoreOptions> = {}): S3ObjectStore {
  return new S3ObjectStore({
    bucket: s3.bucket,
    prefix: `/run-${process.pid}/t${++seq}/`,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: s3.credentials,
    ...overrides,
  });
}

/** Writes `content` to a fresh local file, as extract does before staging it. */
function localFile(content: Buffer | string): string {
  const path = join(tmp, `file-${++seq}.bin`);
  writeFileSync(path, content);
  return path;
}

/** Records every command the client sends (name and input), including those lib-storage's Upload sends. */
function observe(client: S3Client): { command: string; input: unknown }[] {
  const seen: { command: string; input: unknown }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      seen.push({ command: context.commandName ?? '?', input: args.input });
      return next(args);
    },
    { step: 'initialize', name: 'observeCommands' },
  );
  return seen;
}

async function readObject(store: S3ObjectStore, key: string): Promise<Buffer> {
  const res = await store.client.send(new GetObjectCommand({ Bucket: store.bucket, Key: `${store.prefix}/${key}` }));
  if (!res.Body) throw new Error(`no body for ${key}`);
  return Buffer.from(await res.Body.transformToByteArray());
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

// The same behaviour, asserted on both stores: the pipeline must not care which one it was given.
describe.each([
  ['local directory', () => new LocalObjectStore(join(tmp, `local-${++seq}`))],
  ['S3 (s3rver)', () => s3Store({ listPageSize: 250 })],
] as [string, () => ObjectStore][])('%s store', (_label, makeStore) => {
  test('putFile moves the file into the store: it exists there and the local copy is gone', async () => {
    const store = makeStore();
    const file = localFile('hello parquet');
    expect(await store.putFile('src/t/dt=2024-03-05/w/part-00000.parquet', file)).toEqual({
      key: 'src/t/dt=2024-03-05/w/part-00000.parquet',
      bytes: 13,
    });
    expect(existsSync(file)).toBe(false);
    expect(await store.exists('src/t/dt=2024-03-05/w/part-00000.parquet')).toBe(true);
    expect(await store.exists('src/t/dt=2024-03-05/w/part-00001.parquet')).toBe(false);
  });

  test('list returns keys and sizes under a prefix only, not under siblings that share its leading characters', async () => {
    const store = makeStore();
    await store.putFile('a/x', localFile('xxx'));
    await store.putFile('a/y/z', localFile('zzzzz'));
    await store.putFile('ab/w', localFile('w'));
    await store.putFile('b/q', localFile('q'));
    const expected = [
      { key: 'a/x', bytes: 3 },
      { key: 'a/y/z', bytes: 5 },
    ];
    expect(await store.list('a')).toEqual(expected);
    expect(await store.list('a/')).toEqual(expected);
    expect(await store.list('a/y')).toEqual([{ key: 'a/y/z', bytes: 5 }]);
    expect(await store.list('nothing/here')).toEqual([]);
  });

  // Batches of at most 1000 keys per DeleteObjects are proven on S3 below; here several list pages (250 keys on S3).
  test('deletePrefix removes every object over several list pages and leaves sibling prefixes untouched', async () => {
    const store = makeStore();
    const window = 'src/t/dt=2024-03-05/20240305T100000Z--20240305T110000Z';
    const keys = Array.from({ length: 600 }, (_, i) => `${window}/part-${String(i).padStart(5, '0')}.parquet`);
    await eachLimit(keys, 16, (key) => store.putFile(key, localFile(key)));
    await store.putFile(`${window}0/part-00000.parquet`, localFile('sibling sharing the prefix text'));
    await store.putFile('src/t/dt=2024-03-06/other/part-00000.parquet', localFile('another day'));
    expect(await store.list(window)).toHaveLength(600);

    await store.deletePrefix(window);

    expect(await store.list(window)).toEqual([]);
    expect(await store.exists(keys[0])).toBe(false);
    expect(await store.exists(keys[599])).toBe(false);
    expect((await store.list('src/t')).map((o) => o.key)).toEqual([
      `${window}0/part-00000.parquet`,
      'src/t/dt=2024-03-06/other/part-00000.parquet',
    ]);
    await expect(store.deletePrefix('src/t/dt=2099-01-01')).resolves.toBeUndefined(); // nothing there: no error
  });

  test.each(['', '/abs', 'a//b', 'a/../b', '../escape', 'a/..', 'trailing/'])(
    'rejects the invalid key %p with a clear error',
    async (key) => {
      const store = makeStore();
      const file = localFile('keep me');
      await expect(store.putFile(key, file)).rejects.toThrow(`invalid object key`);
      expect(existsSync(file)).toBe(true); // nothing was moved or deleted
      await expect(store.exists(key)).rejects.toThrow('invalid object key');
      expect(() => store.uriFor(key)).toThrow('invalid object key');
    },
  );

  test('refuses to list or delete the whole store (an empty prefix)', async () => {
    const store = makeStore();
    await expect(store.deletePrefix('')).rejects.toThrow('invalid object key');
    await expect(store.deletePrefix('/')).rejects.toThrow('invalid object key');
    await expect(store.list('')).rejects.toThrow('invalid object key');
  });
});

describe('S3ObjectStore on a real S3-protocol server (s3rver)', () => {
  test('a file larger than one part goes up as a multipart upload and reads back byte-identical', async () => {
    const store = s3Store({ partSizeBytes: 5 * MiB, queueSize: 2 });
    const seen = observe(store.client);
    const content = randomBytes(12 * MiB);
    const file = localFile(content);

    const put = await store.putFile('big/part-00000.parquet', file);

    expect(put).toEqual({ key: 'big/part-00000.parquet', bytes: 12 * MiB });
    expect(existsSync(file)).toBe(false);
    const commands = seen.map((s) => s.command);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(3); // 5 + 5 + 2 MiB
    expect(commands).toContain('CompleteMultipartUploadCommand');
    expect(commands).not.toContain('PutObjectCommand');
    const back = await readObject(store, 'big/part-00000.parquet');
    expect(back.length).toBe(content.length);
    expect(sha256(back)).toBe(sha256(content));
    expect(await store.list('big')).toEqual([{ key: 'big/part-00000.parquet', bytes: 12 * MiB }]);
  });

  test('deletePrefix pages through ListObjectsV2 and deletes in batches of at most 1000 keys', async () => {
    const store = s3Store({ listPageSize: 300 });
    await eachLimit(
      Array.from({ length: 1050 }, (_, i) => `w/k${String(i).padStart(4, '0')}`),
      16,
      (key) => store.putFile(key, localFile('x')),
    );
    const seen = observe(store.client);

    await store.deletePrefix('w');

    expect(seen.filter((s) => s.command === 'ListObjectsV2Command').length).toBeGreaterThanOrEqual(4); // 1050 / 300
    const batches = seen
      .filter((s) => s.command === 'DeleteObjectsCommand')
      .map((s) => (s.input as { Delete: { Objects: unknown[] } }).Delete.Objects.length);
    expect(batches).toEqual([1000, 50]);
    expect(await store.list('w')).toEqual([]);
  });

  test('uriFor names the bucket and the normalised prefix', () => {
    const store = new S3ObjectStore({ bucket: 'stage-bucket', prefix: '/freshline/stage/', region: 'eu-west-1' });
    expect(store.uriFor('oltp/shop.orders/dt=2024-03-05/w/part-00000.parquet')).toBe(
      's3://stage-bucket/freshline/stage/oltp/shop.orders/dt=2024-03-05/w/part-00000.parquet',
    );
    expect(new S3ObjectStore({ bucket: 'stage-bucket', region: 'eu-west-1' }).uriFor('k/x')).toBe(
      's3://stage-bucket/k/x',
    );
  });

  test('rejects a part size below S3 minimum of 5 MiB up front', () => {
    expect(() => s3Store({ partSizeBytes: MiB })).toThrow('partSizeBytes must be an integer of at least 5242880');
  });

  test('unknown credentials give an error that names the bucket and never contains the secret key', async () => {
    const secret = 'wJalrXUtnFEMI-not-a-real-secret-K7MDENG';
    const store = s3Store({ credentials: { accessKeyId: 'AKIANOTKNOWNTOS3RVER', secretAccessKey: secret } });
    const file = localFile('payload');

    const err = await store.putFile('k/part-00000.parquet', file).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(S3StoreError);
    const { message, code, httpStatus } = err as S3StoreError;
    expect(message).toContain(`bucket '${s3.bucket}'`);
    expect(message).toContain('InvalidAccessKeyId');
    expect(message).toContain('check the credentials');
    expect(message).not.toContain(secret);
    expect(JSON.stringify(err)).not.toContain(secret);
    expect({ code, httpStatus }).toEqual({ code: 'InvalidAccessKeyId', httpStatus: 403 });
    expect(existsSync(file)).toBe(true); // a failed upload leaves the file for the retry

    // exists treats only "not found" as false; a refusal is an error, not a silent "absent".
    const headErr = await store.exists('k/part-00000.parquet').catch((e: unknown) => e);
    expect(headErr).toBeInstanceOf(S3StoreError);
    expect((headErr as Error).message).toContain(`bucket '${s3.bucket}'`);
    expect((headErr as Error).message).not.toContain(secret);
    await expect(store.list('k')).rejects.toThrow(`bucket '${s3.bucket}'`);
  });

  test('a missing bucket gives an error that names it and never contains the secret key', async () => {
    // s3rver checks the access key id, not SigV4 signatures, so any secret with its key id is accepted.
    const secret = 'another-secret-that-must-not-leak-0123';
    const store = s3Store({
      bucket: 'no-such-bucket-here',
      credentials: { accessKeyId: s3.credentials.accessKeyId, secretAccessKey: secret },
    });

    const err = await store.putFile('k/part-00000.parquet', localFile('payload')).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(S3StoreError);
    expect((err as Error).message).toMatch(/s3:\/\/no-such-bucket-here\/.*NoSuchBucket \(HTTP 404\)/);
    expect((err as Error).message).not.toContain(secret);
    await expect(store.list('k')).rejects.toThrow("bucket 'no-such-bucket-here'");
    await expect(store.deletePrefix('k')).rejects.toThrow('NoSuchBucket');
  });

  test('per-key DeleteObjects failures become one error naming the failed keys', () => {
    // s3rver never reports per-key errors (it fails whole requests), so the response shape is given here.
    expect(deleteFailure('stage-bucket', [])).toBeNull();
    expect(deleteFailure('stage-bucket', undefined)).toBeNull();
    const errors = Array.from({ length: 12 }, (_, i) => ({
      Key: `p/k${i}`,
      Code: 'AccessDenied',
      Message: 'Access Denied',
    }));
    const err = deleteFailure('stage-bucket', errors);
    expect(err?.message).toBe(
      "S3 deletePrefix could not delete 12 object(s) in bucket 'stage-bucket': " +
        Array.from({ length: 10 }, (_, i) => `p/k${i} (AccessDenied: Access Denied)`).join(', ') +
        ', and 2 more',
    );
    expect(err?.code).toBe('AccessDenied');
  });

  test('the stage flow: DuckDB writes Parquet, putFile stages it under the dt= layout at the expected s3:// URI', async () => {
    const db = await DuckDbWarehouse.open(':memory:');
    try {
      const parquet = join(tmp, `x-${++seq}.parquet`);
      await db.run(`COPY (SELECT 1 AS a, 'é' AS b) TO ${quoteLiteral(parquet, 'duckdb')} (FORMAT parquet)`);
      const bytes = statSync(parquet).size;
      const table = SourceTableSchema.parse({ schema: 'shop', name: 'orders', primaryKey: ['order_id'] });
      const key = `${stagePrefix('oltp', table, { start: '2024-03-05T10:00:00.000Z', end: '2024-03-05T11:00:00.000Z' })}/part-00000.parquet`;
      const store = s3Store({ prefix: 'freshline/stage' });

      expect(await store.putFile(key, parquet)).toEqual({ key, bytes });

      expect(store.uriFor(key)).toBe(
        `s3://${s3.bucket}/freshline/stage/oltp/shop.orders/dt=2024-03-05/20240305T100000Z--20240305T110000Z/part-00000.parquet`,
      );
      expect(existsSync(parquet)).toBe(false);
      expect(await store.exists(key)).toBe(true);
      expect(await store.list('oltp/shop.orders/dt=2024-03-05')).toEqual([{ key, bytes }]);
      // What landed is the same Parquet file: DuckDB reads it back.
      const back = join(tmp, `back-${++seq}.parquet`);
      writeFileSync(back, await readObject(store, key));
      expect(await db.query(`SELECT a, b FROM read_parquet(${quoteLiteral(back, 'duckdb')})`)).toEqual([
        { a: 1, b: 'é' },
      ]);
    } finally {
      await db.close();
    }
  });
});
