import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { readSourceUrl, scrub, sourceError } from '../../activities/sources/postgres/connection';
import { extractTable } from '../../activities/sources/postgres/extract';
import { LocalObjectStore } from '../../activities/storage/local';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { PostgresSourceSchema, SourceTableSchema } from '../../config/schema';
import { createDatabase } from '../../infra/local/postgres';
import { testEnv } from '../support/env';

// The source connection string carries the password: no error leaving the extract may contain it, a failure
// to connect names the secret (not its value), and a secret of the wrong form is refused when it is read.

const SECRET = 'SHOP_DB_URL';
const PASSWORD = 'pw-Very$ecret-4217';
const ROLE = 'freshline_pw_test';

let url: string;
let pool: Pool;
let db: DuckDbWarehouse;
let hbaFile: string;
let hbaBefore: string;
beforeAll(async () => {
  url = await createDatabase(testEnv('pgAdminUrl'), 't_source_errors');
  pool = new Pool({ connectionString: url });
  pool.on('error', () => undefined);
  db = await DuckDbWarehouse.open(':memory:');
  await pool.query('CREATE TABLE items (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now())');
  // The test cluster trusts every local connection; one role of this file's own signs in with a password
  // (scram-sha-256, first line of pg_hba.conf), so a wrong password is refused by PostgreSQL itself.
  await pool.query(`DROP ROLE IF EXISTS ${ROLE}`);
  await pool.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  await pool.query(`GRANT SELECT ON items TO ${ROLE}`);
  hbaFile = (await pool.query<{ hba_file: string }>('SHOW hba_file')).rows[0].hba_file;
  hbaBefore = readFileSync(hbaFile, 'utf8');
  writeFileSync(hbaFile, `host all ${ROLE} 127.0.0.1/32 scram-sha-256\n${hbaBefore}`);
  await pool.query('SELECT pg_reload_conf()');
  // The postmaster reloads on its own time: wait until it asks this role for a password.
  for (let i = 0; ; i++) {
    const c = new Client({ connectionString: withCredentials(url, ROLE, 'not-the-password') });
    c.on('error', () => undefined);
    const refused = await c.connect().then(
      () => false,
      (e: { code?: string }) => e.code === '28P01',
    );
    await c.end().catch(() => undefined);
    if (refused) break;
    if (i > 200) throw new Error('pg_hba.conf reload not seen');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
afterAll(async () => {
  if (hbaFile) {
    writeFileSync(hbaFile, hbaBefore);
    await pool.query('SELECT pg_reload_conf()');
  }
  await db?.close();
  await pool?.end();
});

function withCredentials(base: string, user: string, password: string, database?: string): string {
  const u = new URL(base);
  u.username = user;
  u.password = password;
  if (database) u.pathname = `/${database}`;
  return u.toString();
}

/** Every text an error carries to a log or a Temporal failure: message, stack, own properties, causes. */
function everything(err: unknown): string {
  const seen: string[] = [];
  for (let e = err as (Error & { cause?: unknown }) | undefined; e; e = e.cause as typeof e) {
    seen.push(String(e.message), String(e.stack), JSON.stringify(e, Object.getOwnPropertyNames(e)));
  }
  return seen.join('\n');
}

async function extractWith(sourceUrl: string): Promise<Error> {
  const stage = new LocalObjectStore(mkdtempSync(join(tmpdir(), 'freshline-source-errors-')));
  return extractTable({
    sourceName: 'shop',
    source: PostgresSourceSchema.parse({ type: 'postgres', urlSecret: SECRET }),
    url: sourceUrl,
    table: SourceTableSchema.parse({ name: 'items', primaryKey: ['id'] }),
    window: { start: '2000-01-01T00:00:00.000Z', end: '2100-01-01T00:00:00.000Z' },
    lookbackMs: 0,
    piiKey: '',
    stage,
    converter: db,
    scratchDir: join(stage.root, 'tmp'),
  }).then(
    () => {
      throw new Error('extract succeeded');
    },
    (e: unknown) => e as Error,
  );
}

test('the right password extracts (the role is real)', async () => {
  const stage = new LocalObjectStore(mkdtempSync(join(tmpdir(), 'freshline-source-errors-')));
  const manifest = await extractTable({
    sourceName: 'shop',
    source: PostgresSourceSchema.parse({ type: 'postgres', urlSecret: SECRET }),
    url: withCredentials(url, ROLE, PASSWORD),
    table: SourceTableSchema.parse({ name: 'items', primaryKey: ['id'] }),
    window: { start: '2000-01-01T00:00:00.000Z', end: '2100-01-01T00:00:00.000Z' },
    lookbackMs: 0,
    piiKey: '',
    stage,
    converter: db,
    scratchDir: join(stage.root, 'tmp'),
  });
  expect(manifest.rows).toBe(0);
});

test('a wrong password: the error names the source and the secret, and carries neither URL nor password', async () => {
  const wrong = `${PASSWORD}-old`;
  const bad = withCredentials(url, ROLE, wrong);
  const err = await extractWith(bad);
  expect(err.message).toBe(
    `cannot connect to source 'shop' (secret ${SECRET}): password authentication failed for user "${ROLE}"`,
  );
  expect((err as { code?: string }).code).toBe('28P01');
  expect(everything(err)).not.toContain(wrong);
  expect(everything(err)).not.toContain(bad);
});

test('an unreachable host: named secret, socket error, no password', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as AddressInfo;
      s.close(() => resolve(p));
    });
  });
  const bad = `postgresql://${ROLE}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/db`;
  const err = await extractWith(bad);
  expect(err.message).toBe(
    `cannot connect to source 'shop' (secret ${SECRET}): connect ECONNREFUSED 127.0.0.1:${port}`,
  );
  expect(everything(err)).not.toContain(PASSWORD);
  expect(everything(err)).not.toContain(encodeURIComponent(PASSWORD));
});

