import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../config/load';
import type { DatasetConfig } from '../../config/schema';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { ensureAuditTables, recordCheckResults } from '../../activities/warehouse/audit/runs';
import { purgeAudit, recordWindowCounts } from '../../activities/warehouse/audit/health';
import { runChecks, type CheckResult, type TableCounts } from '../../activities/warehouse/quality/checks';
import { releaseQuarantine } from '../../activities/warehouse/quality/quarantine';

// Every check type against a real DuckDB holding small shadow tables: once with data that passes,
// once with data that fails, asserting what an operator reads (status, failing rows, samples, detail).

const RUN = 'ds/window/2026-11-20T10:00:00.000Z';
const WINDOW = { start: '2026-11-20T10:00:00.000Z', end: '2026-11-20T10:15:00.000Z' };
let wh: DuckDbWarehouse;
let dir: string;

beforeEach(async () => {
  // A file, not ':memory:': checks with SQL from config read it through a separate read-only attach.
  dir = mkdtempSync(join(tmpdir(), 'freshline-dq-'));
  wh = await DuckDbWarehouse.open(join(dir, 'warehouse.duckdb'));
  await ensureAuditTables(wh);
  await wh.run('CREATE SCHEMA shadow_ds');
  await wh.run('CREATE SCHEMA raw');
  await wh.run(`CREATE TABLE shadow_ds.fct_orders AS SELECT * FROM (VALUES
      (1, 'SO-1', 10, 100.00::DECIMAL(14,2), 100.00::DECIMAL(14,2), 'paid', TIMESTAMPTZ '2026-11-20 09:00:00+00', md5('1')),
      (2, 'SO-2', 11, 50.00::DECIMAL(14,2), 50.00::DECIMAL(14,2), 'paid', TIMESTAMPTZ '2026-11-20 09:30:00+00', md5('2')),
      (3, 'SO-3', 12, 20.00::DECIMAL(14,2), 20.00::DECIMAL(14,2), 'shipped', TIMESTAMPTZ '2026-11-20 09:45:00+00', md5('3'))
    ) AS t (order_id, order_number, customer_id, order_total, amount_paid, status, ordered_at, _row_hash)`);
  await wh.run(`CREATE TABLE shadow_ds.dim_customer AS SELECT * FROM (VALUES
      (10, TIMESTAMPTZ '2026-01-01 00:00:00+00', NULL::TIMESTAMPTZ),
      (11, TIMESTAMPTZ '2026-01-01 00:00:00+00', NULL::TIMESTAMPTZ),
      (12, TIMESTAMPTZ '2026-01-01 00:00:00+00', NULL::TIMESTAMPTZ)
    ) AS t (customer_id, valid_from, valid_to)`);
  await wh.run(
    `CREATE TABLE shadow_ds.agg_daily AS SELECT DATE '2026-11-20' AS order_date, 170.00::DECIMAL(18,2) AS gmv`,
  );
  await wh.run(
    `CREATE TABLE raw.shop__orders AS SELECT order_id, ordered_at AS updated_at, $1 || '/orders' AS _load_id, 'f.parquet' AS _source_file
                  FROM shadow_ds.fct_orders`,
    [RUN],
  );
});
afterEach(async () => {
  await wh.close();
  rmSync(dir, { recursive: true, force: true });
});

function dataset(checks: unknown[]): DatasetConfig {
  return parseConfig({
    sources: { shop: { type: 'postgres', urlSecret: 'X' } },
    datasets: [
      {
        name: 'ds',
        cadence: '15m',
        freshnessSla: '20m',
        source: 'shop',
        publish: ['fct_orders'],
        tables: [{ name: 'orders', schema: 'shop', primaryKey: ['order_id'] }],
        checks,
      },
    ],
  }).datasets[0];
}

const counts: TableCounts[] = [{ table: 'orders', sourceRows: 3, stagedRows: 3, loadedRows: 3 }];
const NOW = new Date('2026-11-20T10:00:00Z');

