import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerStore, type SecretsManagerStoreOptions } from '../../activities/secrets/aws-secrets-manager';
import { start, type SecretsManagerStandIn } from '../stand-ins/secrets-manager';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'AKIDSTANDIN0001', secretAccessKey: 'stand-in-secret-access-key' };
// Distinctive values so "never in messages" checks cannot pass by accident.
const PG_URL = 'postgres://loader:pg-s3cr3t-v1@db:5432/shop';

let sm: SecretsManagerStandIn;
let admin: SecretsManagerClient;
let stores: SecretsManagerStore[];
let now: number;

beforeEach(async () => {
  sm = await start({ ...CREDENTIALS, region: REGION });
  admin = new SecretsManagerClient({ region: REGION, endpoint: sm.endpoint, credentials: CREDENTIALS });
  stores = [];
  now = 1_700_000_000_000;
});
afterEach(async () => {
  for (const s of stores) s.close();
  admin.destroy();
  await sm.close();
});

function store(opts: Partial<SecretsManagerStoreOptions> = {}): SecretsManagerStore {
  const s = new SecretsManagerStore({
    region: REGION,
    endpoint: sm.endpoint,
    credentials: CREDENTIALS,
    clock: () => now,
    ...opts,
  });
  stores.push(s);
  return s;
}

/** Rotates through the API, as a rotation function or an operator would. */
async function rotate(secretId: string, value: string, stages?: string[]): Promise<void> {
  await admin.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value, VersionStages: stages }));
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error(`expected a rejection with an Error, got ${String(err)}`);
  return err;
}

test('reads a plain secret under the prefix, signed with the configured credentials, asking for AWSCURRENT', async () => {
  sm.put('freshline/prod/pg-url', PG_URL);
  expect(await store({ prefix: 'freshline/prod/' }).get('pg-url')).toBe(PG_URL);
  expect(sm.requests).toEqual([
    {
      operation: 'GetSecretValue',
      secretId: 'freshline/prod/pg-url',
      versionStage: 'AWSCURRENT',
      accessKeyId: CREDENTIALS.accessKeyId,
      status: 200,
    },
  ]);
});

test('reads one key of a JSON secret; bad JSON and missing keys fail naming the secret, not the value', async () => {
  sm.put('snowflake', JSON.stringify({ user: 'loader', password: 'sf-s3cr3t', port: 443 }));
  sm.put('opaque', 'opaque-s3cr3t-not-json');
  const s = store();
  expect(await s.get('snowflake#password')).toBe('sf-s3cr3t');
  expect(await s.get('snowflake#port')).toBe('443');
  expect(sm.count('GetSecretValue')).toBe(1); // cached per secret id, whatever the key

  const missing = await failure(s.get('snowflake#token'));
  expect(missing.message).toBe("secret 'snowflake' has no key 'token' (keys: user, password, port)");
  const notJson = await failure(s.get('opaque#password'));
  expect(notJson.message).toBe("secret 'opaque' is not JSON, so key 'password' cannot be read from it");
  for (const e of [missing, notJson]) {
    expect(e.message).not.toMatch(/s3cr3t/);
  }
  await expect(s.get('snowflake#')).rejects.toThrow(/empty key after '#'/);
});

test('a binary secret is decoded to text when there is no SecretString', async () => {
  sm.put('tableau-pat', Buffer.from('pat-s3cr3t-binary', 'utf8'));
  expect(await store().get('tableau-pat')).toBe('pat-s3cr3t-binary');
});

test('a missing secret names the id and region, and no value', async () => {
  sm.put('pg-url', PG_URL);
  const err = await failure(store({ prefix: 'freshline/prod/' }).get('pg-urll'));
  expect(err.message).toBe("secret 'freshline/prod/pg-urll' not found in AWS Secrets Manager (eu-west-1)");
  expect(err.message).not.toContain('s3cr3t');
});

test('wrong credentials fail clearly, naming the secret and the AWS error code', async () => {
  sm.put('pg-url', PG_URL);
  const wrongKey = await failure(
    store({ credentials: { ...CREDENTIALS, accessKeyId: 'AKIDSOMEONEELSE' } }).get('pg-url'),
  );
  expect(wrongKey.message).toMatch(
    /^cannot read secret 'pg-url' from AWS Secrets Manager \(eu-west-1\): UnrecognizedClientException: .*check the AWS credentials/,
  );
  const wrongSecret = await failure(
    store({ credentials: { ...CREDENTIALS, secretAccessKey: 'not-the-key' } }).get('pg-url'),
  );
  expect(wrongSecret.message).toMatch(/^cannot read secret 'pg-url' .*: InvalidSignatureException: /);
  for (const e of [wrongKey, wrongSecret]) expect(e.message).not.toContain('s3cr3t');
  expect(sm.requests.map((r) => r.error)).toEqual(['UnrecognizedClientException', 'InvalidSignatureException']);
});

