import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { parquetLoadRefusal, type ParquetColumn } from '../stand-ins/snowflake-sql/parquet-load';

// The stand-in's COPY check, over the schema of a Parquet file DuckDB really wrote (as extract writes them).

let schema: Map<string, ParquetColumn>;
const dir = mkdtempSync(join(tmpdir(), 'freshline-parquet-load-'));
beforeAll(async () => {
  const db = await DuckDbWarehouse.open(':memory:');
  const file = join(dir, 'kinds.parquet');
  await db.run(`COPY (SELECT 1::BIGINT AS n, 1.25::DECIMAL(12,2) AS amount, 'x' AS s, '{"a":1}'::JSON AS j,
    gen_random_uuid() AS u, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS tz, TIMESTAMP '2026-01-01 00:00:00' AS ntz,
    DATE '2026-01-01' AS d, true AS f, '\\x00'::BLOB AS bytes) TO '${file}' (FORMAT parquet)`);
  const cols = await db.query<ParquetColumn>(
    `SELECT name, type, converted_type, logical_type, precision, scale FROM parquet_schema('${file}') WHERE type IS NOT NULL`,
  );
  schema = new Map(cols.map((c) => [c.name, c]));
  await db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.each([
  ['n', 'DECIMAL(38,0)'],
  ['amount', 'DECIMAL(12,2)'],
  ['amount', 'DECIMAL(18,4)'],
  ['s', 'VARCHAR'],
  ['s', 'DECIMAL(38,0)'],
  ['j', 'VARCHAR'],
  ['tz', 'TIMESTAMP WITH TIME ZONE'],
  ['ntz', 'TIMESTAMP'],
  ['d', 'DATE'],
  ['f', 'BOOLEAN'],
  ['bytes', 'BLOB'],
])('Snowflake loads Parquet column %s into %s as the file holds it', (name, target) => {
  expect(parquetLoadRefusal(schema.get(name)!, target)).toBeNull();
});

test.each([
  ['u', 'VARCHAR', /UUIDType.*reads as BINARY.*hex of its bytes/],
  ['bytes', 'VARCHAR', /hex of its bytes/],
  ['amount', 'DECIMAL(12,1)', /beyond scale 1 would be rounded away/],
  ['amount', 'DECIMAL(4,2)', /Numeric value out of range/],
  ['ntz', 'TIMESTAMP WITH TIME ZONE', /read in the session time zone/],
  ['tz', 'TIMESTAMP', /session-time-zone wall-clock/],
  ['d', 'BOOLEAN', /cannot cast/],
])('Snowflake would refuse or change Parquet column %s loaded into %s', (name, target, why) => {
  expect(parquetLoadRefusal(schema.get(name)!, target)).toMatch(why);
});