async function check(
  config: Record<string, unknown>,
  opts: { counts?: TableCounts[]; now?: Date } = {},
): Promise<CheckResult> {
  const ds = dataset([{ name: 'c', severity: 'warn', ...config }]);
  const [r] = await runChecks(wh, {
    dataset: ds,
    runId: RUN,
    counts: opts.counts ?? counts,
    window: WINDOW,
    now: opts.now ?? NOW,
  });
  return r;
}

const cases: [string, Record<string, unknown>, () => Promise<unknown>, Partial<CheckResult>][] = [
  [
    'not_null',
    { type: 'not_null', model: 'fct_orders', columns: ['order_number'] },
    () => wh.run(`UPDATE shadow_ds.fct_orders SET order_number = NULL WHERE order_id = 2`),
    { failingRows: 1, sampleKeys: ['NULL'] },
  ],
  [
    'unique (composite key)',
    { type: 'unique', model: 'fct_orders', columns: ['customer_id', 'status'] },
    () => wh.run(`UPDATE shadow_ds.fct_orders SET customer_id = 10 WHERE order_id = 2`),
    { failingRows: 2, sampleKeys: ['10', '10'] },
  ],
  [
    'accepted_values',
    { type: 'accepted_values', model: 'fct_orders', column: 'status', values: ['paid', 'shipped'] },
    () => wh.run(`UPDATE shadow_ds.fct_orders SET status = 'lost' WHERE order_id = 3`),
    { failingRows: 1, sampleKeys: ['lost'] },
  ],
  [
    'range',
    { type: 'range', model: 'fct_orders', column: 'order_total', min: 0, max: 1000 },
    () => wh.run(`UPDATE shadow_ds.fct_orders SET order_total = -5 WHERE order_id = 1`),
    { failingRows: 1 },
  ],
  [
    'relationships as of the order time (SCD2)',
    {
      type: 'relationships',
      model: 'fct_orders',
      column: 'customer_id',
      to: { model: 'dim_customer', column: 'customer_id' },
      asOf: { at: 'ordered_at', validFrom: 'valid_from', validTo: 'valid_to' },
    },
    () =>
      wh.run(
        `UPDATE shadow_ds.dim_customer SET valid_from = TIMESTAMPTZ '2026-11-20 09:40:00+00' WHERE customer_id = 11`,
      ),
    { failingRows: 1, sampleKeys: ['11'] },
  ],
  [
    'null_rate',
    { type: 'null_rate', model: 'fct_orders', column: 'order_number', max: 0.4 },
    () => wh.run(`UPDATE shadow_ds.fct_orders SET order_number = NULL WHERE order_id IN (1, 2)`),
    { failingRows: 2 },
  ],
  [
    'schema_contract',
    { type: 'schema_contract', model: 'fct_orders', columns: { order_id: 'integer', order_total: 'decimal(14,2)' } },
    async () => {
      await wh.run(`ALTER TABLE shadow_ds.fct_orders ALTER COLUMN order_total SET DATA TYPE DOUBLE`);
      await wh.run(`ALTER TABLE shadow_ds.fct_orders DROP COLUMN order_id`);
    },
    { failingRows: 2, sampleKeys: ['order_id', 'order_total'] },
  ],
  ['freshness', { type: 'freshness' }, async () => undefined, {}],
  [
    'row_count_reconciliation (a row deleted from raw after the load)',
    { type: 'row_count_reconciliation' },
    () => wh.run(`DELETE FROM raw.shop__orders WHERE order_id = 3`),
    { failingRows: 1, sampleKeys: ['orders'] },
  ],
  [
    'totals_match',
    {
      type: 'totals_match',
      model: 'fct_orders',
      groupBy: ['status'],
      left: 'order_total',
      right: 'amount_paid',
      tolerance: 0.01,
    },
    () => wh.run(`UPDATE shadow_ds.fct_orders SET amount_paid = 0 WHERE order_id = 3`),
    { failingRows: 1, sampleKeys: ['shipped'] },
  ],
  [
    'metric_match',
    {
      type: 'metric_match',
      left: "select sum(gmv) from {{ ref('agg_daily') }}",
      right: "select sum(order_total) from {{ ref('fct_orders') }}",
    },
    () => wh.run(`UPDATE shadow_ds.agg_daily SET gmv = 171`),
    { failingRows: 1 },
  ],
  [
    'custom_sql',
    { type: 'custom_sql', sql: "select order_id from {{ ref('fct_orders') }} where amount_paid > order_total" },
    () => wh.run(`UPDATE shadow_ds.fct_orders SET amount_paid = 999 WHERE order_id = 2`),
    { failingRows: 1, sampleKeys: ['2'] },
  ],
];

