import { createHarness, type Harness } from '../support/harness';

// PostgreSQL's numeric holds NaN (and, unconstrained, ±Infinity and values beyond DECIMAL(38,10)); the warehouse
// cannot. Such a row is quarantined by key and column (audit.source_rejects), never by its values; the run goes on.

let h: Harness;
beforeAll(async () => {
  h = await createHarness('rejects', { customers: 60, orders: 200 });
  // The initial load: a row rejected later has an earlier version in raw to fall back on.
  expect((await h.run()).status).toBe('succeeded');
});
afterAll(() => h?.close());

test('a value the warehouse cannot hold (numeric NaN) quarantines its row by key and column; the run publishes the rest', async () => {
  const { rows } = await h.pool.query<{ order_id: string; total: string }>(
    'SELECT order_id::text, total::text FROM shop.orders ORDER BY order_id LIMIT 1',
  );
  const { order_id: orderId, total } = rows[0];
  await h.pool.query(`UPDATE shop.orders SET total = 'NaN', updated_at = now() WHERE order_id = $1`, [orderId]);
  const window = { start: new Date(Date.parse(h.window.start) - 60_000).toISOString(), end: h.window.end };
  const result = await h.run({ window });
  expect(result.status).toBe('succeeded');
  expect(result.steps.extract.counts?.rejected).toBe(1);
  expect(result.steps.extract.detail).toContain('orders=');
  expect(result.steps.extract.detail).toContain('(1 rejected: audit.source_rejects)');
  const rejects = await h.sql(
    `SELECT table_name, column_name, key_values::VARCHAR AS k, reason FROM audit.source_rejects WHERE load_id LIKE $1`,
    [`%/window/${window.start}/orders`],
  );
  expect(rejects).toEqual([
    {
      table_name: 'orders',
      column_name: 'total',
      k: JSON.stringify({ order_id: orderId }),
      reason: 'source value the DECIMAL(12,2) type cannot hold (NaN, ±Infinity or out of range)',
    },
  ]);
  // Raw keeps the order's previous version; no version with the unrepresentable value exists anywhere.
  const raw = await h.sql(
    `SELECT count(*)::INTEGER AS n, count(total)::INTEGER AS totals FROM raw.shop__orders WHERE order_id = $1`,
    [Number(orderId)],
  );
  expect(raw[0].n).toBeGreaterThan(0);
  expect(raw[0].totals).toBe(raw[0].n);
  const [recon] = await h.sql(
    `SELECT status, detail FROM audit.dq_results WHERE check_type = 'row_count_reconciliation' AND workflow_id = $1`,
    [result.workflowId],
  );
  expect(recon).toMatchObject({ status: 'pass' });
  expect(String(recon.detail)).toContain('orders: 1 rejected (audit.source_rejects)');
  // Fixed at the source, the row comes in with the next window that sees its change.
  await h.pool.query(`UPDATE shop.orders SET total = $2, updated_at = now() WHERE order_id = $1`, [orderId, total]);
  const fixed = await h.run({
    window: { start: new Date(Date.parse(window.start) - 60_000).toISOString(), end: h.window.end },
  });
  expect(fixed.steps.extract.counts?.rejected).toBe(0);
  const [pg] = (await h.pool.query(`SELECT total::text AS t FROM shop.orders WHERE order_id = $1`, [orderId])).rows;
  const [latest] = await h.sql(
    `SELECT total::VARCHAR AS t FROM raw.shop__orders WHERE order_id = $1 ORDER BY updated_at DESC LIMIT 1`,
    [Number(orderId)],
  );
  expect(Number(latest.t)).toBe(Number(pg.t));
});

test('a full snapshot with a rejected row is held: raw keeps the last whole snapshot, nothing is tombstoned', async () => {
  const live = () => h.sql(`SELECT count(*)::INTEGER AS n FROM raw.shop__products WHERE NOT _deleted`);
  const before = await live();
  const { rows } = await h.pool.query<{ product_id: number }>(
    `UPDATE shop.products SET unit_price = 'NaN' WHERE product_id = (SELECT max(product_id) FROM shop.products) RETURNING product_id`,
  );
  const window = { start: new Date(Date.parse(h.window.start) - 180_000).toISOString(), end: h.window.end };
  const result = await h.run({ window });
  expect(result.status).toBe('succeeded');
  expect(result.steps.load.detail).toMatch(
    /products: 1 row\(s\) of the full snapshot could not be staged \(see audit.source_rejects\); raw keeps the last snapshot/,
  );
  expect(await live()).toEqual(before);
  const [tomb] = await h.sql(`SELECT count(*)::INTEGER AS n FROM raw.shop__products WHERE _deleted`);
  expect(tomb.n).toBe(0);
  const rejects = await h.sql(
    `SELECT key_values::VARCHAR AS k FROM audit.source_rejects WHERE table_name = 'products'`,
  );
  expect(rejects).toEqual([{ k: JSON.stringify({ product_id: String(rows[0].product_id) }) }]);
  await h.pool.query(`UPDATE shop.products SET unit_price = 1 WHERE product_id = $1`, [rows[0].product_id]);
});
