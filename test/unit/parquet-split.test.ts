import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { encodeCsvToParquet } from '../../activities/sources/postgres/parquet-encoder';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';

let db: DuckDbWarehouse;
let dir: string;
beforeAll(async () => {
  db = await DuckDbWarehouse.open(':memory:', { threads: 1 });
  dir = mkdtempSync(join(tmpdir(), 'freshline-split-'));
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('staged Parquet is split into files of about the configured size, every row once and in order', async () => {
  const rows = 600_000;
  function* csv() {
    for (let i = 0; i < rows; i += 10_000) {
      let chunk = '';
      for (let j = i; j < i + 10_000; j++)
        chunk += `${j},${(j * 7919) % 1_000_003}.${j % 100},note ${(j * 31) % 9973}\n`;
      yield chunk;
    }
  }
  const out = join(dir, 'out.d');
  const { rows: n } = await encodeCsvToParquet({
    db,
    source: Readable.from(csv()),
    fifo: join(dir, 'in.csv'),
    parquet: out,
    pii: null,
    fileSizeBytes: 1024 * 1024,
    csvColumns: [
      { name: 'id', type: 'BIGINT' },
      { name: 'amount', type: 'DECIMAL(12,2)' },
      { name: 'note', type: 'VARCHAR' },
    ],
  });
  expect(n).toBe(rows);
  const files = readdirSync(out).sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
  expect(files.length).toBeGreaterThan(1);
  // DuckDB starts a new file once the limit is passed, at a row-group boundary: allow one row group over.
  for (const f of files.slice(0, -1)) expect(statSync(join(out, f)).size).toBeLessThan(3 * 1024 * 1024);
  const [check] = await db.query<{ n: number; distinct_ids: number; ordered: boolean }>(
    `SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS distinct_ids,
            bool_and(id > coalesce(prev, -1)) AS ordered
       FROM (SELECT id, lag(id) OVER (ORDER BY file_index, file_row_number) AS prev
               FROM (SELECT id, file_row_number, regexp_extract(filename, '(\\d+)\\.parquet$', 1)::INTEGER AS file_index
                       FROM read_parquet('${out}/*.parquet', filename = true, file_row_number = true)))`,
  );
  expect(check).toEqual({ n: rows, distinct_ids: rows, ordered: true });
});