test.each(cases)(
  '%s: passes on good data and fails, with the culprit named, on bad data',
  async (_name, config, breakIt, failure) => {
    const good = await check(config);
    expect(good).toMatchObject({ status: 'pass', failingRows: 0 });
    await breakIt();
    const bad = await check(config, config.type === 'freshness' ? { now: new Date('2026-11-20T11:00:00Z') } : {});
    expect(bad).toMatchObject({ status: 'fail', ...failure });
    expect(bad.detail.length).toBeGreaterThan(10);
  },
);

test('schema_contract names the broken columns', async () => {
  await wh.run(`ALTER TABLE shadow_ds.fct_orders DROP COLUMN order_total`);
  const r = await check({
    type: 'schema_contract',
    model: 'fct_orders',
    columns: { order_total: 'decimal(14,2)', status: 'integer', customer_id: 'integer', order_number: 'text' },
  });
  expect(r.detail).toBe(
    'fct_orders breaks its contract: missing column order_total (contract: decimal(14,2)); status is text (VARCHAR), contract says integer',
  );
});

test('freshness says how old the newest row is against the SLA', async () => {
  const r = await check({ type: 'freshness' }, { now: new Date('2026-11-20T11:00:00Z') });
  expect(r.detail).toBe('stale: orders: newest updated_at 75 min old (limit 20m SLA)');
});

test('volume_anomaly: not judged without history; a window far outside the same hour of the last 7 days fails', async () => {
  expect((await check({ type: 'volume_anomaly' })).detail).toMatch(
    /orders: 3 rows, 0 earlier windows at this hour \(need 3\): not judged/,
  );
  for (const [day, rows] of [
    [13, 100],
    [15, 120],
    [17, 90],
    [19, 110],
  ] as const) {
    const start = `2026-11-${day}T10:00:00.000Z`;
    await recordWindowCounts(wh, 'ds', { start, end: `2026-11-${day}T10:15:00.000Z` }, [
      { table: 'orders', sourceRows: rows, stagedRows: rows, loadedRows: rows },
    ]);
    await recordWindowCounts(wh, 'ds', { start: `2026-11-${day}T03:00:00.000Z`, end: `2026-11-${day}T03:15:00.000Z` }, [
      { table: 'orders', sourceRows: 3, stagedRows: 3, loadedRows: 3 },
    ]);
  }
  const normal = (n: number) => [{ table: 'orders', sourceRows: n, stagedRows: n, loadedRows: n }];
  expect(await check({ type: 'volume_anomaly' }, { counts: normal(95) })).toMatchObject({ status: 'pass' });
  const low = await check({ type: 'volume_anomaly' }, { counts: normal(3) });
  expect(low).toMatchObject({ status: 'fail', sampleKeys: ['orders'] });
  expect(low.detail).toContain('orders: 3 rows, band [45, 180] from 4 windows'); // the 03:00 windows are another hour
});

