import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load';
import { DUCKDB, SNOWFLAKE } from '../../activities/warehouse/dialect';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { buildOrder, checkModelsForDialect, readModels, renderModel } from '../../activities/warehouse/models/catalog';

test('every model states its grain and the published marts build upstream-first', () => {
  const models = readModels();
  const ds = loadConfig().datasets[0];
  const order = buildOrder(models, ds.publish).map((m) => m.name);
  for (const m of order) {
    for (const dep of models.get(m)!.refs) expect(order.indexOf(dep)).toBeLessThan(order.indexOf(m));
  }
  expect(order.indexOf('stg_orders')).toBeLessThan(order.indexOf('fct_orders'));
  expect(order.indexOf('fct_orders')).toBeLessThan(order.indexOf('agg_sales_region_daily'));
  expect(models.get('fct_orders')?.grain).toBe('one row per order_id');
});

test('refs render into the shadow schema and sources into raw', () => {
  const sql = renderModel(readModels().get('fct_orders')!, 'shadow_sales_core');
  expect(sql).toContain('"shadow_sales_core"."stg_orders"');
  expect(renderModel(readModels().get('stg_orders')!, 'x')).toContain('"raw"."shop__orders"');
});

test('an unknown ref or a cycle is reported by name', () => {
  const models = readModels();
  expect(() => buildOrder(models, ['fct_nothing'])).toThrow(
    "model 'fct_nothing' referenced by the dataset config does not exist",
  );
  const a = { ...models.get('stg_orders')!, name: 'a', refs: ['b'] };
  const b = { ...models.get('stg_orders')!, name: 'b', refs: ['a'] };
  expect(() =>
    buildOrder(
      new Map([
        ['a', a],
        ['b', b],
      ]),
      ['a'],
    ),
  ).toThrow('cycle');
});

test('every shipped model runs on both dialects; a DuckDB-only construct is refused for Snowflake, naming the model', () => {
  const models = [...readModels().values()];
  expect(() => checkModelsForDialect(models, DUCKDB)).not.toThrow();
  expect(() => checkModelsForDialect(models, SNOWFLAKE)).not.toThrow();
  const bad = {
    ...models.find((m) => m.name === 'agg_sales_daily')!,
    sql: 'select count(*) filter (where is_cancelled) from x -- grain: x',
  };
  expect(() => checkModelsForDialect([bad], SNOWFLAKE)).toThrow(
    /models cannot run on snowflake:\n\s+marts\/agg_sales_daily\.sql uses aggregate FILTER/,
  );
  expect(() => checkModelsForDialect([{ ...bad, sql: 'select 1', dialects: ['duckdb'] }], SNOWFLAKE)).toThrow(
    'declares dialects: duckdb',
  );
});

test('template functions render per dialect; surrogate keys are the same md5 on both and match the business key', async () => {
  const dim = readModels().get('dim_date')!;
  expect(renderModel(dim, 's', DUCKDB)).toContain('isodow(date_day)');
  expect(renderModel(dim, 's', SNOWFLAKE)).toContain('dayofweekiso(date_day)');
  expect(renderModel(dim, 's', SNOWFLAKE)).toContain('generator(rowcount => 7670)');
  expect(DUCKDB.surrogateKey(['customer_id', 'version_no'])).toBe(
    SNOWFLAKE.surrogateKey(['customer_id', 'version_no']),
  );
  const db = await DuckDbWarehouse.open(':memory:');
  try {
    const [row] = await db.query(`SELECT ${DUCKDB.surrogateKey(['a', 'b'])} AS sk FROM (SELECT 42 AS a, 3 AS b)`);
    expect(row.sk).toBe(createHash('md5').update('42|3').digest('hex'));
  } finally {
    await db.close();
  }
});

test('a malformed model is refused when models are read, naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'freshline-models-'));
  for (const layer of ['staging', 'intermediate', 'marts']) mkdirSync(join(dir, layer));
  writeFileSync(
    join(dir, 'marts', 'fct_x.sql'),
    "-- grain: one row per x\n-- materialized: incremental\nselect * from {{ ref('y') }}",
  );
  expect(() => readModels(dir)).toThrow(
    'model marts/fct_x.sql: an incremental model needs exactly one of unique_key or partition_by',
  );
  writeFileSync(join(dir, 'marts', 'fct_x.sql'), "-- grain: one row per x\nselect {{ hash('a') }}");
  expect(() => readModels(dir)).toThrow("model marts/fct_x.sql: unknown template function 'hash'");
});

test('depends_on and recompute_by: declared per input, defaulted for marts, refused when malformed or naming no input', () => {
  const models = readModels();
  expect(models.get('fct_orders')).toMatchObject({
    recomputeBy: 'order_id',
    dependsOn: expect.arrayContaining([
      { input: 'stg_orders', column: 'order_id' },
      { input: 'dim_customer', column: 'customer_id' },
    ]),
  });
  expect(models.get('int_customer_versions')).toMatchObject({
    recomputeBy: 'customer_id',
    dependsOn: [
      { input: 'shop.customers', column: 'customer_id' },
      { input: 'int_city_regions', column: 'city' },
    ],
  });
  // An aggregate by partition depends on its inputs by the partition column.
  expect(models.get('agg_sales_daily')).toMatchObject({
    recomputeBy: 'order_date',
    dependsOn: [{ input: 'fct_orders', column: 'order_date' }],
  });
  expect(models.get('dim_store')).toMatchObject({ recomputeBy: null, dependsOn: [] });

  const dir = mkdtempSync(join(tmpdir(), 'freshline-models-'));
  for (const layer of ['staging', 'intermediate', 'marts']) mkdirSync(join(dir, layer));
  const model = (header: string) =>
    writeFileSync(
      join(dir, 'intermediate', 'int_x.sql'),
      `-- grain: one row per x\n-- recompute_by: x\n${header}\nselect x from {{ ref('y') }}`,
    );
  writeFileSync(join(dir, 'staging', 'y.sql'), '-- grain: one row per x\nselect 1 as x');
  model('-- depends_on: y(x), z(x)');
  expect(() => readModels(dir)).toThrow(
    "model intermediate/int_x.sql: depends_on names 'z', which the model does not read",
  );
  model('-- depends_on: y[x]');
  expect(() => readModels(dir)).toThrow("model intermediate/int_x.sql: depends_on item 'y[x]' is not input(column)");
  model('-- depends_on: y(x)');
  expect(readModels(dir).get('int_x')).toMatchObject({ recomputeBy: 'x', dependsOn: [{ input: 'y', column: 'x' }] });
  // A restricted render reads the linked input for the given groups only.
  const sql = renderModel(readModels(dir).get('int_x')!, 's', DUCKDB, undefined, { column: 'x', groups: 'g' });
  expect(sql).toContain('(select * from "s"."y" where "x" in (select "x" from g))');
});
