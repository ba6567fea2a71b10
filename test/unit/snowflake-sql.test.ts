import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { holdAnalyzer } from '../stand-ins/snowflake-sql/analyzer-server';
import { SnowflakeCatalog } from '../stand-ins/snowflake-sql/catalog';
import { checkStatement, type EmptyAnswer } from '../stand-ins/snowflake-sql/statements';

// The stand-in's SQL check: ZetaSQL's Snowflake analyzer (the real binary from its npm package) against a
// catalog kept from the DDL received, plus shape checks for what the analyzer has no grammar for.

let catalog: SnowflakeCatalog;
const release = holdAnalyzer();
afterAll(release);
const check = (sql: string) => checkStatement(catalog, sql);
const code = async (sql: string) => (await check(sql))?.code ?? 'ok';

beforeAll(async () => {
  catalog = new SnowflakeCatalog();
  for (const sql of [
    'CREATE SCHEMA IF NOT EXISTS "raw"',
    'CREATE TABLE IF NOT EXISTS "raw"."shop__orders" ("order_id" NUMBER(38,0), "total" NUMBER(12,2), "email" VARCHAR, "updated_at" TIMESTAMP_TZ, _deleted BOOLEAN)',
  ])
    expect(await check(sql)).toBeNull();
}, 60_000);

test.each([
  ['SELECT rowid FROM raw.shop__orders', '000904'],
  ['SELECT count(*) FILTER (WHERE total > 1) FROM raw.shop__orders', '001003'],
  ['SELEC 1 2 3', '001003'],
  ['SELECT * FROM raw.nosuch', '002003'],
  ['SELECT now()', '002140'],
  ['INSERT INTO raw.shop__orders BY NAME SELECT 1 AS order_id', '001003'],
  ['SELECT (order_id, total) = (SELECT 1, 2) FROM raw.shop__orders', '002016'],
  ['VACUUM raw.shop__orders', '001003'],
  ["SELECT count_if(total > 1) AS n, concat_ws('|', email, 'x') AS h FROM raw.shop__orders", '002016'],
  ['DROP TABLE raw.nosuch', '002003'],
  ['CREATE TABLE raw.shop__orders (a INT)', '002002'],
])('Snowflake refuses %s with %s', async (sql, expected) => {
  expect(await code(sql)).toBe(expected);
});

test.each([
  "SELECT IFF(total > 1, 'a', 'b') AS x, TO_VARCHAR(updated_at) AS y FROM raw.shop__orders WHERE order_id = :1",
  'SELECT order_id FROM raw.shop__orders WHERE TRUE QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) = 1',
  'SELECT count_if(total > 1) AS n FROM raw.shop__orders',
  "SELECT concat_ws('|', email, 'x') AS h FROM raw.shop__orders",
  'DELETE FROM "raw"."shop__orders" WHERE "updated_at" < :1::TIMESTAMPTZ',
  'DELETE FROM raw.shop__orders AS r USING (SELECT order_id FROM raw.shop__orders) AS s WHERE r.order_id = s.order_id',
  // Every row: Snowflake needs no WHERE (ZetaSQL alone would insist on one).
  'DELETE FROM "raw"."shop__orders"',
  'ALTER SESSION SET QUERY_TAG = \'{"app":"freshline"}\'',
  'BEGIN TRANSACTION',
])('Snowflake runs %s', async (sql) => {
  expect(await check(sql)).toBeNull();
});

test('CTAS, clone, swap, add column and drop keep the catalog as Snowflake would', async () => {
  expect(await check('CREATE SCHEMA IF NOT EXISTS "shadow"')).toBeNull();
  expect(
    await check(
      'CREATE OR REPLACE TRANSIENT TABLE "shadow"."stg" AS SELECT order_id, total * 2 AS doubled FROM raw.shop__orders',
    ),
  ).toBeNull();
  expect(catalog.get('shadow', 'stg')?.columns).toEqual([
    { name: 'ORDER_ID', type: 'NUMBER(38,0)' },
    { name: 'DOUBLED', type: 'NUMBER(38,10)' },
  ]);
  expect(await code('SELECT total FROM shadow.stg')).toBe('000904');
  expect(await check('CREATE TABLE "shadow"."copy" CLONE "shadow"."stg"')).toBeNull();
  expect(await check('ALTER TABLE "shadow"."copy" ADD COLUMN IF NOT EXISTS _lsn VARCHAR')).toBeNull();
  expect(await check('SELECT _lsn, doubled FROM shadow.copy')).toBeNull();
  expect(await check('ALTER TABLE "shadow"."copy" SWAP WITH "shadow"."stg"')).toBeNull();
  expect(await check('SELECT _lsn FROM shadow.stg')).toBeNull();
  expect(await code('SELECT _lsn FROM shadow.copy')).toBe('000904');
  expect(await check('DROP TABLE IF EXISTS "shadow"."copy"')).toBeNull();
  expect(await code('SELECT * FROM shadow.copy')).toBe('002003');
});

