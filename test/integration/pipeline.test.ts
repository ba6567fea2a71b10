import { DuckDBInstance } from '@duckdb/node-api';
import { createHmac } from 'node:crypto';
import { LocalObjectStore } from '../../activities/storage/local';
import { statusQuery } from '../../workflows/messages';
import { createHarness, snapshot, type Harness } from '../support/harness';
import { decodedHistoryText } from '../support/history';

const CERTIFIED = ['agg_sales_region_daily', 'fct_orders', 'dim_customer', 'dim_store', 'dim_product'];
const RAW_KEYS: Record<string, string> = {
  orders: 'order_id',
  order_items: 'order_item_id',
  payments: 'payment_id',
  refunds: 'refund_id',
  stores: 'store_id',
  products: 'product_id',
  customers: 'customer_id',
};

// Lineage legitimately points at the later load when an overlapping window re-loads a row version.
const LINEAGE = ['_run_id', '_source_load_id'];

let h: Harness;
beforeAll(async () => {
  h = await createHarness('pipeline');
});
afterAll(() => h?.close());

/**
 * Sales by region and business date computed directly in PostgreSQL: the figure dashboards must show. A
 * cancelled order's refunds are not subtracted (its cancellation already took it out of gross).
 */
async function salesByRegionInPostgres() {
  const { rows } = await h.pool.query(`
    SELECT s.region, o.order_date::text AS order_date,
           count(*) FILTER (WHERE o.status <> 'cancelled')::int AS orders,
           coalesce(sum(o.total) FILTER (WHERE o.status <> 'cancelled'), 0)::text AS gross,
           coalesce(sum(r.amount) FILTER (WHERE o.status <> 'cancelled'), 0)::text AS refunds
      FROM shop.orders o JOIN shop.stores s USING (store_id)
      LEFT JOIN (SELECT order_id, sum(amount) AS amount FROM shop.refunds GROUP BY 1) r USING (order_id)
     GROUP BY 1, 2 ORDER BY 1, 2`);
  return rows.map((r) => ({
    ...r,
    net: (Number(r.gross) - Number(r.refunds)).toFixed(2),
    gross: Number(r.gross).toFixed(2),
    refunds: Number(r.refunds).toFixed(2),
  }));
}

async function certifiedSalesByRegion() {
  const rows = await h.sql(
    `SELECT region, order_date::VARCHAR AS order_date, orders::INTEGER AS orders, gross_revenue::VARCHAR AS gross,
            refunds::VARCHAR AS refunds, net_revenue::VARCHAR AS net
       FROM certified.agg_sales_region_daily ORDER BY 1, 2`,
  );
  return rows.map((r) => ({
    ...r,
    gross: Number(r.gross).toFixed(2),
    refunds: Number(r.refunds).toFixed(2),
    net: Number(r.net).toFixed(2),
  }));
}

async function rawDuplicateVersions(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [table, key] of Object.entries(RAW_KEYS)) {
    const [{ n }] = await h.sql(
      `SELECT count(*)::INTEGER AS n FROM (SELECT ${key}, updated_at FROM raw.shop__${table} GROUP BY ALL HAVING count(*) > 1)`,
    );
    out[table] = Number(n);
  }
  return out;
}

test('happy path: certified sales by region equal the same aggregate computed in PostgreSQL', async () => {
  const handle = await h.start();
  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  expect(result.workflowId).toBe(`sales_core/window/${h.window.start}`);

  const expected = await salesByRegionInPostgres();
  expect(expected.length).toBeGreaterThan(20);
  expect(await certifiedSalesByRegion()).toEqual(expected);

  const {
    rows: [pgOrders],
  } = await h.pool.query('SELECT count(*)::int AS n FROM shop.orders');
  const [fct] = await h.sql('SELECT count(*)::INTEGER AS n FROM certified.fct_orders');
  expect(Number(fct.n)).toBe(pgOrders.n);

  // Every step reported, with counts, through the status query and the result.
  const status = await handle.query(statusQuery);
  expect(status.state).toBe('succeeded');
  expect(Object.keys(status.steps)).toEqual([
    'plan',
    'extract',
    'load',
    'transform',
    'gate',
    'publish',
    'refresh',
    'audit',
  ]);
  expect(status.steps.extract.counts?.rows).toBe(status.steps.load.counts?.rowsLoaded);
  expect(status.steps.refresh).toMatchObject({ status: 'skipped' });
  expect(status.steps.refresh.detail).toContain('no Tableau target configured');

  const audit = await h.sql(`SELECT status, steps::VARCHAR AS steps FROM audit.pipeline_runs WHERE workflow_id = $1`, [
    result.workflowId,
  ]);
  expect(audit).toHaveLength(1);
  expect(audit[0].status).toBe('succeeded');
  expect(JSON.parse(String(audit[0].steps)).load.counts.rowsLoaded).toBe(status.steps.load.counts?.rowsLoaded);
  const dq = await h.sql(`SELECT check_name, status FROM audit.dq_results WHERE workflow_id = $1 ORDER BY 1`, [
    result.workflowId,
  ]);
  expect(dq.map((r) => r.status)).toEqual(dq.map(() => 'pass'));
  expect(dq.map((r) => r.check_name)).toContain('order_totals_match_payments');
});

