import { loadConfig } from '../../config/load';
import { buildOrder, readModels, renderModel } from '../../activities/warehouse/models';

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
  expect(() => buildOrder(models, ['fct_nothing'])).toThrow("model 'fct_nothing' referenced by the dataset config does not exist");
  const a = { ...models.get('stg_orders')!, name: 'a', refs: ['b'] };
  const b = { ...models.get('stg_orders')!, name: 'b', refs: ['a'] };
  expect(() => buildOrder(new Map([['a', a], ['b', b]]), ['a'])).toThrow('cycle');
});