test('caches per secret id: sequential and concurrent gets share one request', async () => {
  sm.put('pg-url', PG_URL);
  sm.put('api', JSON.stringify({ a: '1', b: '2' }));
  const s = store();
  expect([await s.get('pg-url'), await s.get('pg-url')]).toEqual([PG_URL, PG_URL]);
  expect(sm.count('GetSecretValue')).toBe(1);

  const values = await Promise.all([s.get('api#a'), s.get('api#b'), s.get('api'), s.get('api#a')]);
  expect(values).toEqual(['1', '2', JSON.stringify({ a: '1', b: '2' }), '1']);
  expect(sm.count('GetSecretValue')).toBe(2);
});

test('rotation: the cached value is served until the ttl, then the new one; refresh() picks it up at once', async () => {
  sm.put('pg-url', PG_URL);
  const s = store({ ttlMs: 60_000 });
  expect(await s.get('pg-url')).toBe(PG_URL);

  await rotate('pg-url', 'postgres://loader:pg-s3cr3t-v2@db:5432/shop');
  now += 59_999;
  expect(await s.get('pg-url')).toBe(PG_URL);
  now += 1;
  expect(await s.get('pg-url')).toBe('postgres://loader:pg-s3cr3t-v2@db:5432/shop');
  expect(sm.count('GetSecretValue')).toBe(2);

  // An auth failure just after a rotation: the caller refreshes instead of waiting out the ttl.
  await rotate('pg-url', 'postgres://loader:pg-s3cr3t-v3@db:5432/shop');
  expect(await s.get('pg-url')).toBe('postgres://loader:pg-s3cr3t-v2@db:5432/shop');
  await s.refresh('pg-url');
  expect(await s.get('pg-url')).toBe('postgres://loader:pg-s3cr3t-v3@db:5432/shop');
  expect(sm.count('GetSecretValue')).toBe(3);
});

test('refresh() while a request is in flight makes the next get ask again rather than join it', async () => {
  sm.put('pg-url', PG_URL);
  const s = store();
  const first = s.get('pg-url');
  await s.refresh('pg-url');
  const second = s.get('pg-url');
  expect(await Promise.all([first, second])).toEqual([PG_URL, PG_URL]);
  expect(sm.count('GetSecretValue')).toBe(2);
  expect(await s.get('pg-url')).toBe(PG_URL);
  expect(sm.count('GetSecretValue')).toBe(2); // the second request's value is the cached one
});

test('a pending version (mid-rotation, before finishSecret) is never read', async () => {
  sm.put('pg-url', PG_URL);
  const s = store();
  await rotate('pg-url', 'postgres://loader:pg-s3cr3t-pending@db:5432/shop', ['AWSPENDING']);
  await s.refresh('pg-url#ignored-key-resolves-to-the-same-id');
  expect(await s.get('pg-url')).toBe(PG_URL);
  expect(sm.requests.every((r) => r.versionStage === undefined || r.versionStage === 'AWSCURRENT')).toBe(true);
});

test('failed refreshes serve the stale value (with a warning, no value) within maxStaleMs, then fail', async () => {
  sm.put('pg-url', PG_URL);
  const warnings: string[] = [];
  const s = store({ ttlMs: 60_000, maxStaleMs: 600_000, maxAttempts: 1, onWarning: (m) => warnings.push(m) });
  const fetchedAt = now;
  expect(await s.get('pg-url')).toBe(PG_URL);

  sm.failNext(1, 'InternalServiceError');
  now = fetchedAt + 61_000;
  expect(await s.get('pg-url')).toBe(PG_URL);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(
    /^serving cached secret 'pg-url' fetched 61s ago because refreshing it failed \(cannot read secret 'pg-url' .*InternalServiceError/,
  );
  expect(warnings[0]).not.toContain('s3cr3t');

  // Backs off instead of asking again on every get while AWS is failing.
  expect(await s.get('pg-url')).toBe(PG_URL);
  expect(sm.count('GetSecretValue')).toBe(2);

  sm.failNext(1, 'ThrottlingException');
  now += 30_000;
  expect(await s.get('pg-url')).toBe(PG_URL);
  expect(sm.count('GetSecretValue')).toBe(3);
  expect(warnings).toHaveLength(2);

  sm.failNext(1, 'InternalServiceError');
  now = fetchedAt + 600_000;
  const err = await failure(s.get('pg-url'));
  expect(err.message).toMatch(
    /^cannot read secret 'pg-url' from AWS Secrets Manager \(eu-west-1\): InternalServiceError/,
  );
  expect(err.message).not.toContain('s3cr3t');

  // Once AWS answers again, the value is fresh again.
  expect(await s.get('pg-url')).toBe(PG_URL);
  expect(sm.count('GetSecretValue')).toBe(5);
});

test("a single transient failure is absorbed by the SDK's own retry", async () => {
  sm.put('pg-url', PG_URL);
  sm.failNext(1, 'InternalServiceError');
  expect(await store().get('pg-url')).toBe(PG_URL);
  expect(sm.requests.map((r) => r.status)).toEqual([500, 200]);
});