test('PII and secrets never reach the stage, the warehouse or Temporal history in plain text', async () => {
  const { rows: people } = await h.pool.query(
    'SELECT customer_id::int AS id, email, phone, full_name, address FROM shop.customers ORDER BY customer_id LIMIT 50',
  );
  const [dim] = await h.sql('SELECT email_token FROM certified.dim_customer WHERE customer_id = $1', [people[0].id]);
  expect(dim.email_token).toBe(createHmac('sha256', h.piiKey).update(people[0].email).digest('hex'));

  const plain = people.flatMap((p) => [p.email, p.phone, p.full_name, p.address]).filter(Boolean) as string[];
  const stageDir = (h.deps.stage as LocalObjectStore).root;
  const stagedCustomers = await h.sql(
    `SELECT email, phone, full_name, address FROM read_parquet('${stageDir}/shop/shop.customers/**/*.parquet')`,
  );
  expect(stagedCustomers.length).toBeGreaterThan(0);
  const stagedText = JSON.stringify(stagedCustomers);
  const tables = await h.sql(
    `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('audit', 'information_schema')`,
  );
  expect(tables.length).toBeGreaterThan(20);
  const warehouseText = JSON.stringify(await Promise.all(tables.map((x) => h.sql(`SELECT * FROM "${x.s}"."${x.t}"`))));
  const historyText = await decodedHistoryText(h.client, `sales_core/window/${h.window.start}`);
  expect(/table\W+customers/.test(historyText)).toBe(true); // payloads are decoded and readable
  const leaks = (text: string) => plain.filter((value) => text.includes(value));
  expect(leaks(stagedText)).toEqual([]);
  expect(leaks(warehouseText)).toEqual([]);
  expect(leaks(historyText)).toEqual([]);
  // Secrets too: the HMAC key and the source credentials stay in the secret store.
  expect(historyText.includes(h.piiKey)).toBe(false);
  expect(historyText.includes('postgresql://')).toBe(false);
});

test('idempotency: the same window twice leaves certified tables identical and raw without duplicates', async () => {
  const before = await Promise.all(CERTIFIED.map((t) => snapshot(h, t)));
  const [rawBefore] = await h.sql('SELECT count(*)::INTEGER AS n FROM raw.shop__orders');
  const again = await h.run();
  expect(again.status).toBe('succeeded');
  expect(again.steps.load.counts?.rowsReplaced).toBe(again.steps.load.counts?.rowsLoaded);
  expect(await Promise.all(CERTIFIED.map((t) => snapshot(h, t)))).toEqual(before);
  const [rawAfter] = await h.sql('SELECT count(*)::INTEGER AS n FROM raw.shop__orders');
  expect(rawAfter.n).toBe(rawBefore.n);
  expect(await rawDuplicateVersions()).toEqual(Object.fromEntries(Object.keys(RAW_KEYS).map((t) => [t, 0])));
});

test('overlapping windows: no duplicate row versions in raw, same certified numbers', async () => {
  const before = await Promise.all(CERTIFIED.map((t) => snapshot(h, t, LINEAGE)));
  // Earlier windows overlapping h.window (a window may not end more than one cadence ahead): one by less
  // than the 5-minute lookback, one by more; both still hold every seeded row and change.
  const shifted = (minutes: number) => ({
    start: new Date(Date.parse(h.window.start) - minutes * 60_000).toISOString(),
    end: new Date(Date.parse(h.window.end) - minutes * 60_000).toISOString(),
  });
  const [near, window] = [shifted(2), shifted(10)];
  for (const w of [near, window]) expect((await h.run({ window: w })).status).toBe('succeeded');
  expect(await rawDuplicateVersions()).toEqual(Object.fromEntries(Object.keys(RAW_KEYS).map((t) => [t, 0])));
  expect(await Promise.all(CERTIFIED.map((t) => snapshot(h, t, LINEAGE)))).toEqual(before);
  expect(await certifiedSalesByRegion()).toEqual(await salesByRegionInPostgres());
});

test('after publish Tableau gets a separate read-only file holding the bi views only', async () => {
  const instance = await DuckDBInstance.create(h.deps.biExportPath!, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    const read = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJson();
    const schemas = (await read(`SELECT DISTINCT table_schema AS s FROM information_schema.tables`)).map((r) => r.s);
    expect(schemas).toEqual(['bi']);
    const [{ n }] = await read(`SELECT count(*)::INTEGER AS n FROM bi.fct_orders`);
    expect(n).toBe((await h.sql('SELECT count(*)::INTEGER AS n FROM certified.fct_orders'))[0].n);
    await expect(conn.run('CREATE TABLE bi.x (a INTEGER)')).rejects.toThrow(/read-only/i);
  } finally {
    conn.closeSync();
  }
});