test('error quarantines failing rows with check, reason and run id; the good rows stay; a re-run quarantines nothing twice', async () => {
  await wh.run(`UPDATE shadow_ds.fct_orders SET order_total = -1 WHERE order_id = 2`);
  const config = { type: 'range', model: 'fct_orders', column: 'order_total', min: 0, severity: 'error' };
  const r = await check(config);
  expect(r).toMatchObject({ status: 'fail', failingRows: 1, quarantinedRows: 1, severity: 'error' });
  expect(await wh.query('SELECT order_id FROM shadow_ds.fct_orders ORDER BY 1')).toEqual([
    { order_id: 1 },
    { order_id: 3 },
  ]);
  const q = await wh.query('SELECT order_id, _dq_check, _dq_reason, _dq_run_id FROM quarantine.fct_orders');
  expect(q).toEqual([{ order_id: 2, _dq_check: 'c', _dq_reason: 'order_total outside [0, ∞]', _dq_run_id: RUN }]);
  // The same window's gate again (after a rebuild brought the row back): still one quarantined copy.
  await wh.run(
    `INSERT INTO shadow_ds.fct_orders SELECT * EXCLUDE (_dq_check, _dq_reason, _dq_run_id, _dq_quarantined_at, _dq_released_at, _dq_released_by, _dq_release_reason) FROM quarantine.fct_orders`,
  );
  await check(config);
  expect(await wh.query('SELECT count(*)::INTEGER AS n FROM quarantine.fct_orders')).toEqual([{ n: 1 }]);
});

test('quarantine names rows by the model key and content: a NULL-key row goes, the other version of a key stays', async () => {
  await wh.run(`INSERT INTO shadow_ds.fct_orders VALUES
      (NULL, 'SO-4', 13, 5.00, 5.00, 'lost', TIMESTAMPTZ '2026-11-20 09:50:00+00', md5('4')),
      (2, 'SO-2b', 11, 55.00, 55.00, 'lost', TIMESTAMPTZ '2026-11-20 09:55:00+00', md5('2b'))`);
  const r = await check({
    type: 'accepted_values',
    model: 'fct_orders',
    column: 'status',
    values: ['paid', 'shipped'],
    severity: 'error',
  });
  expect(r).toMatchObject({ status: 'fail', failingRows: 2, quarantinedRows: 2, sampleKeys: ['lost', 'lost'] });
  expect(await wh.query('SELECT order_id, order_number FROM shadow_ds.fct_orders ORDER BY 2')).toEqual([
    { order_id: 1, order_number: 'SO-1' },
    { order_id: 2, order_number: 'SO-2' },
    { order_id: 3, order_number: 'SO-3' },
  ]);
  expect(await wh.query('SELECT order_id, order_number FROM quarantine.fct_orders ORDER BY 2')).toEqual([
    { order_id: 2, order_number: 'SO-2b' },
    { order_id: null, order_number: 'SO-4' },
  ]);
});

test('error escalates to critical above its threshold and then quarantines nothing (publish is blocked instead)', async () => {
  await wh.run(`UPDATE shadow_ds.fct_orders SET order_total = -1 WHERE order_id IN (1, 2)`);
  const r = await check({
    type: 'range',
    model: 'fct_orders',
    column: 'order_total',
    min: 0,
    severity: 'error',
    escalateAbove: { fraction: 0.5 },
  });
  expect(r).toMatchObject({ status: 'fail', severity: 'critical', failingRows: 2, quarantinedRows: 0 });
  expect(r.detail).toMatch(/66\.67% of 3.*above the error threshold \(50% of rows\): escalated to critical/);
  const within = await check({
    type: 'range',
    model: 'fct_orders',
    column: 'order_total',
    min: 0,
    severity: 'error',
    escalateAbove: { rows: 2 },
  });
  expect(within).toMatchObject({ severity: 'error', quarantinedRows: 2 });
});