test('COPY INTO is checked for its documented form, its table, stage and metadata column', async () => {
  expect(
    await check(
      `CREATE STAGE IF NOT EXISTS "raw"."freshline_stage" URL = 's3://bucket/stage/' STORAGE_INTEGRATION = "s3_int" FILE_FORMAT = (TYPE = PARQUET)`,
    ),
  ).toBeNull();
  expect(await check('CREATE TABLE "raw"."landing" ("order_id" NUMBER(38,0), "filename" VARCHAR)')).toBeNull();
  const copy = (table: string, stage: string, meta = 'filename') =>
    `COPY INTO ${table} FROM '@${stage}/shop/orders/' FILES = ('part-0.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE INCLUDE_METADATA = (${meta} = METADATA$FILENAME) ON_ERROR = ABORT_STATEMENT`;
  expect(await check(copy('"raw"."landing"', 'raw.freshline_stage'))).toBeNull();
  expect(await code(copy('"raw"."nosuch"', 'raw.freshline_stage'))).toBe('002003');
  expect(await code(copy('"raw"."landing"', 'raw.other_stage'))).toBe('002003');
  expect(await code(copy('"raw"."landing"', 'raw.freshline_stage', 'file_name'))).toBe('000904');
  expect(await code(`COPY INTO "raw"."landing" FROM @raw.freshline_stage PURGE = MAYBE`)).toBe('001003');
});

test('QUALIFY without WHERE (valid in Snowflake) is analyzed, nested too', async () => {
  expect(
    await check(
      `SELECT order_id FROM (SELECT * FROM raw.shop__orders QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) = 1) AS latest WHERE NOT _deleted`,
    ),
  ).toBeNull();
  expect(await code(`SELECT order_id FROM raw.shop__orders QUALIFY nosuch = 1`)).toBe('000904');
});

test('a bind is typed as the driver sent it: a TEXT bind alone in a select list is a string (ZetaSQL alone would infer INT64)', async () => {
  const sql = 'INSERT INTO raw.shop__orders (order_id, email) SELECT order_id, :1 FROM raw.shop__orders';
  expect(await checkStatement(catalog, sql, undefined, ['TEXT'])).toBeNull();
});

test.each([
  ['SELECT count(*) AS n, max("total") AS biggest FROM "raw"."shop__orders"', [[0, null]]],
  ['SELECT "order_id", count(*) AS n FROM "raw"."shop__orders" GROUP BY "order_id"', []],
  ['SELECT "order_id" FROM "raw"."shop__orders" ORDER BY 1', []],
  ['SELECT (SELECT count(*) FROM "raw"."shop__orders") AS n, 1 AS one', [[null, null]]],
])('an unprogrammed query is answered as over empty tables: %s', async (sql, rows) => {
  const out: { emptyAnswer?: EmptyAnswer } = {};
  expect(await checkStatement(catalog, sql, out)).toBeNull();
  expect(out.emptyAnswer?.rows).toEqual(rows);
  expect(out.emptyAnswer?.columns.length).toBe(2 - (sql.includes('ORDER BY') ? 1 : 0));
});

test('a VALUES list and GENERATOR rows (valid Snowflake the analyzer lacks) are analyzed as equivalent SELECTs', async () => {
  expect(await code("SELECT city, region FROM (VALUES ('Boston', 'East'), ('Fargo', 'Mid')) AS t (city, region)")).toBe(
    'ok',
  );
  expect(await code("SELECT dateadd(day, seq4(), '2015-01-01'::date) AS d FROM table(generator(rowcount => 10))")).toBe(
    'ok',
  );
  expect(await code('SELECT nope FROM (VALUES (1)) AS t (city)')).toBe('000904');
});

test('the documented credits-by-dataset-and-step report is valid Snowflake SQL over ACCOUNT_USAGE', async () => {
  const report = readFileSync(join(__dirname, '../../infra/snowflake/reports/credits_by_dataset_step.sql'), 'utf8');
  const usage = new SnowflakeCatalog();
  usage.createSchema('ACCOUNT_USAGE');
  usage.define('ACCOUNT_USAGE', 'QUERY_ATTRIBUTION_HISTORY', {
    kind: 'table',
    columns: [
      'QUERY_ID VARCHAR',
      'QUERY_TAG VARCHAR',
      'START_TIME TIMESTAMP_LTZ',
      'CREDITS_ATTRIBUTED_COMPUTE FLOAT',
    ].map((c) => ({ name: c.split(' ')[0], type: c.split(' ')[1] })),
    temporary: false,
  });
  // The stand-in's catalog has schemas, not databases: the view is named without its SNOWFLAKE database.
  const sql = report.replace(/--[^\n]*\n/g, '').replace('SNOWFLAKE.ACCOUNT_USAGE.', 'ACCOUNT_USAGE.');
  const out: { emptyAnswer?: EmptyAnswer } = {};
  expect(await checkStatement(usage, sql, out)).toBeNull();
  expect(out.emptyAnswer?.columns.map((c) => c.name)).toEqual(['DATASET', 'STEP', 'QUERIES', 'CREDITS']);
  expect(await checkStatement(usage, sql.replace('credits_attributed_compute', 'credits_used'), out)).toMatchObject({
    code: '000904',
  });
});
