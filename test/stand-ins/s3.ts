import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

/** A running s3rver: a real S3-protocol server on loopback, storing objects in a temp directory. */
export interface S3StandIn {
  /** http://127.0.0.1:<port>; use with forcePathStyle. */
  endpoint: string;
  /** A bucket created at start-up. */
  bucket: string;
  /** Region to give the client (s3rver accepts any). */
  region: string;
  /** The one key pair s3rver knows. It checks the access key id but not SigV4 signatures. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The bytes of the object at `s3://<bucket>/<key>` (what a Snowflake external stage over this server reads). */
  read(url: string): Promise<Buffer>;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

// Runs in the child. Exits when its stdin closes, so it never outlives the test process, and removes
// its directory itself, so a crashed test run leaves nothing behind either.
const SERVER = `
const { rmSync } = require('node:fs');
const [, modulePath, directory, bucket] = process.argv;
const S3rver = require(modulePath);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (err) => { process.stderr.write(String((err && err.stack) || err)); process.exit(1); },
);
process.stdin.on('end', () => server.close().catch(() => undefined).finally(() => {
  rmSync(directory, { recursive: true, force: true });
  process.exit(0);
}));
process.stdin.resume();
`;

/**
 * Starts s3rver on 127.0.0.1 (port 0: the OS picks a free one) with one bucket.
 *
 * It runs in a child process because s3rver 3.7 signs ListObjectsV2 continuation tokens with DES,
 * which Node 20's OpenSSL 3 only offers with --openssl-legacy-provider; in-process, every truncated
 * listing (any pagination) fails with a 500. The server itself is unmodified.
 */
export async function startS3(bucket = 'freshline-stage'): Promise<S3StandIn> {
  const directory = mkdtempSync(join(tmpdir(), 'freshline-s3rver-'));
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '-e', SERVER, require.resolve('s3rver'), directory, bucket],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin.on('error', () => undefined); // EPIPE when the child is already gone: stopping is the goal anyway
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const stop = async () => {
    child.stdin.end();
    const killed = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killed);
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15s: ${stderr}`)), 15_000);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const line = out.split('\n')[0];
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with code ${code} before listening: ${stderr}`));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
    const client = new S3Client({ endpoint, region: 'us-east-1', credentials, forcePathStyle: true });
    return {
      endpoint,
      bucket,
      region: 'us-east-1',
      credentials,
      async read(url) {
        const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
        if (!m) throw new Error(`not an s3:// object URL: ${url}`);
        const out = await client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
        return Buffer.from(await out.Body!.transformToByteArray());
      },
      close: async () => {
        client.destroy();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
