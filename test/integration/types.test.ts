import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { extractTable } from '../../activities/sources/postgres/extract';
import { LocalObjectStore } from '../../activities/storage/local';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { PostgresSourceSchema, SourceTableSchema } from '../../config/schema';
import { createDatabase } from '../../infra/local/postgres';
import { testEnv } from '../support/env';
import { createTypeMatrix, TYPE_MATRIX_ROW_1 } from '../support/type-matrix';

let url: string;
let pool: Pool;
let db: DuckDbWarehouse;
beforeAll(async () => {
  url = await createDatabase(testEnv('pgAdminUrl'), 't_types');
  pool = new Pool({ connectionString: url });
  pool.on('error', () => undefined);
  db = await DuckDbWarehouse.open(':memory:');
  await createTypeMatrix(pool);
});
afterAll(async () => {
  await db.close();
  await pool.end();
});

test('exact numerics, time zones, json, arrays, uuid, enums, NULL vs empty string survive extraction', async () => {
  const stage = new LocalObjectStore(mkdtempSync(join(tmpdir(), 'freshline-types-')));
  const table = SourceTableSchema.parse({ name: 'kinds', schema: 'public', primaryKey: ['id'] });
  const manifest = await extractTable({
    sourceName: 'src',
    source: PostgresSourceSchema.parse({ type: 'postgres', urlSecret: 'X' }),
    url,
    table,
    window: { start: '2000-01-01T00:00:00.000Z', end: '2100-01-01T00:00:00.000Z' },
    lookbackMs: 0,
    piiKey: '',
    stage,
    converter: db,
    scratchDir: join(stage.root, 'tmp'),
  });
  expect(manifest.rows).toBe(2);
  expect(Object.fromEntries(manifest.columns.map((c) => [c.name, c.type]))).toEqual({
    id: 'INTEGER',
    money: 'DECIMAL(38,10)',
    big: 'DECIMAL(38,10)',
    f8: 'DOUBLE',
    flag: 'BOOLEAN',
    ts: 'TIMESTAMPTZ',
    local_ts: 'TIMESTAMP',
    d: 'DATE',
    doc: 'JSON',
    raw_json: 'JSON',
    tags: 'VARCHAR',
    nums: 'VARCHAR',
    guid: 'VARCHAR',
    feeling: 'VARCHAR',
    blob: 'VARCHAR',
    note: 'VARCHAR',
    updated_at: 'TIMESTAMPTZ',
  });
  const file = stage.uriFor(manifest.keys[0]);
  const [parquetTypes] = await db.query(
    `SELECT typeof(money) AS money, typeof(ts) AS ts, typeof(doc) AS doc, typeof(guid) AS guid FROM read_parquet('${file}') LIMIT 1`,
  );
  expect(parquetTypes).toEqual({
    money: 'DECIMAL(38,10)',
    ts: 'TIMESTAMP WITH TIME ZONE',
    doc: 'JSON',
    guid: 'VARCHAR',
  });
  const rows = await db.query(
    `SELECT id, money::VARCHAR AS money, big::VARCHAR AS big, f8, flag, epoch_us(ts) AS ts_us, local_ts::VARCHAR AS local_ts, d::VARCHAR AS d,
            doc->>'$.b' AS doc_b, (doc->'$.a')::VARCHAR AS doc_a, raw_json::VARCHAR AS raw_json, tags, nums, guid::VARCHAR AS guid,
            feeling, blob, note FROM read_parquet('${file}') ORDER BY id`,
  );
  expect(rows[0]).toEqual({
    ...TYPE_MATRIX_ROW_1,
    ts_us: String(Date.parse('2026-03-28T23:30:00.123Z') * 1000 + 456),
    local_ts: '2026-03-29 01:30:00',
    doc_b: 'x,y',
    doc_a: '[1,2]',
  });
  expect(rows[1]).toMatchObject({
    money: null,
    ts_us: null,
    doc_b: null,
    tags: null,
    guid: null,
    feeling: null,
    note: '',
  });
});
