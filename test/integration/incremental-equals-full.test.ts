/**
 * Incremental staging (each staging model merges only the keys new loads touched) gives the same tables as
 * building everything whole from raw: after several windows of new orders, updates, late corrections,
 * cancellations, refunds, a customer's move and a hard delete reconciled by a reload — and raw compacted to
 * each key's latest versions — a full-refresh run changes no certified table and no staging table, column
 * for column.
 */
import { generateChanges } from '../../infra/demo-oltp/generator';
import type { Row } from '../../activities/warehouse/warehouse';
import { createHarness, type Harness } from '../support/harness';
import { compactRaw } from '../../activities/warehouse/raw-compaction';
import { readModels } from '../../activities/warehouse/models/catalog';

jest.setTimeout(240_000);

let h: Harness;
beforeAll(async () => {
  h = await createHarness('incremental_full', { customers: 120, orders: 500 });
});
afterAll(() => h?.close());

/** Every table of a schema, all columns but the ones a rebuild may legitimately give a new value. */
async function tables(schema: string, names: string[]): Promise<Map<string, Row[]>> {
  const out = new Map<string, Row[]>();
  for (const t of names) {
    const cols = await h.sql<{ c: string }>(
      `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [schema, t],
    );
    const except = cols.some((c) => c.c === '_run_id') ? 'EXCLUDE (_run_id)' : '';
    out.set(t, await h.sql(`SELECT * ${except} FROM ${schema}.${t} ORDER BY ALL`));
  }
  return out;
}

const STAGING = [
  'stg_orders',
  'stg_order_items',
  'stg_payments',
  'stg_refunds',
  'stg_shipments',
  'stg_stores',
  'stg_products',
];

test('N incremental windows, then a full refresh: every staging and certified table is unchanged', async () => {
  let shift = 0;
  const runWindow = async (input: Parameters<Harness['run']>[0] = {}) => {
    shift += 1;
    // Each its own window id (a minute earlier each time, still ending after every change made here).
    const start = new Date(Date.parse(h.window.start) - shift * 60_000).toISOString();
    const end = new Date(Date.parse(h.window.end) - shift * 60_000).toISOString();
    const result = await h.run({ window: { start, end }, gateTimeout: '30s', ...input });
    expect(['succeeded', 'published_with_errors']).toContain(result.status);
    expect(result.gate?.critical ?? []).toEqual([]);
    return result;
  };
  const first = await runWindow();
  const firstWindow = {
    start: new Date(Date.parse(h.window.start) - 60_000).toISOString(),
    end: new Date(Date.parse(h.window.end) - 60_000).toISOString(),
  };
  expect(first.steps.transform.detail).toMatch(/stg_orders=\d+ /); // the first build is whole
  for (let i = 0; i < 3; i++) {
    await generateChanges(h.pool, {
      newOrders: 15,
      updates: 10,
      lateCorrections: 3,
      cancellations: 2,
      refunds: 2,
      seed: 100 + i,
    });
    if (i === 1)
      await h.pool.query(
        "UPDATE shop.customers SET city = 'Lisbon' WHERE customer_id = (SELECT min(customer_id) FROM shop.customers)",
      );
    const result = await runWindow();
    // Staging merged by key: only what the window's loads touched was read again; intermediates and marts
    // recompute only the groups those changes reach (int_* by order, dim_customer by customer, facts by key).
    expect(result.steps.transform.detail).toMatch(/stg_orders=\d+ \(\d+ key\(s\) merged\)/);
    expect(result.steps.transform.detail).toMatch(/int_order_payments=\d+ \(\d+ key\(s\) merged\)/);
    expect(result.steps.transform.detail).toMatch(/int_customer_versions=\d+ \(\d+ key\(s\) merged\)/);
    expect(result.steps.transform.detail).toMatch(/fct_orders=\d+ \(merged \+\d+ ~\d+ -\d+\)/);
  }
  // A hard delete of an order line, reconciled by a reload of its order's day.
  const {
    rows: [line],
  } = await h.pool.query<{ id: string; day: string }>(
    `SELECT i.order_item_id AS id, o.order_date::text AS day FROM shop.order_items i JOIN shop.orders o USING (order_id)
      ORDER BY o.order_date DESC, i.order_item_id LIMIT 1`,
  );
  await h.pool.query('DELETE FROM shop.order_items WHERE order_item_id = $1', [line.id]);
  const dayEnd = new Date(Date.parse(`${line.day}T00:00:00Z`) + 86_400_000).toISOString();
  await runWindow({ mode: 'reload', window: { start: `${line.day}T00:00:00.000Z`, end: dayEnd } });
  const [{ n: stillThere }] = await h.sql<{ n: number }>(
    'SELECT count(*)::INTEGER AS n FROM shadow_sales_core.stg_order_items WHERE order_item_id = $1',
    [Number(line.id)],
  );
  expect(stillThere).toBe(0);
  // A longer manual window under the first window's id (same start), after newer windows ran: it passes its
  // own reconciliation (raw keeps the first run's rows under that id; only this extraction's are counted).
  const longer = await h.run({
    window: { start: firstWindow.start, end: new Date(Date.parse(firstWindow.end) + 30_000).toISOString() },
    gateTimeout: '30s',
  });
  expect(longer.workflowId).toBe(first.workflowId);
  expect(['succeeded', 'published_with_errors']).toContain(longer.status);
  expect(longer.gate?.critical ?? []).toEqual([]);

  const certifiedNames = (
    await h.sql<{ t: string }>(
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'certified' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
  ).map((r) => r.t);
  expect(certifiedNames.length).toBeGreaterThanOrEqual(12);
  const incremental = {
    staging: await tables('shadow_sales_core', STAGING),
    certified: await tables('certified', certifiedNames),
  };

  // Bounded raw: superseded versions compact away (here every one: the horizon is in the future), and the full
  // refresh below still gives the same tables. Customers, whose every version the SCD2 model reads, keep them.
  const rawRows = async (t: string) => (await h.sql<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM raw.${t}`))[0].n;
  const before = { orders: await rawRows('shop__orders'), customers: await rawRows('shop__customers') };
  const compacted = await compactRaw(h.deps.warehouse, readModels(), new Date(Date.now() + 86_400_000));
  const removed = compacted.find((c) => c.table === 'raw.shop__orders')?.removed ?? 0;
  expect(removed).toBeGreaterThan(0);
  expect(compacted.map((c) => c.table)).not.toContain('raw.shop__customers');
  expect(await rawRows('shop__orders')).toBe(before.orders - removed);
  expect(await rawRows('shop__customers')).toBe(before.customers);
  // What is left per key: its latest version (and duplicates of it), and its newest live one.
  const [{ extra }] = await h.sql<{ extra: number }>(
    `SELECT count(*)::INTEGER AS extra FROM (SELECT order_id FROM raw.shop__orders GROUP BY order_id
       HAVING count(DISTINCT _extracted_at::VARCHAR || coalesce(_lsn, '')) > 2)`,
  );
  expect(extra).toBe(0);

  // Over what raw holds (no new extraction, whose load ids would show in staging's lineage column).
  const full = await runWindow({ fullRefresh: true, skipExtract: true });
  expect(full.steps.transform.detail).not.toMatch(/key\(s\) merged/);
  const rebuilt = {
    staging: await tables('shadow_sales_core', STAGING),
    certified: await tables('certified', certifiedNames),
  };
  for (const kind of ['staging', 'certified'] as const)
    for (const [t, rows] of incremental[kind]) {
      if (t !== 'fct_support_tickets')
        expect({ table: t, empty: rows.length === 0 }).toEqual({ table: t, empty: false });
      expect({ table: t, rows: rebuilt[kind].get(t) }).toEqual({ table: t, rows });
    }
});
