import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { encodeCsvToParquet } from '../../activities/sources/postgres/parquet-encoder';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';

// PostgreSQL's numeric holds NaN, ±Infinity and values beyond DECIMAL(38,10); DuckDB's CSV reader refuses them
// with an error that quotes the whole source line. The staged-file path must say where, never what.

let db: DuckDbWarehouse;
let dir: string;
beforeAll(async () => {
  db = await DuckDbWarehouse.open(':memory:', { threads: 1 });
  dir = mkdtempSync(join(tmpdir(), 'freshline-encerr-'));
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

const columns = [
  { name: 'customer_id', type: 'BIGINT' },
  { name: 'email', type: 'VARCHAR' },
  { name: 'balance', type: 'DECIMAL(38,10)' },
];

const encode = (csv: string, label: string, rejectKeys?: string[]) =>
  encodeCsvToParquet({
    db,
    source: Readable.from([csv]),
    fifo: join(dir, `${label}.csv`),
    parquet: join(dir, `${label}.parquet`),
    csvColumns: columns,
    pii: null,
    rejectKeys,
  });

test.each([
  ['NaN', 'nan'],
  ['Infinity', 'inf'],
  ['1' + '0'.repeat(40), 'big'],
])('a numeric %s fails the stage naming line, column and type, without the row', async (value, label) => {
  const csv = `1,bob@example.com,12.5\n2,alice@example.com,${value}\n3,carol@example.com,1\n`;
  const err = await encode(csv, label).then(
    () => null,
    (e: Error) => e,
  );
  expect(err?.message).toBe(
    'cannot stage line 2 of the COPY stream, column "balance": a value the DECIMAL(38,10) type cannot hold ' +
      '(NaN, ±Infinity or out of range); the value is withheld from this message (it may be PII)',
  );
  expect(err?.name).toBe('SourceValueError');
  expect(JSON.stringify({ ...err, stack: err?.stack })).not.toMatch(/example\.com|Original Line/);
});

test('a row the reader cannot parse is located by line, its text withheld', async () => {
  const err = await encode('1,bob@example.com,1\n2,alice@example.com,2,extra\n', 'shape').then(
    () => null,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(/^cannot stage line 2 of the COPY stream: a row the CSV reader could not parse/);
  expect(String(err?.stack)).not.toContain('alice@example.com');
});

test('valid rows stage as before', async () => {
  expect((await encode('1,bob@example.com,12.5\n2,alice@example.com,-3\n', 'ok')).rows).toBe(2);
});

test('with reject keys, rows holding NaN, Infinity or an out-of-range numeric are quarantined by key; the rest stage', async () => {
  const big = '1' + '0'.repeat(40);
  const csv = `1,bob@example.com,12.5\n2,alice@example.com,NaN\n3,carol@example.com,1\n4,"dan, jr@example.com",-Infinity\n5,eve@example.com,${big}\n`;
  const out = await encode(csv, 'quarantine', ['customer_id']);
  expect(out.rows).toBe(2);
  expect(out.rejected).toBe(3);
  const reason = 'source value the DECIMAL(38,10) type cannot hold (NaN, ±Infinity or out of range)';
  expect(out.rejects).toEqual([
    { line: 2, column: 'balance', key: { customer_id: '2' }, reason },
    { line: 4, column: 'balance', key: { customer_id: '4' }, reason },
    { line: 5, column: 'balance', key: { customer_id: '5' }, reason },
  ]);
  expect(JSON.stringify(out)).not.toMatch(/example\.com|"NaN"|-Infinity|10000000000/);
  const staged = await db.query<{ id: string }>(
    `SELECT customer_id::VARCHAR AS id FROM read_parquet('${join(dir, 'quarantine.parquet')}') ORDER BY 1`,
  );
  expect(staged.map((r) => r.id)).toEqual(['1', '3']);
  // Nothing of the rejected lines stays behind in the converter.
  const left = await db.query(
    `SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'freshline_rejects%'`,
  );
  expect(left).toEqual([]);
});

test('with reject keys, a malformed COPY stream still fails (no row to blame), its text withheld', async () => {
  const err = await encode('1,bob@example.com,1\n2,alice@example.com,2,extra\n', 'shape2', ['customer_id']).then(
    () => null,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(/^cannot stage line 2 of the COPY stream: a row the CSV reader could not parse/);
  expect(String(err?.stack)).not.toContain('alice@example.com');
});
