import { releaseQuarantine, dqReport } from '../../workflows/data-quality';
import { windowWorkflowId } from '../../workflows/ids';
import { retryGateSignal, statusQuery } from '../../workflows/messages';
import { startWebhookStandIn, type WebhookStandIn } from '../stand-ins/webhook';
import { dqReportCommand } from '../../cli/dq';
import { testEnv } from '../support/env';
import { createHarness, failureText, snapshot, waitForBlocked, type Harness } from '../support/harness';

// The gate inside pipelineRun: quarantine keeps good rows flowing and loses none, escalation blocks
// and alerts, a reconciliation mismatch is caught, released rows come back, the operator's report.

let h: Harness;
let hook: WebhookStandIn;
let shift = 0;
beforeAll(async () => {
  hook = await startWebhookStandIn();
  h = await createHarness(
    'dqgate',
    { customers: 100, orders: 500 },
    (config) => {
      config.datasets[0].alerts = { webhookSecret: 'FRESHLINE_ALERT_WEBHOOK' };
    },
    { FRESHLINE_ALERT_WEBHOOK: hook.url },
  );
  expect((await h.run()).status).toBe('succeeded');
});
afterAll(async () => {
  await h?.close();
  await hook?.close();
});

/** A fresh window each time (one minute earlier, still covering every change), so each is its own run. */
function nextWindow() {
  shift += 1;
  return {
    start: new Date(Date.parse(h.window.start) - shift * 60_000).toISOString(),
    end: new Date(Date.parse(h.window.end) - shift * 60_000).toISOString(),
  };
}

const pgOrders = async () => Number((await h.pool.query('SELECT count(*)::int AS n FROM shop.orders')).rows[0].n);

test('error rows are quarantined, the rest publish, aggregates never count them: quarantined + published = extracted', async () => {
  const { rows: bad } = await h.pool.query(
    `UPDATE shop.orders SET total = 250000, subtotal = 250000 WHERE order_id IN (SELECT order_id FROM shop.orders ORDER BY order_id LIMIT 2) RETURNING order_id::int AS id`,
  );
  const window = nextWindow();
  const result = await h.run({ window });
  expect(result.status).toBe('published_with_errors');
  expect(result.gate?.errors).toContain('order_total_in_range');
  const runId = result.workflowId;
  const [{ n: published }] = await h.sql('SELECT count(*)::INTEGER AS n FROM certified.fct_orders');
  const quarantined = await h.sql(
    'SELECT order_id::INTEGER AS id, _dq_reason AS reason FROM quarantine.fct_orders WHERE _dq_run_id = $1 ORDER BY 1',
    [runId],
  );
  expect(quarantined).toEqual(bad.map((b) => ({ id: b.id, reason: 'order_total outside [0, 100000]' })));
  expect(Number(published) + quarantined.length).toBe(await pgOrders());
  // The aggregates were rebuilt without the quarantined orders: certified GMV = the published facts.
  const [agg] = await h.sql(
    `SELECT (SELECT sum(gmv) FROM certified.agg_sales_daily)::VARCHAR AS gmv, (SELECT sum(billable_total) FROM certified.fct_orders)::VARCHAR AS facts`,
  );
  expect(agg.gmv).toBe(agg.facts);
  const [dq] = await h.sql(
    `SELECT status, severity, failing_rows::INTEGER AS n, quarantined_rows::INTEGER AS q FROM audit.dq_results
                             WHERE workflow_id = $1 AND check_name = 'order_total_in_range'`,
    [runId],
  );
  expect(dq).toEqual({ status: 'fail', severity: 'error', n: 2, q: 2 });

  // After review the operator releases them (a real bulk order): the next run publishes them, once.
  const released = await h.client.workflow.execute(releaseQuarantine, {
    taskQueue: h.taskQueue,
    workflowId: `dq-release-${runId}`,
    args: [
      {
        dataset: 'sales_core',
        model: 'fct_orders',
        check: 'order_total_in_range',
        runId,
        by: 'ana@retail.example',
        reason: 'confirmed B2B bulk orders',
      },
    ],
  });
  expect(released).toEqual({ released: 2 });
  const next = await h.run({ window: nextWindow() });
  expect(next.gate?.errors ?? []).not.toContain('order_total_in_range');
  const back = await h.sql(
    `SELECT order_id::INTEGER AS id FROM certified.fct_orders WHERE order_id IN (${bad.map((b) => b.id).join(', ')}) ORDER BY 1`,
  );
  expect(back).toEqual(bad.map((b) => ({ id: b.id })));
  expect((await h.sql('SELECT count(*)::INTEGER AS n FROM certified.fct_orders'))[0].n).toBe(await pgOrders());
});

