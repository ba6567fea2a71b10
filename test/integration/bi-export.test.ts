import { ensureChangeLedgerTables } from '../../activities/warehouse/audit/change-ledger';
import { markPublishWhole } from '../../activities/warehouse/models/changes';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { BI_EXPORT_FILE, exportBiDatabase } from '../../activities/warehouse/bi-export';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { readModels } from '../../activities/warehouse/models/catalog';
import { derivedPiiColumns, modelLineage } from '../../activities/warehouse/models/lineage';
import { publishTables } from '../../activities/warehouse/publish';
import type { Row } from '../../activities/warehouse/warehouse';
import { loadConfig } from '../../config/load';
import { piiColumnsOf } from '../../config/pii';

/**
 * The embedded default's least-privilege copy for Tableau: a warehouse laid out as a run leaves it (raw
 * with PII tokens, shadow, certified, bi views through the real publish, audit, quarantine), exported to
 * bi.duckdb and opened the way Tableau opens it, read-only.
 */

let dir: string;
let wh: DuckDbWarehouse;
let target: string;
const config = loadConfig();
/** The columns lineage says are computed from PII, per mart: what neither bi views nor the export may hold. */
let PII: Record<string, string[]>;

/**
 * The shipped marts plus one that computes a value from a PII token (a mart a model author might add):
 * `email_token` is the token as is (joinable, exported), `email_domain` is derived from it (never exported).
 */
async function lineageWithLeakyMart(): Promise<Record<string, string[]>> {
  const models = mkdtempSync(join(tmpdir(), 'freshline-bi-models-'));
  mkdirSync(join(models, 'marts'), { recursive: true });
  for (const layer of ['staging', 'intermediate']) mkdirSync(join(models, layer));
  writeFileSync(
    join(models, 'marts', 'leaky.sql'),
    `-- grain: one row per customer
select customer_id as id, email as email_token, split_part(email, '@', 2) as email_domain
from {{ source('shop', 'customers') }}`,
  );
  const lineage = await modelLineage(readModels(models), ['leaky'], piiColumnsOf(config));
  return derivedPiiColumns(lineage);
}

/** Opens the exported file read-only, as Tableau's DuckDB driver does with access_mode=READ_ONLY. */
async function openReadOnly(path: string) {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  return {
    query: async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJson() as Row[],
    run: (sql: string) => connection.run(sql),
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * Builds this run's shadow marts and publishes them (certified tables + bi views), like a pipeline run;
 * `pii` as the publish activity passes it (`{}`: as a publish before lineage existed).
 */
async function publishRun(orders: number, pii: Record<string, string[]> = PII): Promise<void> {
  await wh.run(`CREATE OR REPLACE TABLE shadow_sales_core.fct_orders AS
    SELECT i AS order_id, (i * 10.5)::DECIMAL(12,2) AS order_total, 'run-' || ${orders} AS _run_id, md5(i::VARCHAR) AS _row_hash
      FROM range(1, ${orders + 1}) t(i)`);
  await wh.run(`CREATE OR REPLACE TABLE shadow_sales_core.dim_customer AS
    SELECT 1 AS customer_id, 'a3f1c2' AS email_token, 'Lyon' AS city, 'x' AS _row_hash
    UNION ALL SELECT 2, 'b7d9e0', 'Oslo', 'y'`);
  // The mart of lineageWithLeakyMart, as its model builds it.
  await wh.run(
    `CREATE OR REPLACE TABLE shadow_sales_core.leaky AS SELECT 1 AS id, 'tok-1' AS email_token, 'example.com' AS email_domain`,
  );
  // As a transform's whole rebuild of each mart marks it (models/changes.ts).
  for (const t of ['fct_orders', 'dim_customer', 'leaky']) await markPublishWhole(wh, 'sales_core', t, 'now()');
  const result = await publishTables(wh, 'sales_core', ['fct_orders', 'dim_customer', 'leaky'], [], {
    piiColumns: pii,
  });
  expect(result.held).toEqual([]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'freshline-bi-export-'));
  target = join(dir, BI_EXPORT_FILE);
  wh = await DuckDbWarehouse.open(join(dir, 'warehouse.duckdb'));
  for (const s of ['raw', 'shadow_sales_core', 'audit', 'quarantine']) await wh.ensureSchema(s);
  await ensureChangeLedgerTables(wh);
  await wh.run(
    `CREATE TABLE raw.shop__customers AS SELECT 1 AS customer_id, 'a3f1c2' AS email, 'c0ffee' AS phone, 'beef' AS full_name, 'f00d' AS address`,
  );
  await wh.run(`CREATE TABLE audit.pipeline_runs AS SELECT 'sales_core' AS dataset, 'succeeded' AS status`);
  await wh.run(`CREATE TABLE quarantine.fct_orders AS SELECT 99 AS order_id, 'order_total_in_range' AS check_name`);
  PII = await lineageWithLeakyMart();
  expect(PII).toEqual({ leaky: ['email_domain'] });
  await publishRun(5);
});