test('released rows pass that check from then on, until their content changes', async () => {
  await wh.run(`UPDATE shadow_ds.fct_orders SET order_total = 5000 WHERE order_id = 1`);
  const config = { type: 'range', model: 'fct_orders', column: 'order_total', max: 1000, severity: 'error' };
  expect(await check(config)).toMatchObject({ quarantinedRows: 1 });
  expect(
    await releaseQuarantine(wh, {
      model: 'fct_orders',
      check: 'c',
      by: 'ana@retail.example',
      reason: 'a real bulk order, confirmed with sales',
    }),
  ).toBe(1);
  expect(
    await releaseQuarantine(wh, { model: 'fct_orders', check: 'c', by: 'ana@retail.example', reason: 'again' }),
  ).toBe(0); // idempotent
  // Next run: the row is built again from staging; the check lets the released content through.
  await wh.run(
    `INSERT INTO shadow_ds.fct_orders SELECT * EXCLUDE (_dq_check, _dq_reason, _dq_run_id, _dq_quarantined_at, _dq_released_at, _dq_released_by, _dq_release_reason) FROM quarantine.fct_orders`,
  );
  expect(await check(config)).toMatchObject({ status: 'pass', quarantinedRows: 0 });
  expect(await wh.query('SELECT count(*)::INTEGER AS n FROM shadow_ds.fct_orders WHERE order_id = 1')).toEqual([
    { n: 1 },
  ]);
  expect(await wh.query('SELECT _dq_released_by AS by FROM quarantine.fct_orders')).toEqual([
    { by: 'ana@retail.example' },
  ]);
  // Changed content is checked again.
  await wh.run(`UPDATE shadow_ds.fct_orders SET order_total = 6000, _row_hash = md5('1b') WHERE order_id = 1`);
  expect(await check(config)).toMatchObject({ status: 'fail', quarantinedRows: 1 });
});

test('accepted values with quotes and backslashes are data (binds): they match themselves, quarantine and release work', async () => {
  const tricky = ["it\\'s", "a\\\\' OR 1=1 --"];
  await wh.run(`UPDATE shadow_ds.fct_orders SET status = $1 WHERE order_id = 1`, [tricky[0]]);
  await wh.run(`UPDATE shadow_ds.fct_orders SET status = $1 WHERE order_id = 2`, [tricky[1]]);
  // Order 3 keeps 'shipped', which is not accepted: exactly one failing row, not zero and not all.
  const config = { type: 'accepted_values', model: 'fct_orders', column: 'status', values: tricky, severity: 'error' };
  const r = await check(config);
  expect(r).toMatchObject({ status: 'fail', failingRows: 1, quarantinedRows: 1, sampleKeys: ['shipped'] });
  expect(await wh.query('SELECT order_id, status FROM shadow_ds.fct_orders ORDER BY 1')).toEqual([
    { order_id: 1, status: tricky[0] },
    { order_id: 2, status: tricky[1] },
  ]);
  expect(await wh.query('SELECT order_id, _dq_check, _dq_reason FROM quarantine.fct_orders')).toEqual([
    { order_id: 3, _dq_check: 'c', _dq_reason: `status not in (${tricky.join(', ')})` },
  ]);
  // Released, the row passes the next run (the release lookup binds the check name too).
  await releaseQuarantine(wh, { model: 'fct_orders', check: 'c', by: 'ops', reason: 'new status' });
  await wh.run(
    `INSERT INTO shadow_ds.fct_orders SELECT * EXCLUDE (_dq_check, _dq_reason, _dq_run_id, _dq_quarantined_at, _dq_released_at, _dq_released_by, _dq_release_reason) FROM quarantine.fct_orders`,
  );
  expect(await check(config)).toMatchObject({ status: 'pass', quarantinedRows: 0 });
});

test('a check that cannot run fails with the reason instead of crashing the gate', async () => {
  const r = await check({ type: 'not_null', model: 'no_such_model', columns: ['x'] });
  expect(r.status).toBe('fail');
  expect(r.detail).toMatch(/check could not run: .*no_such_model/);
});

test('audit rows and quarantined rows older than the retention are purged; newer ones stay', async () => {
  await wh.run(`UPDATE shadow_ds.fct_orders SET order_total = -1 WHERE order_id = 2`);
  await check({ type: 'range', model: 'fct_orders', column: 'order_total', min: 0, severity: 'error' });
  await wh.run(`INSERT INTO audit.dq_results VALUES ('w', 'r-old', 'ds', now(), now(), 1, 'c', 'range', 'fct_orders', 'warn', 'pass', 0, 0, '[]', '', now() - INTERVAL 100 DAY),
                                                  ('w', 'r-new', 'ds', now(), now(), 1, 'c', 'range', 'fct_orders', 'warn', 'pass', 0, 0, '[]', '', now() - INTERVAL 10 DAY)`);
  await wh.run(`UPDATE quarantine.fct_orders SET _dq_quarantined_at = now() - INTERVAL 100 DAY`);
  expect(await purgeAudit(wh, '90d')).toBe(2);
  expect(await wh.query(`SELECT run_id FROM audit.dq_results`)).toEqual([{ run_id: 'r-new' }]);
  expect(await wh.query(`SELECT count(*)::INTEGER AS n FROM quarantine.fct_orders`)).toEqual([{ n: 0 }]);
});

