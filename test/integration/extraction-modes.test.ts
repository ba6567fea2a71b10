import { createHmac } from 'node:crypto';
import type { LocalObjectStore } from '../../activities/storage/local';
import { createHarness, snapshot, type Harness } from '../support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('modes', { customers: 80, orders: 200 });
  expect((await h.run()).status).toBe('succeeded');
});
afterAll(() => h?.close());

const loadDetail = async () => (await h.run()).steps.load.detail ?? '';

test('full mode: an unchanged reference table is not re-read; a changed one is reloaded whole', async () => {
  expect(await loadDetail()).toMatch(/stores: full table unchanged since the last load/);
  await h.pool.query(`UPDATE shop.stores SET region = 'Central' WHERE store_id = 1`);
  const result = await h.run();
  expect(result.steps.load.detail ?? '').not.toMatch(/stores: full table unchanged/);
  const [store] = await h.sql('SELECT region FROM certified.dim_store WHERE store_id = 1');
  expect(store.region).toBe('Central');
  const [{ n }] = await h.sql(
    `SELECT count(*)::INTEGER AS n FROM certified.agg_sales_region_daily WHERE region = 'Central'`,
  );
  expect(n).toBeGreaterThan(0);
});

test('full mode: a row deleted at the source becomes a tombstone and leaves the certified table', async () => {
  await h.pool.query(
    `INSERT INTO shop.products (product_id, sku, name, category, unit_price) VALUES (9001, 'TMP-9001', 'Discontinued', 'misc', 1.00)`,
  );
  await h.run();
  expect(await h.sql('SELECT sku FROM certified.dim_product WHERE product_id = 9001')).toEqual([{ sku: 'TMP-9001' }]);
  await h.pool.query('DELETE FROM shop.products WHERE product_id = 9001');
  const result = await h.run();
  expect(result.steps.load.counts?.tombstones).toBe(1);
  expect(await h.sql('SELECT sku FROM certified.dim_product WHERE product_id = 9001')).toEqual([]);
  const raw = await h.sql('SELECT _deleted, _source_file FROM raw.shop__products WHERE product_id = 9001');
  expect(raw).toEqual([{ _deleted: true, _source_file: 'tombstone: key absent from full snapshot' }]);
});

test('an added column flows into raw without disturbing certified tables', async () => {
  await h.pool.query('ALTER TABLE shop.orders ADD COLUMN gift_wrap boolean');
  await h.pool.query(
    'UPDATE shop.orders SET gift_wrap = true WHERE order_id IN (SELECT order_id FROM shop.orders ORDER BY order_id LIMIT 3)',
  );
  const result = await h.run();
  expect(result.status).toBe('succeeded');
  expect(result.drift).toEqual([
    { table: 'orders', summary: 'added gift_wrap boolean', breaking: false, accepted: false },
  ]);
  const [{ n }] = await h.sql('SELECT count(*)::INTEGER AS n FROM raw.shop__orders WHERE gift_wrap');
  expect(n).toBe(3);
  expect((await h.run()).drift).toEqual([]); // the new schema is the baseline now
});

test('a dropped column holds only the marts that read the table; accepting it publishes them again', async () => {
  const customersBefore = await snapshot(h, 'dim_customer');
  await h.pool.query('ALTER TABLE shop.customers DROP COLUMN city');
  await h.pool.query(`WITH o AS (
                        INSERT INTO shop.orders (order_number, customer_id, store_id, channel, status, ordered_at, order_date, subtotal, discount, tax, shipping, total)
                        SELECT 'SO-DRIFT-1', customer_id, store_id, channel, 'paid', ordered_at, order_date, subtotal, discount, tax, shipping, total
                          FROM shop.orders WHERE status = 'delivered' ORDER BY order_id LIMIT 1 RETURNING order_id, total, ordered_at)
                      INSERT INTO shop.payments (order_id, method, amount, status, paid_at) SELECT order_id, 'paypal', total, 'captured', ordered_at FROM o`);
  await h.pool.query(`UPDATE shop.customers SET country = 'CA' WHERE customer_id = 1`);

  const result = await h.run();
  expect(result.status).toBe('published_partial');
  expect(result.drift).toEqual([{ table: 'customers', summary: 'dropped city', breaking: true, accepted: false }]);
  // Every mart that reads customers is held (orders carry the customer's version, sales roll up orders) …
  const reason = 'customers: breaking schema drift (dropped city)';
  expect(result.held).toEqual(
    ['dim_customer', 'fct_orders', 'agg_sales_daily', 'agg_sales_region_daily'].map((table) => ({ table, reason })),
  );
  expect(await snapshot(h, 'dim_customer')).toEqual(customersBefore); // yesterday's numbers stay
  expect(await h.sql(`SELECT order_number FROM certified.fct_orders WHERE order_number = 'SO-DRIFT-1'`)).toHaveLength(
    0,
  );
  // … and the others continue.
  const [{ n: drifted }] =
    await h.sql(`SELECT count(*)::INTEGER AS n FROM certified.fct_payments p JOIN shadow_sales_core.stg_orders o USING (order_id)
                                        WHERE o.order_number = 'SO-DRIFT-1'`);
  expect(drifted).toBe(1);
  const [dq] = await h.sql(
    `SELECT severity, status, detail FROM audit.dq_results WHERE workflow_id = $1 AND check_name = 'schema_drift_customers'
                            ORDER BY checked_at DESC LIMIT 1`,
    [result.workflowId],
  );
  expect(dq).toMatchObject({ severity: 'error', status: 'fail' });
  expect(String(dq.detail)).toContain('dropped city');

  const accepted = await h.run({ acceptDrift: ['customers'] });
  expect(accepted.status).toBe('succeeded');
  expect(accepted.held).toEqual([]);
  const [c1] = await h.sql('SELECT country, city FROM certified.dim_customer WHERE customer_id = 1 AND is_current');
  expect(c1).toEqual({ country: 'CA', city: null }); // the dropped column reads as NULL from now on
  expect((await h.run()).drift).toEqual([]);
});