afterAll(async () => {
  await wh?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the export holds one table per bi view, in schema bi, with the views' rows; no other schema; no column computed from PII", async () => {
  // The bi view itself leaves the PII-derived column out, on every engine: the export has nothing to drop.
  expect(
    (
      await wh.query(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = 'bi' AND table_name = 'leaky'`,
      )
    ).map((r) => r.column_name),
  ).toEqual(['id', 'email_token']);
  const result = await exportBiDatabase(wh, target, { excludeColumns: PII });
  expect(result.path).toBe(target);
  expect(result.tables).toEqual([
    { table: 'bi.dim_customer', rows: 2 },
    { table: 'bi.fct_orders', rows: 5 },
    { table: 'bi.leaky', rows: 1 },
  ]);
  expect(result.droppedColumns).toEqual([]);

  const bi = await openReadOnly(target);
  try {
    const schemas = await bi.query(
      `SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database() ORDER BY 1`,
    );
    expect(schemas.map((r) => r.schema_name)).toEqual(['bi', 'main']);
    const tables = await bi.query(
      `SELECT table_schema, table_name, table_type FROM information_schema.tables WHERE table_catalog = current_database() ORDER BY 2`,
    );
    expect(tables).toEqual([
      { table_schema: 'bi', table_name: 'dim_customer', table_type: 'BASE TABLE' },
      { table_schema: 'bi', table_name: 'fct_orders', table_type: 'BASE TABLE' },
      { table_schema: 'bi', table_name: 'leaky', table_type: 'BASE TABLE' },
    ]);
    const columns = (
      await bi.query(`SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database()`)
    ).map((r) => String(r.column_name));
    expect(columns).not.toContain('email_domain');
    expect(columns).not.toContain('_row_hash'); // hidden from the bi views by publish
    expect(await bi.query('SELECT * FROM bi.leaky')).toEqual([{ id: 1, email_token: 'tok-1' }]);
    // Same rows as the warehouse's bi views.
    expect(await bi.query('SELECT * FROM bi.fct_orders ORDER BY order_id')).toEqual(
      await wh.query('SELECT * FROM bi.fct_orders ORDER BY order_id'),
    );
    expect(await bi.query('SELECT * FROM bi.dim_customer ORDER BY customer_id')).toEqual(
      await wh.query('SELECT * FROM bi.dim_customer ORDER BY customer_id'),
    );
    // Read-only: Tableau (or anyone) cannot write through this connection.
    await expect(bi.run('CREATE TABLE bi.x AS SELECT 1')).rejects.toThrow(/read-only/i);
    await expect(bi.run('DELETE FROM bi.fct_orders')).rejects.toThrow(/read-only/i);
  } finally {
    bi.close();
  }
  // And on disk: read-only file, no temporary file or WAL left beside it.
  expect(statSync(target).mode & 0o777).toBe(0o444);
  expect(readdirSync(dir).filter((f) => f.includes('tableau'))).toEqual(['tableau.duckdb']);
  // The warehouse is as before: export database detached, still writable.
  expect(
    (await wh.query('SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1')).map(
      (r) => r.database_name,
    ),
  ).toEqual(['warehouse']);
  expect(await wh.run('INSERT INTO audit.pipeline_runs VALUES ($1, $2)', ['sales_core', 'succeeded'])).toBe(1);
});

test('refresh is atomic: a reader of the old file keeps its snapshot, the next open sees the new one', async () => {
  await exportBiDatabase(wh, target, { excludeColumns: PII });
  const before = await openReadOnly(target);
  try {
    await publishRun(8);
    await exportBiDatabase(wh, target, { excludeColumns: PII });
    expect(await before.query('SELECT count(*)::INTEGER AS n FROM bi.fct_orders')).toEqual([{ n: 5 }]);
    const after = await openReadOnly(target);
    try {
      expect(await after.query('SELECT count(*)::INTEGER AS n FROM bi.fct_orders')).toEqual([{ n: 8 }]);
    } finally {
      after.close();
    }
  } finally {
    before.close();
  }
});

test('a bi view an older publish made with a PII-derived column: the export still leaves it out', async () => {
  await publishRun(8, {});
  expect(await wh.query('SELECT * FROM bi.leaky')).toEqual([
    { id: 1, email_token: 'tok-1', email_domain: 'example.com' },
  ]);
  const result = await exportBiDatabase(wh, target, { excludeColumns: PII });
  expect(result.droppedColumns).toEqual(['bi.leaky.email_domain']);
  const bi = await openReadOnly(target);
  try {
    expect(await bi.query('SELECT * FROM bi.leaky')).toEqual([{ id: 1, email_token: 'tok-1' }]);
  } finally {
    bi.close();
  }
  // The next publish with lineage keeps the column in the view (it only ever grows) but as NULL.
  await publishRun(8);
  expect(await wh.query('SELECT * FROM bi.leaky')).toEqual([{ id: 1, email_token: 'tok-1', email_domain: null }]);
});

test('concurrent exports of the same file run one after the other; the last one wins', async () => {
  const results = await Promise.all([
    exportBiDatabase(wh, target),
    exportBiDatabase(wh, target),
    exportBiDatabase(wh, target),
  ]);
  expect(results.map((r) => r.tables.length)).toEqual([3, 3, 3]);
  const bi = await openReadOnly(target);
  try {
    // No exclusion this time: all columns of bi.leaky are there (the derived one NULL since the last publish).
    expect(await bi.query('SELECT * FROM bi.leaky')).toEqual([{ id: 1, email_token: 'tok-1', email_domain: null }]);
  } finally {
    bi.close();
  }
  expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
});

test('a failed export leaves the previous file as it was and no temporary file behind', async () => {
  await exportBiDatabase(wh, target, { excludeColumns: PII });
  const mtime = statSync(target).mtimeMs;
  // A bi view whose query fails (its table is gone): the copy transaction fails.
  await wh.run('CREATE TABLE certified.gone AS SELECT 1 AS id');
  await wh.run('CREATE VIEW bi.broken AS SELECT * FROM certified.gone');
  await wh.run('DROP TABLE certified.gone');
  try {
    await expect(exportBiDatabase(wh, target, { excludeColumns: PII })).rejects.toThrow(/gone/);
  } finally {
    await wh.run('DROP VIEW bi.broken');
  }
  expect(statSync(target).mtimeMs).toBe(mtime);
  expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  expect(
    (await wh.query('SELECT database_name FROM duckdb_databases() WHERE NOT internal')).map((r) => r.database_name),
  ).toEqual(['warehouse']);
  const bi = await openReadOnly(target);
  try {
    expect(await bi.query('SELECT count(*)::INTEGER AS n FROM bi.fct_orders')).toEqual([{ n: 8 }]);
  } finally {
    bi.close();
  }
});

test("refuses the warehouse's own file, and a file named bi (whose catalog would shadow schema bi)", async () => {
  await expect(exportBiDatabase(wh, join(dir, 'warehouse.duckdb'))).rejects.toThrow(
    /must be a file other than the warehouse's/,
  );
  await expect(exportBiDatabase(wh, join(dir, 'bi.duckdb'))).rejects.toThrow(
    /'bi\.<view>' would be ambiguous .* e\.g\. tableau\.duckdb/,
  );
});
