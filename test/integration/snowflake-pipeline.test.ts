import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import type { Manifest } from '../../activities/sources/postgres/manifest';
import { SNOWFLAKE } from '../../activities/warehouse/dialect';
import { loadManifest } from '../../activities/warehouse/load';
import { publishTables } from '../../activities/warehouse/publish';
import { SnowflakeWarehouse, SnowflakeWarehouseError } from '../../activities/warehouse/engines/snowflake';
import { buildModels } from '../../activities/warehouse/models/build';
import { refreshDatasetHealth } from '../../activities/warehouse/audit/health';
import { runChecks } from '../../activities/warehouse/quality/checks';
import { readModels } from '../../activities/warehouse/models/catalog';
import { parseConfig } from '../../config/load';
import type { PipelineConfig } from '../../config/schema';
import { openDeps, type WorkerDeps } from '../../workers/deps';
import {
  type RecordedStatement,
  type SnowflakeStandIn,
  type StandInColumn,
  startSnowflakeStandIn,
} from '../stand-ins/snowflake';
import { standInWarehouse } from '../support/snowflake-config';

/**
 * The production path at the SQL level: the worker's adapters built from a Snowflake + S3 config, then
 * load (external stage, COPY into a temporary table, checked), transform (MERGE of an incremental mart)
 * and publish (SWAP, bi view, grants) through the real snowflake-sdk against the REST stand-in. The
 * stand-in runs no SQL: catalog and COPY queries are answered with results shaped as Snowflake documents
 * them, and the test asserts the exact statements, in order, each under the run's QUERY_TAG.
 */

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const secrets = new EnvSecretStore({ SF_LOADER_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
const DIR = 'shop/shop.orders/dt=2024-03-01/20240301T000000Z--20240301T001500Z';
const KEYS = [`${DIR}/part-00000-000.parquet`, `${DIR}/part-00000-001.parquet`];
const STAGE_URL = 's3://acme-freshline/stage/';

let stand: SnowflakeStandIn;
let tmp: string;
let modelsDir: string;
let deps: WorkerDeps;

function configFor(publish: string[]): PipelineConfig {
  return parseConfig({
    sources: { shop: { type: 'postgres', urlSecret: 'SHOP_DB_URL' } },
    datasets: [
      {
        name: 'sales',
        cadence: '15m',
        freshnessSla: '20m',
        source: 'shop',
        tables: [{ name: 'orders', schema: 'shop', primaryKey: ['order_id'] }],
        publish,
      },
    ],
    warehouse: standInWarehouse(stand.url, STAGE_URL, { statementTimeout: '1h' }),
    stage: { type: 's3', bucket: 'acme-freshline', prefix: 'stage', region: 'eu-west-1' },
  });
}

/** A models directory with the given files (`layer/name.sql` → SQL). */
function modelsWith(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  for (const layer of ['staging', 'intermediate', 'marts']) mkdirSync(join(dir, layer), { recursive: true });
  for (const [file, sql] of Object.entries(files)) writeFileSync(join(dir, file), sql);
  return dir;
}

const STG_ORDERS = `-- grain: one row per order_id
select order_id, amount, updated_at
  from {{ latest('shop', 'orders', 'order_id') }}
`;

const manifest = (over: Partial<Manifest> = {}): Manifest => ({
  mode: 'incremental',
  source: 'shop',
  schema: 'shop',
  table: 'orders',
  window: { start: '2024-03-01T00:00:00.000Z', end: '2024-03-01T00:15:00.000Z' },
  readFrom: '2024-02-29T23:55:00.000Z',
  keys: KEYS,
  rows: 7,
  sourceRows: 7,
  bytes: 4096,
  schemaHash: '0123456789abcdef',
  columns: [
    { name: 'order_id', sourceType: 'bigint', type: 'BIGINT' },
    { name: 'amount', sourceType: 'numeric(12,2)', type: 'DECIMAL(12,2)' },
    { name: 'updated_at', sourceType: 'timestamp with time zone', type: 'TIMESTAMPTZ' },
  ],
  primaryKey: ['order_id'],
  cursor: 'updated_at',
  maxCursor: '2024-03-01T00:14:59.000Z',
  extractedAt: '2024-03-01T00:15:30.000Z',
  drift: null,
  blocked: false,
  unchanged: false,
  checksum: null,
  ...over,
});

/** COPY INTO's documented result: one row per file. */
const COPY_COLUMNS: StandInColumn[] = [
  { name: 'file', type: 'VARCHAR' },
  { name: 'status', type: 'VARCHAR' },
  { name: 'rows_parsed', type: 'NUMBER(38,0)' },
  { name: 'rows_loaded', type: 'NUMBER(38,0)' },
  { name: 'error_limit', type: 'NUMBER(38,0)' },
  { name: 'errors_seen', type: 'NUMBER(38,0)' },
  { name: 'first_error', type: 'VARCHAR' },
  { name: 'first_error_line', type: 'NUMBER(38,0)' },
  { name: 'first_error_character', type: 'NUMBER(38,0)' },
  { name: 'first_error_column_name', type: 'VARCHAR' },
];
const copied = (key: string, rows: number, status = 'LOADED') => [
  `${STAGE_URL}${key}`,
  status,
  rows,
  rows,
  1,
  0,
  null,
  null,
  null,
  null,
];

/** Catalog answers (schema, table → columns), as the INFORMATION_SCHEMA queries select them: name, type. */
const CATALOG: Record<string, [string, string][]> = {
  'raw.shop__orders': [
    ['order_id', 'NUMBER(38,0)'],
    ['amount', 'NUMBER(12,2)'],
    ['updated_at', 'TIMESTAMP_TZ'],
    ['_load_id', 'TEXT'],
    ['_window_start', 'TIMESTAMP_TZ'],
    ['_window_end', 'TIMESTAMP_TZ'],
    ['_extracted_at', 'TIMESTAMP_TZ'],
    ['_source_file', 'TEXT'],
    ['_deleted', 'BOOLEAN'],
    ['_lsn', 'TEXT'],
  ],
  'shadow_sales.fct_orders__view': [
    ['order_id', 'NUMBER(38,0)'],
    ['amount', 'NUMBER(12,2)'],
  ],
  'certified.fct_orders': [
    ['order_id', 'NUMBER(38,0)'],
    ['amount', 'NUMBER(12,2)'],
    ['_row_hash', 'TEXT'],
    ['_run_id', 'TEXT'],
  ],
  // The mart's persistent shadow table, as yesterday's build left it.
  'shadow_sales.fct_orders': [
    ['order_id', 'NUMBER(38,0)'],
    ['amount', 'NUMBER(12,2)'],
    ['_row_hash', 'TEXT'],
    ['_run_id', 'TEXT'],
  ],
  // Yesterday's bi view still had a column the model no longer produces: it stays, as a typed NULL.
  'bi.fct_orders': [
    ['order_id', 'NUMBER(38,0)'],
    ['amount', 'NUMBER(12,2)'],
    ['legacy_channel', 'TEXT'],
  ],
};

/** The statements of the session recorded since `from`, whitespace normalised, without the adapter's ALTER SESSIONs. */
function since(from: number): RecordedStatement[] {
  return stand.statements.slice(from).filter((s) => !/^ALTER SESSION/i.test(s.sqlText));
}
const sql = (statements: RecordedStatement[]) => statements.map((s) => s.sqlText.replace(/\s+/g, ' ').trim());

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'freshline-sf-pipeline-'));
  stand = await startSnowflakeStandIn({
    account: 'FRESHLINE_TEST',
    users: [{ name: 'LOADER', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
    analyze: true,
  });
  // The account as yesterday's run left it: shadow, certified and bi already hold fct_orders.
  for (const schema of ['shadow_sales', 'certified', 'bi']) stand.catalog.createSchema(schema);
  for (const [fqn, kind] of [
    ['shadow_sales.fct_orders', 'table'],
    ['certified.fct_orders', 'table'],
    ['bi.fct_orders', 'view'],
  ] as const) {
    const [schema, table] = fqn.split('.');
    const columns = CATALOG[fqn].map(([name, type]) => ({ name, type }));
    stand.catalog.define(schema, table, { kind, columns, temporary: false });
  }
  stand.on(/FROM information_schema\.columns/i, (_sql, [schema, table]) => ({
    columns: [
      { name: 'NAME', type: 'VARCHAR' },
      { name: 'TYPE', type: 'VARCHAR' },
    ],
    rows: CATALOG[`${String(schema)}.${String(table)}`] ?? [],
  }));
  stand.on(/^SELECT count\(\*\)/i, (text) => ({
    columns: [{ name: (/ AS (\w+)/i.exec(text)?.[1] ?? 'N').toUpperCase(), type: 'NUMBER(18,0)' }],
    rows: [[7]],
  }));
  stand.on(/^COPY INTO/, () => ({ columns: COPY_COLUMNS, rows: [copied(KEYS[0], 4), copied(KEYS[1], 3)] }));
  stand.on(/^INSERT INTO "raw"\."shop__orders"/, () => ({ updated: 7 }));
  stand.on(/^MERGE INTO/, () => ({ updated: 2 }));
  modelsDir = modelsWith('models', {
    'staging/stg_orders.sql': STG_ORDERS,
    'marts/fct_orders.sql': `-- grain: one row per order_id
-- materialized: incremental
-- unique_key: order_id
select order_id, amount from {{ ref('stg_orders') }}
`,
  });
  deps = await openDeps({ dataDir: join(tmp, 'data'), config: configFor(['fct_orders']), secrets, modelsDir });
});