test('a renamed column and a narrowed type hold their marts with an alert naming the change; a widened type flows through', async () => {
  const productsBefore = await snapshot(h, 'dim_product');
  await h.pool.query('ALTER TABLE shop.products RENAME COLUMN category TO product_category');
  const renamed = await h.run();
  expect(renamed.status).toBe('published_partial');
  expect(renamed.drift).toEqual([
    { table: 'products', summary: 'renamed category → product_category', breaking: true, accepted: false },
  ]);
  expect(renamed.held).toContainEqual({
    table: 'dim_product',
    reason: 'products: breaking schema drift (renamed category → product_category)',
  });
  expect(await snapshot(h, 'dim_product')).toEqual(productsBefore);

  await h.pool.query('ALTER TABLE shop.products RENAME COLUMN product_category TO category');
  await h.pool.query('ALTER TABLE shop.stores ALTER COLUMN store_code TYPE varchar(8)');
  await h.pool.query('ALTER TABLE shop.order_items ALTER COLUMN quantity TYPE bigint');
  const retyped = await h.run();
  expect(retyped.status).toBe('published_partial');
  expect(retyped.drift).toEqual(
    expect.arrayContaining([
      { table: 'stores', summary: 'retyped store_code text → character varying(8)', breaking: true, accepted: false },
      { table: 'order_items', summary: 'widened quantity integer → bigint', breaking: false, accepted: false },
    ]),
  );
  expect(retyped.drift).toHaveLength(2); // the rename was undone before this run: products match their baseline again
  expect(retyped.held.map((x) => x.table)).toContain('dim_store');
  expect(retyped.held.map((x) => x.table)).not.toContain('dim_product');

  await h.pool.query('ALTER TABLE shop.stores ALTER COLUMN store_code TYPE text');
  const restored = await h.run();
  expect(restored.status).toBe('succeeded');
  expect(restored.drift).toEqual([]);
});

test('a column added to a PII table is held out of stage and raw until listed; listed as pii it arrives tokenized', async () => {
  await h.pool.query('ALTER TABLE shop.customers ADD COLUMN secondary_email text');
  await h.pool.query(
    `UPDATE shop.customers SET secondary_email = 'second-' || customer_id || '@example.com' WHERE customer_id <= 3`,
  );
  const plain = ['second-1@example.com', 'second-2@example.com', 'second-3@example.com'];
  const stageDir = (h.deps.stage as LocalObjectStore).root;
  const stagedText = async () =>
    JSON.stringify(
      await h.sql(`SELECT * FROM read_parquet('${stageDir}/shop/shop.customers/**/*.parquet', union_by_name = true)`),
    );
  const rawColumns = async () =>
    (
      await h.sql(
        `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = 'shop__customers'`,
      )
    ).map((r) => r.c);

  for (const input of [{}, { acceptDrift: ['customers'] }]) {
    const held = await h.run(input);
    expect(held.status).toBe('published_partial');
    expect(held.drift).toEqual([
      expect.objectContaining({ table: 'customers', breaking: true, accepted: false, held: ['secondary_email'] }),
    ]);
    expect(held.held).toContainEqual({ table: 'dim_customer', reason: expect.stringContaining('secondary_email') });
    const [dq] = await h.sql(
      `SELECT status, detail FROM audit.dq_results WHERE workflow_id = $1 AND check_name = 'schema_drift_customers'
        ORDER BY checked_at DESC LIMIT 1`,
      [held.workflowId],
    );
    expect(dq.status).toBe('fail');
    expect(String(dq.detail)).toContain(
      'shop.customers declares PII/PCI, so new column secondary_email loads only once listed in its pii',
    );
    expect(String(dq.detail)).toMatch(/keep their last certified version until config lists the held columns$/);
    expect(await rawColumns()).not.toContain('secondary_email');
    const staged = await stagedText();
    expect(staged).not.toContain('secondary_email');
    expect(plain.filter((v) => staged.includes(v))).toEqual([]);
  }

  const customers = h.deps.config.datasets.flatMap((d) => d.tables).filter((t) => t.name === 'customers');
  customers.forEach((t) => t.pii.push('secondary_email'));
  const listed = await h.run();
  expect(listed.status).toBe('succeeded');
  expect(await rawColumns()).toContain('secondary_email');
  const [c1] = await h.sql(
    'SELECT secondary_email FROM raw.shop__customers WHERE customer_id = 1 ORDER BY _extracted_at DESC LIMIT 1',
  );
  expect(c1.secondary_email).toBe(createHmac('sha256', h.piiKey).update('second-1@example.com').digest('hex'));
  const staged = await stagedText();
  expect(plain.filter((v) => staged.includes(v))).toEqual([]);
});