test('too many bad rows escalate error to critical: the run blocks, alerts, and a retry after the fix publishes', async () => {
  const before = await snapshot(h, 'fct_orders');
  const { rows: bad } = await h.pool.query(
    `UPDATE shop.orders SET total = -10 WHERE order_id IN (SELECT order_id FROM shop.orders ORDER BY order_id DESC LIMIT 5) RETURNING order_id::int AS id, total::text AS was`,
  );
  const alertsBefore = hook.received.length;
  const handle = await h.start({ window: nextWindow() });
  const blocked = await waitForBlocked(handle);
  expect(blocked.gate?.critical).toEqual(['order_total_in_range']);
  expect(await snapshot(h, 'fct_orders')).toEqual(before); // nothing published while blocked
  const alert = hook.received[alertsBefore];
  expect(alert.text).toMatch(/sales_core: quality gate blocked publish \(order_total_in_range\)/);
  expect(JSON.stringify(alert.blocks)).toContain('escalated to critical');
  expect(JSON.stringify(alert.blocks)).toContain('retryGate');
  expect(blocked.alerts).toEqual([
    { kind: 'gate_blocked', sent: true, note: 'sent to the webhook in FRESHLINE_ALERT_WEBHOOK' },
  ]);
  const [health] = await h.sql(
    `SELECT open_critical_failures::INTEGER AS n, failing_checks FROM audit.dataset_health WHERE dataset = 'sales_core'`,
  );
  expect(health).toEqual({ n: 1, failing_checks: 'order_total_in_range' });

  await h.pool.query(`UPDATE shop.orders SET total = subtotal - discount + tax + shipping WHERE order_id = ANY($1)`, [
    bad.map((b) => b.id),
  ]);
  await handle.signal(retryGateSignal, {
    by: 'ops@retail.example',
    reason: 'bad totals recomputed at the source',
    from: 'extract',
  });
  const result = await handle.result();
  expect(['succeeded', 'published_with_errors']).toContain(result.status);
  expect(result.gate?.critical).toEqual([]);
  const [after] = await h.sql(
    `SELECT open_critical_failures::INTEGER AS n FROM audit.dataset_health WHERE dataset = 'sales_core'`,
  );
  expect(after.n).toBe(0);
});

test('a row deleted from raw between load and gate breaks the reconciliation; the timeout fails the run and alerts', async () => {
  const before = await snapshot(h, 'fct_orders');
  await h.pool.query(
    `UPDATE shop.orders SET status = 'shipped' WHERE order_id = (SELECT min(order_id) FROM shop.orders WHERE status = 'paid')`,
  );
  const window = nextWindow();
  const loadId = `${windowWorkflowId('sales_core', window.start)}/orders`;
  await h.stopWorker();
  await h.startWorker(async (step) => {
    // Something outside Freshline deletes one of the rows this run just loaded.
    if (step === 'gate')
      await h.deps.warehouse.run(
        'DELETE FROM raw.shop__orders WHERE rowid = (SELECT min(rowid) FROM raw.shop__orders WHERE _load_id = $1)',
        [loadId],
      );
  });
  const alertsBefore = hook.received.length;
  const handle = await h.start({ window, gateTimeout: '2s' });
  const failure = await handle.result().then(
    () => null,
    (err: unknown) => failureText(err),
  );
  expect(failure).toMatch(/quality gate blocked by source_rows_reach_raw/);
  const [dq] = await h.sql(
    `SELECT detail FROM audit.dq_results WHERE workflow_id = $1 AND check_name = 'source_rows_reach_raw' ORDER BY checked_at DESC LIMIT 1`,
    [handle.workflowId],
  );
  expect(String(dq.detail)).toMatch(/orders: source (\d+), staged \1, loaded \1, in raw now \d+/);
  expect(await snapshot(h, 'fct_orders')).toEqual(before);
  expect(hook.received.slice(alertsBefore).map((a) => a.text)).toEqual([
    expect.stringContaining('quality gate blocked publish (source_rows_reach_raw)'),
    expect.stringContaining('blocked run timed out, certified tables left unchanged'),
  ]);
  await h.stopWorker();
  await h.startWorker();
});

test('an alert the webhook refuses is retried, then reported in the status without its URL; the gate still decides the run', async () => {
  await h.pool.query(
    `UPDATE shop.orders SET total = -1 WHERE order_id IN (SELECT order_id FROM shop.orders ORDER BY order_id DESC LIMIT 5)`,
  );
  hook.failNext(10, 500);
  const handle = await h.start({ window: nextWindow(), gateTimeout: '1s' });
  await handle.result().catch(() => undefined);
  const status = await handle.query(statusQuery);
  expect(status.alerts[0]).toMatchObject({ kind: 'gate_blocked', sent: false });
  expect(status.alerts[0].note).toMatch(/alert webhook \(FRESHLINE_ALERT_WEBHOOK\) answered HTTP 500/);
  expect(status.alerts[0].note).not.toContain(hook.url);
  hook.failNext(0);
  await h.pool.query(`UPDATE shop.orders SET total = subtotal - discount + tax + shipping WHERE total = -1`);
});

test('the dq report lists recent results, health and quarantine for operators', async () => {
  const report = await h.client.workflow.execute(dqReport, {
    taskQueue: h.taskQueue,
    workflowId: `dq-report-${Date.now()}`,
    args: [{ dataset: 'sales_core', since: '2000-01-01T00:00:00Z' }],
  });
  expect(report.health).toEqual([expect.objectContaining({ dataset: 'sales_core', sla_minutes: 20 })]);
  expect(report.results.some((r) => r.check_name === 'order_total_in_range' && r.status === 'fail')).toBe(true);
  expect(report.quarantine).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'fct_orders' })]));
  // The command an operator (or cron) runs: exit code 2 while a critical failure is open (the last run timed out blocked).
  const lines: string[] = [];
  const code = await dqReportCommand(
    {
      address: testEnv('temporalAddress'),
      taskQueue: h.taskQueue,
      secrets: h.deps.secrets,
      dataset: 'sales_core',
      since: '1h',
    },
    (l) => lines.push(l),
  );
  expect(code).toBe(2);
  expect(lines.join('\n')).toMatch(/CRITICAL: sales_core \(order_total_in_range\)/);
  expect(lines.join('\n')).toMatch(/Quarantine \(rows not released\)/);
  await expect(
    h.client.workflow.execute(dqReport, {
      taskQueue: h.taskQueue,
      workflowId: `dq-report-bad-${Date.now()}`,
      args: [{ since: 'yesterday' }],
    }),
  ).rejects.toThrow();
});