afterAll(async () => {
  await deps?.close();
  await stand?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const tagged = () =>
  (deps.warehouse as SnowflakeWarehouse).withQueryTag({ dataset: 'sales', runId: 'sales/window/2024-03-01T00:00:00Z' });

test('the worker connects with key-pair auth, tags its session and creates the audit tables in Snowflake types', () => {
  expect(deps.warehouse).toBeInstanceOf(SnowflakeWarehouse);
  const session = [...stand.sessions.values()].at(-1);
  expect(session?.parameters).toMatchObject({
    QUERY_TAG: '{"app":"freshline"}',
    TIMEZONE: 'UTC',
    QUOTED_IDENTIFIERS_IGNORE_CASE: 'TRUE',
    STATEMENT_TIMEOUT_IN_SECONDS: '3600',
  });
  const ddl = sql(stand.statements).filter((s) => s.startsWith('CREATE TABLE IF NOT EXISTS audit.'));
  expect(ddl.map((s) => /audit\.(\w+)/.exec(s)?.[1])).toEqual([
    'pipeline_runs',
    'dq_results',
    'bi_refreshes',
    'source_state',
    'raw_loads',
    'staging_merges',
    'model_state',
    'model_rebuilds',
    'publish_pending',
    'source_rejects',
    'window_counts',
    'dataset_health',
  ]);
  for (const s of ddl) expect(s).not.toMatch(/\bJSON\b/);
});

test('load → transform → publish issue exactly these statements, each under the run’s QUERY_TAG', async () => {
  const wh = tagged();
  // The first build since change sets marks the mart to publish whole (this stand-in does not execute).
  const pending = stand.on(/^SELECT model FROM audit\.publish_pending/, () => ({
    columns: [{ name: 'MODEL', type: 'VARCHAR' }],
    rows: [['fct_orders']],
  }));
  const from = stand.statements.length;

  const load = await loadManifest(wh, deps.stagedRows, manifest(), 'sales/window/2024-03-01T00:00:00Z/orders');
  expect(load).toMatchObject({ rawTable: 'raw.shop__orders', rowsLoaded: 7, evolved: [], skipped: null });
  const models = await buildModels(wh, {
    dataset: 'sales',
    targets: ['fct_orders'],
    runId: 'sales/window/2024-03-01T00:00:00Z',
    modelsDir,
    dialect: SNOWFLAKE,
  });
  expect(models.map((m) => [m.model, m.how])).toEqual([
    ['stg_orders', 'rebuilt'],
    ['fct_orders', 'rebuilt'],
  ]);
  const published = await publishTables(wh, 'sales', ['fct_orders'], [], { biRole: 'bi_reader' }).finally(pending);
  expect(published).toEqual({ tables: [{ table: 'certified.fct_orders', rows: 7 }], held: [] });

  const statements = since(from);
  const temp =
    '"raw"."_staged__shop__orders__' +
    /_staged__shop__orders__([0-9a-f]{12})/.exec(sql(statements).join('\n'))?.[1] +
    '"';
  const files = KEYS.map((k) => `'${k.slice(DIR.length + 1)}'`).join(', ');
  const rowHash = `md5(concat_ws('|', coalesce(cast("order_id" as varchar), ''), coalesce(cast("amount" as varchar), '')))`;
  expect(sql(statements)).toEqual([
    // load: stage (once), temporary table typed from the manifest, COPY checked against it
    'CREATE SCHEMA IF NOT EXISTS "raw"',
    `CREATE STAGE IF NOT EXISTS "raw"."freshline_stage" URL = '${STAGE_URL}' STORAGE_INTEGRATION = "freshline_s3" FILE_FORMAT = (TYPE = PARQUET)`,
    `CREATE OR REPLACE TEMPORARY TABLE ${temp} ("order_id" NUMBER(38,0), "amount" NUMBER(12,2), "updated_at" TIMESTAMP_TZ, "filename" VARCHAR)`,
    `COPY INTO ${temp} FROM '@raw.freshline_stage/${DIR}/' FILES = (${files}) FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ` +
      'INCLUDE_METADATA = (filename = METADATA$FILENAME) ON_ERROR = ABORT_STATEMENT FORCE = TRUE',
    // load: raw DDL (idempotent, outside the transaction: Snowflake commits DDL implicitly)
    'CREATE TABLE IF NOT EXISTS "raw"."shop__orders" ("order_id" NUMBER(38,0), "amount" NUMBER(12,2), "updated_at" TIMESTAMP_TZ, "_load_id" VARCHAR, ' +
      '"_window_start" TIMESTAMPTZ, "_window_end" TIMESTAMPTZ, "_extracted_at" TIMESTAMPTZ, "_source_file" VARCHAR, "_deleted" BOOLEAN)',
    'ALTER TABLE "raw"."shop__orders" ADD COLUMN IF NOT EXISTS _deleted BOOLEAN DEFAULT false',
    'ALTER TABLE "raw"."shop__orders" ADD COLUMN IF NOT EXISTS _lsn VARCHAR',
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type " +
      'FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position',
    // load: the data, in one transaction with the new baseline
    'BEGIN TRANSACTION',
    `DELETE FROM "raw"."shop__orders" AS r USING (SELECT "order_id", "updated_at" FROM ${temp}) AS s WHERE r."order_id" = s."order_id" AND r."updated_at" = s."updated_at"`,
    'INSERT INTO "raw"."shop__orders" ("order_id", "amount", "updated_at", "_load_id", "_window_start", "_window_end", "_extracted_at", "_source_file", "_deleted") ' +
      'SELECT "order_id", "amount", "updated_at", :1::VARCHAR AS _load_id, :2::TIMESTAMPTZ AS _window_start, :3::TIMESTAMPTZ AS _window_end, ' +
      `:4::TIMESTAMPTZ AS _extracted_at, filename AS _source_file, false AS _deleted FROM ${temp}`,
    'DELETE FROM audit.source_state WHERE source = :1 AND schema_name = :2 AND table_name = :3',
    'INSERT INTO audit.source_state VALUES (:1, :2, :3, :4, :5, :6, current_timestamp())',
    // the change ledger: incremental staging merges the keys of every load it has not merged yet
    'DELETE FROM audit.raw_loads WHERE raw_table = :1 AND load_id = :2 AND extracted_at = :3::TIMESTAMPTZ',
    'INSERT INTO audit.raw_loads VALUES (:1, :2, :3::TIMESTAMPTZ, current_timestamp())',
    'COMMIT',
    `DROP TABLE IF EXISTS ${temp}`,
    // transform, the first build keeping change sets: each model rebuilt whole beside its table; the log
    // and the publish marks are written before the table is replaced
    'CREATE SCHEMA IF NOT EXISTS "shadow_sales"',
    'SELECT DISTINCT model FROM audit.model_rebuilds WHERE dataset = :1',
    'CREATE OR REPLACE VIEW "shadow_sales"."stg_orders__view" AS -- grain: one row per order_id select order_id, amount, updated_at from (select * from ( select *, count(*) over (partition by "order_id", _extracted_at, _lsn) as _duplicate_count from "raw"."shop__orders" qualify row_number() over (partition by "order_id" order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last, _source_file desc) = 1 ) where not _deleted)',
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    'CREATE OR REPLACE TRANSIENT TABLE "shadow_sales"."stg_orders__pending_0" AS SELECT l.load_id, l.extracted_at FROM audit.raw_loads AS l WHERE l.raw_table = :1 AND NOT EXISTS (SELECT 1 FROM audit.staging_merges AS m WHERE m.dataset = :2 AND m.model = :3 AND m.load_id = l.load_id AND m.extracted_at = l.extracted_at)',
    'SELECT count(*) AS n FROM "shadow_sales"."stg_orders__pending_0"',
    'SELECT sql_hash FROM audit.model_state WHERE dataset = :1 AND model = :2',
    'CREATE OR REPLACE TRANSIENT TABLE "shadow_sales"."stg_orders__new" AS SELECT * FROM "shadow_sales"."stg_orders__view"',
    'DROP TABLE IF EXISTS "shadow_sales"."stg_orders__changes"',
    'BEGIN TRANSACTION',
    'INSERT INTO audit.model_rebuilds VALUES (:1, :2, current_timestamp())',
    'COMMIT',
    'CREATE OR REPLACE TRANSIENT TABLE "shadow_sales"."stg_orders" CLONE "shadow_sales"."stg_orders__new"',
    'BEGIN TRANSACTION',
    'DELETE FROM audit.model_state WHERE dataset = :1 AND model = :2',
    'INSERT INTO audit.model_state VALUES (:1, :2, :3, current_timestamp())',
    'INSERT INTO audit.staging_merges SELECT :1, :2, load_id, extracted_at, current_timestamp() FROM "shadow_sales"."stg_orders__pending_0"',
    'COMMIT',
    'SELECT count(*) AS n FROM "shadow_sales"."stg_orders"',
    'CREATE OR REPLACE VIEW "shadow_sales"."fct_orders__view" AS -- grain: one row per order_id -- materialized: incremental -- unique_key: order_id select order_id, amount from "shadow_sales"."stg_orders"',
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    'SELECT sql_hash FROM audit.model_state WHERE dataset = :1 AND model = :2',
    // the mart: rows the rebuild reproduces (same key, same content hash) keep their run id and lineage; the
    // hash gives the rows that differ (the change log), without comparing whole rows
    `CREATE OR REPLACE TRANSIENT TABLE "shadow_sales"."fct_orders__computed" AS SELECT *, ${rowHash} AS _row_hash FROM "shadow_sales"."fct_orders__view"`,
    'CREATE OR REPLACE TRANSIENT TABLE "shadow_sales"."fct_orders__diff" AS SELECT t.* FROM "shadow_sales"."fct_orders" AS t WHERE NOT EXISTS (SELECT 1 FROM "shadow_sales"."fct_orders__computed" AS b WHERE b."order_id" = t."order_id" AND b._row_hash = t._row_hash) UNION ALL SELECT c.*, :1::VARCHAR AS _run_id FROM "shadow_sales"."fct_orders__computed" AS c WHERE NOT EXISTS (SELECT 1 FROM "shadow_sales"."fct_orders" AS b WHERE b."order_id" = c."order_id" AND b._row_hash = c._row_hash)',
    'CREATE OR REPLACE TABLE "shadow_sales"."fct_orders__new" AS SELECT t.* FROM "shadow_sales"."fct_orders" AS t WHERE EXISTS (SELECT 1 FROM "shadow_sales"."fct_orders__computed" AS b WHERE b."order_id" = t."order_id" AND b._row_hash = t._row_hash) UNION ALL SELECT d.* FROM "shadow_sales"."fct_orders__diff" AS d WHERE d._run_id = :1 AND NOT EXISTS (SELECT 1 FROM "shadow_sales"."fct_orders" AS b WHERE b."order_id" = d."order_id" AND b._row_hash = d._row_hash)',
    'BEGIN TRANSACTION',
    'DELETE FROM audit.publish_pending WHERE dataset = :1 AND model = :2',
    'INSERT INTO audit.publish_pending VALUES (:1, :2, current_timestamp())',
    'COMMIT',
    'CREATE TRANSIENT TABLE IF NOT EXISTS "shadow_sales"."fct_orders__changes" AS SELECT * FROM "shadow_sales"."fct_orders" WHERE 1 = 0',
    'SELECT count(*) AS n FROM "shadow_sales"."fct_orders__diff"',
    'CREATE TRANSIENT TABLE IF NOT EXISTS "shadow_sales"."fct_orders__unpublished" AS SELECT "order_id" FROM "shadow_sales"."fct_orders" WHERE 1 = 0',
    'BEGIN TRANSACTION',
    'INSERT INTO "shadow_sales"."fct_orders__changes" SELECT * FROM "shadow_sales"."fct_orders__diff"',
    'INSERT INTO "shadow_sales"."fct_orders__unpublished" SELECT DISTINCT "order_id" FROM "shadow_sales"."fct_orders__diff"',
    'COMMIT',
    'CREATE OR REPLACE TABLE "shadow_sales"."fct_orders" CLONE "shadow_sales"."fct_orders__new"',
    'BEGIN TRANSACTION',
    'DELETE FROM audit.model_state WHERE dataset = :1 AND model = :2',
    'INSERT INTO audit.model_state VALUES (:1, :2, :3, current_timestamp())',
    'COMMIT',
    'SELECT count(*) AS n FROM "shadow_sales"."fct_orders"',
    // the build completed: every reader has seen the change logs
    'BEGIN TRANSACTION',
    'DELETE FROM "shadow_sales"."fct_orders__changes"',
    'DELETE FROM audit.model_rebuilds WHERE dataset = :1',
    'COMMIT',
    'DROP TABLE IF EXISTS "shadow_sales"."fct_orders__diff"',
    'DROP TABLE IF EXISTS "shadow_sales"."fct_orders__computed"',
    'DROP TABLE IF EXISTS "shadow_sales"."fct_orders__new"',
    'DROP VIEW IF EXISTS "shadow_sales"."fct_orders__view"',
    'DROP TABLE IF EXISTS "shadow_sales"."stg_orders__new"',
    'DROP TABLE IF EXISTS "shadow_sales"."stg_orders__pending_0"',
    'DROP VIEW IF EXISTS "shadow_sales"."stg_orders__view"',
    // publish: the first build marked the mart to publish whole (a zero-copy clone); bi view, grants
    'CREATE SCHEMA IF NOT EXISTS "certified"',
    'CREATE SCHEMA IF NOT EXISTS "bi"',
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    'SELECT COUNT(*) AS n FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = UPPER(:1) AND TABLE_NAME = UPPER(:2)',
    'SELECT model FROM audit.publish_pending WHERE dataset = :1 AND model = :2',
    'CREATE OR REPLACE TABLE "certified"."fct_orders" CLONE "shadow_sales"."fct_orders"',
    'DELETE FROM audit.publish_pending WHERE dataset = :1 AND model = :2',
    'DELETE FROM "shadow_sales"."fct_orders__unpublished"',
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    "SELECT lower(column_name) AS name, CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type FROM information_schema.columns WHERE table_schema = upper(:1) AND table_name = upper(:2) ORDER BY ordinal_position",
    'CREATE OR REPLACE VIEW "bi"."fct_orders" AS SELECT "order_id", "amount", CAST(NULL AS TEXT) AS "legacy_channel", "_run_id" FROM "certified"."fct_orders"',
    'SELECT count(*)::BIGINT AS n FROM "certified"."fct_orders"',
    'GRANT SELECT ON ALL VIEWS IN SCHEMA "bi" TO ROLE "bi_reader"',
  ]);

  // Values are binds, never SQL text: the window, the load id, the schema baseline.
  const insert = statements.find((s) => s.sqlText.startsWith('INSERT INTO "raw"'));
  expect(insert?.binds).toEqual([
    'sales/window/2024-03-01T00:00:00Z/orders',
    '2024-03-01T00:00:00.000Z',
    '2024-03-01T00:15:00.000Z',
    '2024-03-01T00:15:30.000Z',
  ]);
  expect(statements.find((s) => s.sqlText.includes('"fct_orders__new" AS'))?.binds).toEqual([
    'sales/window/2024-03-01T00:00:00Z',
  ]);
  // Every statement ran under the run's tag (the session's {app} merged with dataset and run id).
  const tag = '{"app":"freshline","dataset":"sales","runId":"sales/window/2024-03-01T00:00:00Z"}';
  expect(new Set(statements.map((s) => s.queryTag))).toEqual(new Set([tag]));
});

test.each([
  [
    'a staged file missing from the COPY result',
    [copied(KEYS[0], 4)],
    /files missing from the COPY result: shop\/shop\.orders\/dt=2024-03-01\/[^;]*part-00000-001\.parquet; rows loaded 4, staged 7/,
  ],
  ['fewer rows than staged', [copied(KEYS[0], 4), copied(KEYS[1], 2)], /raw was not changed: rows loaded 6, staged 7$/],
  [
    'a file not LOADED',
    [copied(KEYS[0], 4), copied(KEYS[1], 0, 'LOAD_SKIPPED')],
    /files not loaded: .*part-00000-001\.parquet \(LOAD_SKIPPED\); rows loaded 4, staged 7/,
  ],
])('COPY with %s fails the load, naming what is missing, before raw is touched', async (_what, rows, message) => {
  const off = stand.on(/^COPY INTO/, () => ({ columns: COPY_COLUMNS, rows }));
  const from = stand.statements.length;
  try {
    await expect(
      loadManifest(tagged(), deps.stagedRows, manifest(), 'sales/window/2024-03-01T00:00:00Z/orders'),
    ).rejects.toThrow(message);
  } finally {
    off();
  }
  const seen = sql(since(from));
  expect(seen.filter((s) => /"raw"\."shop__orders"/.test(s))).toEqual([]);
  expect(seen.some((s) => s.startsWith('BEGIN'))).toBe(false);
  // The stage already exists for this process; the temporary table is dropped again.
  expect(seen.map((s) => s.split(' (')[0].split(' FROM')[0])).toEqual([
    'CREATE SCHEMA IF NOT EXISTS "raw"',
    expect.stringMatching(/^CREATE OR REPLACE TEMPORARY TABLE "raw"\."_staged__shop__orders__[0-9a-f]{12}"$/),
    expect.stringMatching(/^COPY INTO "raw"\."_staged__shop__orders__[0-9a-f]{12}"$/),
    expect.stringMatching(/^DROP TABLE IF EXISTS "raw"\."_staged__shop__orders__[0-9a-f]{12}"$/),
  ]);
});

test('a CDC load runs on Snowflake: change metadata copied, re-delivered changes replaced, TRUNCATE tombstones, TOAST carried', async () => {
  const undo = [
    // Two changes of this load omitted TOASTed values (one listing two columns).
    stand.on(/^SELECT DISTINCT _unchanged_toast AS cols/, () => ({
      columns: [{ name: 'COLS', type: 'VARCHAR' }],
      rows: [['amount'], ['updated_at,amount']],
    })),
    stand.on(/^INSERT INTO "raw"\."shop__orders"/, () => ({ updated: 3 })),
  ];
  const from = stand.statements.length;
  try {
    const load = await loadManifest(tagged(), deps.stagedRows, manifest({ mode: 'cdc' }), 'sales/cdc/1/orders');
    expect(load).toMatchObject({ rowsLoaded: 3, tombstones: 3, skipped: null });
  } finally {
    for (const off of undo) off();
  }
  const sent = sql(since(from));
  // The temporary table holds the change metadata the files carry; raw gains the columns it lacked.
  expect(sent.find((s) => s.startsWith('CREATE OR REPLACE TEMPORARY TABLE'))).toMatch(
    /"updated_at" TIMESTAMP_TZ, "_op" VARCHAR, "_deleted" BOOLEAN, "_lsn" VARCHAR, "_commit_ts" TIMESTAMP_TZ, "_unchanged_toast" VARCHAR, "filename" VARCHAR\)$/,
  );
  for (const col of ['_op', '_commit_ts', '_unchanged_toast'])
    expect(sent).toContain(
      `ALTER TABLE "raw"."shop__orders" ADD COLUMN IF NOT EXISTS "${col}" ${col === '_commit_ts' ? 'TIMESTAMP_TZ' : 'VARCHAR'}`,
    );
  const tx = sent.slice(sent.indexOf('BEGIN TRANSACTION'), sent.indexOf('COMMIT') + 1);
  expect(tx.map((s) => s.split(' ').slice(0, 3).join(' '))).toEqual([
    'BEGIN TRANSACTION',
    'DELETE FROM "raw"."shop__orders"', // re-delivered changes, by key + LSN
    'DELETE FROM "raw"."shop__orders"', // re-delivered TRUNCATE tombstones
    'INSERT INTO "raw"."shop__orders"',
    'INSERT INTO "raw"."shop__orders"', // TRUNCATE tombstones
    'SELECT DISTINCT _unchanged_toast',
    'UPDATE "raw"."shop__orders" AS', // amount
    'UPDATE "raw"."shop__orders" AS', // updated_at
    'DELETE FROM audit.source_state',
    'INSERT INTO audit.source_state',
    'DELETE FROM audit.raw_loads',
    'INSERT INTO audit.raw_loads',
    'COMMIT',
  ]);
  expect(tx.filter((s) => s.startsWith('UPDATE')).map((s) => /SET ("\w+")/.exec(s)?.[1])).toEqual([
    '"amount"',
    '"updated_at"',
  ]);
  expect(sent.filter((s) => /\browid\b|string_split|list_contains|unnest/i.test(s))).toEqual([]);
});

test('publish applies only the groups changed since the last publish, in one transaction; a mart certified lacks is cloned whole', async () => {
  const wh = tagged();
  const publishStatements = async () => {
    const from = stand.statements.length;
    await publishTables(wh, 'sales', ['fct_orders'], [], { biRole: 'bi_reader', modelsDir });
    return sql(since(from)).filter((s) => /^(BEGIN|COMMIT|DELETE|INSERT|CREATE OR REPLACE TABLE)/.test(s));
  };
  // fct_orders changed in some orders since its last publish (its recompute_by groups).
  stand.catalog.define('shadow_sales', 'fct_orders__unpublished', {
    kind: 'table',
    columns: [{ name: 'order_id', type: 'NUMBER(38,0)' }],
    temporary: false,
  });
  const groups = 'WHERE "order_id" IN (SELECT "order_id" FROM "shadow_sales"."fct_orders__unpublished")';
  expect(await publishStatements()).toEqual([
    'BEGIN TRANSACTION',
    `DELETE FROM "certified"."fct_orders" ${groups}`,
    `INSERT INTO "certified"."fct_orders" SELECT * FROM "shadow_sales"."fct_orders" ${groups}`,
    'DELETE FROM audit.publish_pending WHERE dataset = :1 AND model = :2',
    'DELETE FROM "shadow_sales"."fct_orders__unpublished"',
    'COMMIT',
  ]);
  // certified lacks the mart: a zero-copy clone of the shadow table, then nothing of it is pending.
  const certified = CATALOG['certified.fct_orders'];
  delete CATALOG['certified.fct_orders'];
  stand.catalog.drop('certified', 'fct_orders');
  try {
    expect(await publishStatements()).toEqual([
      'CREATE OR REPLACE TABLE "certified"."fct_orders" CLONE "shadow_sales"."fct_orders"',
      'DELETE FROM audit.publish_pending WHERE dataset = :1 AND model = :2',
      'DELETE FROM "shadow_sales"."fct_orders__unpublished"',
    ]);
  } finally {
    CATALOG['certified.fct_orders'] = certified;
  }
  const shadow = CATALOG['shadow_sales.fct_orders'];
  delete CATALOG['shadow_sales.fct_orders'];
  try {
    await expect(publishTables(wh, 'sales', ['fct_orders'], [], { biRole: 'bi_reader' })).rejects.toThrow(
      /shadow_sales\.fct_orders does not exist/,
    );
  } finally {
    CATALOG['shadow_sales.fct_orders'] = shadow;
  }
  await expect(publishTables(wh, 'sales', ['fct_orders'])).rejects.toThrow(/needs the BI role/);
});

test('a model using a DuckDB-only construct is refused at worker start, by name, before any login', async () => {
  const bad = modelsWith('bad-models', {
    'staging/stg_orders.sql': STG_ORDERS,
    'marts/fct_paid.sql': `-- grain: one row per order_id
select order_id, sum(amount) filter (where amount > 0) as paid from {{ ref('stg_orders') }} group by order_id
`,
  });
  const logins = stand.logins.length;
  await expect(
    openDeps({ dataDir: join(tmp, 'bad'), config: configFor(['fct_paid']), secrets, modelsDir: bad }),
  ).rejects.toThrow(
    /dataset sales: models cannot run on snowflake:\n {2}marts\/fct_paid\.sql uses aggregate FILTER \(WHERE …\)/,
  );
  expect(stand.logins.length).toBe(logins);
});

test.each([
  ['SELECT rowid FROM "raw"."shop__orders"', '000904', /invalid identifier 'ROWID'/],
  ['SELECT count(*) FILTER (WHERE amount > 0) AS n FROM "raw"."shop__orders"', '001003', /syntax error/],
  ['SELEC 1 2 3', '001003', /syntax error/],
  ['SELECT order_id FROM "raw"."no_such_table"', '002003', /Object 'RAW.NO_SUCH_TABLE' does not exist/],
  ['SELECT now() AS t', '002140', /Unknown function NOW/],
])(
  'DuckDB-only or invalid SQL sent through the adapter gets Snowflake’s error (%s → %s)',
  async (text, code, message) => {
    const err = await tagged()
      .query(text)
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(SnowflakeWarehouseError);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
  },
);

test('dataset health is recomputed on Snowflake with SQL Snowflake accepts (no row-tuple comparison)', async () => {
  const wh = tagged();
  const undo = stand.on(/AS last_status/, () => ({
    columns: ['LAST_STATUS', 'LAST_AT', 'GOOD_AT', 'THROUGH'].map((name) => ({ name, type: 'VARCHAR' })),
    rows: [
      ['succeeded', '2024-03-01 00:20:00.000 +0000', '2024-03-01 00:20:00.000 +0000', '2024-03-01 00:15:00.000 +0000'],
    ],
  }));
  try {
    const from = stand.statements.length;
    await refreshDatasetHealth(wh, configFor(['fct_orders']).datasets[0], new Date('2024-03-01T00:25:00Z'));
    const sent = sql(since(from));
    expect(sent.some((s) => s.startsWith('INSERT INTO audit.dataset_health VALUES'))).toBe(true);
    expect(sent.find((s) => s.includes('audit.dq_results'))).toMatch(
      /JOIN \(SELECT run_id, gate_attempt FROM audit\.dq_results/,
    );
  } finally {
    undo();
  }
});

test('row checks and quarantine name rows by the model key and content hash, in SQL Snowflake accepts (no rowid)', async () => {
  const wh = tagged();
  const mart: [string, string][] = [...CATALOG['certified.fct_orders']];
  stand.catalog.createSchema('shadow_sales');
  stand.catalog.define('shadow_sales', 'fct_orders', {
    kind: 'table',
    columns: mart.map(([name, type]) => ({ name, type })),
    temporary: false,
  });
  CATALOG['shadow_sales.fct_orders'] = mart;
  const ds = parseConfig({
    ...configFor(['fct_orders']),
    datasets: [
      {
        ...configFor(['fct_orders']).datasets[0],
        checks: [
          { name: 'amount_present', type: 'not_null', model: 'fct_orders', columns: ['amount'], severity: 'error' },
          { name: 'order_unique', type: 'unique', model: 'fct_orders', columns: ['order_id'], severity: 'warn' },
        ],
      },
    ],
  }).datasets[0];
  const undo = [
    stand.on(/^SELECT \(SELECT count\(\*\)/, () => ({
      columns: [
        { name: 'N', type: 'NUMBER(18,0)' },
        { name: 'TOTAL', type: 'NUMBER(18,0)' },
      ],
      rows: [[2, 7]],
    })),
    stand.on(/AS k FROM/, () => ({ columns: [{ name: 'K', type: 'VARCHAR' }], rows: [['41'], ['42']] })),
    stand.on(/^INSERT INTO "quarantine"/, () => ({ updated: 2 })),
  ];
  try {
    const from = stand.statements.length;
    const results = await runChecks(wh, {
      dataset: ds,
      runId: 'sales/window/2024-03-01T00:00:00Z',
      counts: [],
      window: { start: '2024-03-01T00:00:00.000Z', end: '2024-03-01T00:15:00.000Z' },
      models: readModels(modelsDir),
    });
    // Both checks ran (a statement the analyzer refused would read "check could not run: …").
    expect(results.map((r) => [r.check, r.status, r.failingRows, r.quarantinedRows, r.sampleKeys])).toEqual([
      ['amount_present', 'fail', 2, 2, ['41', '42']],
      ['order_unique', 'fail', 2, 0, ['41', '42']],
    ]);
    const sent = sql(since(from));
    expect(sent.filter((s) => /\browid\b/i.test(s))).toEqual([]);
    expect(sent.find((s) => s.startsWith('INSERT INTO "quarantine"."fct_orders"'))).toContain(
      'JOIN (SELECT DISTINCT "order_id", "_row_hash" FROM (SELECT "order_id", "_row_hash" FROM "shadow_sales"."fct_orders" WHERE "amount" IS NULL) AS f0) AS f ' +
        'ON t."order_id" IS NOT DISTINCT FROM f."order_id" AND t."_row_hash" IS NOT DISTINCT FROM f."_row_hash"',
    );
    expect(sent).toContain(
      'DELETE FROM "shadow_sales"."fct_orders" AS t USING (SELECT DISTINCT "order_id", "_row_hash" FROM (SELECT "order_id", "_row_hash" FROM "shadow_sales"."fct_orders" WHERE "amount" IS NULL) AS f0) AS f ' +
        'WHERE t."order_id" IS NOT DISTINCT FROM f."order_id" AND t."_row_hash" IS NOT DISTINCT FROM f."_row_hash"',
    );
  } finally {
    for (const off of undo) off();
    delete CATALOG['shadow_sales.fct_orders'];
  }
});

test('a row check on a model that declares no key is refused at worker start, naming model and check', async () => {
  const config = configFor(['fct_orders']);
  config.datasets[0].checks.push(
    ...parseConfig({
      ...config,
      datasets: [
        {
          ...config.datasets[0],
          checks: [
            { name: 'stg_amount', type: 'not_null', model: 'stg_orders', columns: ['amount'], severity: 'warn' },
          ],
        },
      ],
    }).datasets[0].checks,
  );
  const logins = stand.logins.length;
  await expect(openDeps({ dataDir: join(tmp, 'nokey'), config, secrets, modelsDir })).rejects.toThrow(
    /dataset sales, check stg_amount: model staging\/stg_orders\.sql declares no key \('-- key: col, …' under its grain\)/,
  );
  expect(stand.logins.length).toBe(logins);
});
