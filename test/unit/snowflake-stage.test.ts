import { snowflakeType } from '../../activities/warehouse/dialect';
import { copySql } from '../../activities/warehouse/engines/snowflake-stage';

test('staged DuckDB types map to Snowflake types; exact numerics stay exact; an unknown type is refused by name', () => {
  expect(
    ['BIGINT', 'DECIMAL(38,10)', 'DOUBLE', 'TIMESTAMPTZ', 'TIMESTAMP', 'JSON', 'UUID', 'BOOLEAN', 'DATE'].map((t) =>
      snowflakeType(t, 'c'),
    ),
  ).toEqual([
    'NUMBER(38,0)',
    'NUMBER(38,10)',
    'FLOAT',
    'TIMESTAMP_TZ',
    'TIMESTAMP_NTZ',
    'VARCHAR',
    'VARCHAR',
    'BOOLEAN',
    'DATE',
  ]);
  expect(() => snowflakeType('INTERVAL', 'wait')).toThrow(
    "column 'wait': no Snowflake type for staged type 'INTERVAL'",
  );
});

test('COPY names at most 1,000 files per statement, relative to their common directory, inside a quoted location', () => {
  const keys = Array.from(
    { length: 1001 },
    (_, i) => `shop/shop.orders/dt=2024-03-01/a--b/part-${String(i).padStart(5, '0')}.parquet`,
  );
  const statements = copySql('"raw"."t"', 'raw.freshline_stage', keys);
  expect(statements).toHaveLength(2);
  expect(statements[0]).toContain(
    `FROM '@raw.freshline_stage/shop/shop.orders/dt=2024-03-01/a--b/' FILES = ('part-00000.parquet', `,
  );
  expect(statements[1]).toContain("FILES = ('part-01000.parquet')");
  // Keys without a shared directory are named from the stage root.
  expect(copySql('"raw"."t"', 'raw.s', ['a/1.parquet', 'b/2.parquet'])[0]).toContain(
    "FROM '@raw.s' FILES = ('a/1.parquet', 'b/2.parquet')",
  );
  expect(() => copySql('"raw"."t"', 'raw.s', ["a'/1.parquet", "a'/2.parquet"])).toThrow(/unsafe stage path/);
});