describe('SQL from config runs read-only without file access', () => {
  const SECRET = 'sk_live_do_not_leak_4242';
  const secretsFile = () => {
    const file = join(dir, 'secrets.env');
    writeFileSync(file, `SHOP_DB_URL=postgres://u:${SECRET}@db/shop\n`);
    return file;
  };

  test.each([
    [
      'read_text of the secrets file (custom_sql)',
      (f: string) => ({ type: 'custom_sql', sql: `select content from read_text('${f}')` }),
      /check could not run: .*file system operations are disabled/,
    ],
    [
      'read_text of the secrets file (row-level custom_sql)',
      (f: string) => ({
        type: 'custom_sql',
        model: 'fct_orders',
        key: 'order_id',
        severity: 'error',
        sql: `select 1 as order_id, content from read_text('${f}')`,
      }),
      /check could not run: .*file system operations are disabled/,
    ],
    [
      'read_text of the secrets file (metric_match)',
      (f: string) => ({
        type: 'metric_match',
        left: `select length(content) from read_text('${f}')`,
        right: `select content from read_text('${f}')`,
      }),
      /check could not run: .*file system operations are disabled/,
    ],
    // The check wraps its SQL in a subquery; closing it smuggles more statements into the same call.
    [
      'turning external access back on',
      () => ({
        type: 'custom_sql',
        sql: 'select 1 as x) ; SET enable_external_access = true; SELECT * FROM (select 1',
      }),
      /check could not run: .*configuration has been locked/,
    ],
    [
      'a write (DELETE)',
      () => ({
        type: 'custom_sql',
        sql: "select 1 as x) ; DELETE FROM {{ ref('fct_orders') }}; SELECT * FROM (select 1",
      }),
      /check could not run: .*read-only mode/,
    ],
    [
      'a write (CREATE TABLE)',
      () => ({
        type: 'custom_sql',
        sql: "select 1 as x) ; CREATE TABLE {{ ref('stolen') }} AS SELECT 1 AS x; SELECT * FROM (select 1",
      }),
      /check could not run: .*read-only mode/,
    ],
  ])(
    '%s fails the check, changes nothing, and the secret reaches neither the result nor dq_results',
    async (_n, make, error) => {
      const config = make(secretsFile());
      const ds = dataset([{ name: 'c', severity: 'warn', ...config }]);
      const results = await runChecks(wh, { dataset: ds, runId: RUN, counts, window: WINDOW, now: NOW });
      expect(results[0]).toMatchObject({ status: 'fail', quarantinedRows: 0 });
      expect(results[0].detail).toMatch(error);
      await recordCheckResults(wh, { workflowId: RUN, runId: 'r1', dataset: 'ds', window: WINDOW }, 1, results);
      const stored = await wh.query('SELECT * FROM audit.dq_results');
      expect(stored).toHaveLength(1);
      // The alert's 'Failing checks' text is built from these results' details.
      expect(JSON.stringify([results, stored])).not.toContain(SECRET);
      expect(await wh.query('SELECT count(*)::INTEGER AS n FROM shadow_ds.fct_orders')).toEqual([{ n: 3 }]);
      expect(await wh.tableExists('shadow_ds', 'stolen')).toBe(false);
    },
  );

  test('the sandbox still reads the shadow tables just written', async () => {
    await wh.run('UPDATE shadow_ds.fct_orders SET amount_paid = 999 WHERE order_id = 2');
    const r = await check({
      type: 'custom_sql',
      sql: "select order_id from {{ ref('fct_orders') }} where amount_paid > order_total",
    });
    expect(r).toMatchObject({ status: 'fail', failingRows: 1, sampleKeys: ['2'] });
  });
});