test('a message quoting part of the URL is scrubbed (a database named like the password)', async () => {
  const bad = withCredentials(url, ROLE, PASSWORD, PASSWORD);
  const err = await extractWith(bad);
  // PostgreSQL answers 'database "<name>" does not exist': the name is the password here.
  expect(err.message).toMatch(
    /^cannot connect to source 'shop' \(secret SHOP_DB_URL\): database "\*\*\*" does not exist$/,
  );
  expect(everything(err)).not.toContain(PASSWORD);
});

test('a URL node-postgres cannot parse fails naming the secret, with no password anywhere', async () => {
  const err = await extractWith(`postgresql://${ROLE}:${PASSWORD}@127.0.0.1:99999/db`);
  expect(err.message).toBe(`cannot connect to source 'shop' (secret ${SECRET}): Invalid URL`);
  expect(everything(err)).not.toContain(PASSWORD);
});

test('the secret must be a postgres:// or postgresql:// URL: checked when read, named, never quoted', async () => {
  const read = (value: string) => readSourceUrl(new EnvSecretStore({ [SECRET]: value }), SECRET);
  await expect(read(withCredentials(url, ROLE, PASSWORD))).resolves.toBe(withCredentials(url, ROLE, PASSWORD));
  await expect(read(`postgres://u:${PASSWORD}@db.internal:5432/shop`)).resolves.toContain('postgres://');

  const keywords = (await read(`host=db.internal password=${PASSWORD} dbname=shop`).catch((e: unknown) => e)) as Error;
  expect(keywords.message).toBe(
    `secret '${SECRET}' must be a postgres:// or postgresql:// URL such as postgresql://user:password@host:5432/database (it holds a key=value connection string, which is not supported)`,
  );
  expect(everything(keywords)).not.toContain(PASSWORD);

  const other = (await read(`mysql://u:${PASSWORD}@db/shop`).catch((e: unknown) => e)) as Error;
  expect(other.message).toMatch(new RegExp(`^secret '${SECRET}' must be a postgres:// or postgresql:// URL`));
  expect(everything(other)).not.toContain(PASSWORD);

  const unparsable = (await read(`postgresql://u:${PASSWORD}@db:99999/shop`).catch((e: unknown) => e)) as Error;
  expect(unparsable.message).toMatch(new RegExp(`^secret '${SECRET}' is not a valid postgresql:// URL`));
  expect(everything(unparsable)).not.toContain(PASSWORD);
});

test('sourceError: URL, raw and decoded password cut out; code kept; no extra properties', () => {
  const secretUrl = 'postgresql://app:p%40ss%2Fword@db:5432/shop';
  const original = Object.assign(new Error(`failed for ${secretUrl} (password p@ss/word, raw p%40ss%2Fword)`), {
    code: '08006',
    input: secretUrl,
  });
  const err = sourceError(original, secretUrl, { secret: SECRET });
  expect(err.message).toBe(`cannot connect to the source (secret ${SECRET}): failed for *** (password ***, raw ***)`);
  expect(err).toMatchObject({ code: '08006' });
  expect(everything(err)).not.toContain('p@ss/word');
  expect(everything(err)).not.toContain('p%40ss%2Fword');
  // A keyword string that reached an error anyway loses its password too.
  expect(scrub('bad: host=x password=hunter2 dbname=z', 'host=x password=hunter2 dbname=z')).toBe('bad: ***');
  expect(scrub("password='hun ter2' seen", "host=x password='hun ter2'")).toBe('password=*** seen');
});
