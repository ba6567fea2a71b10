import { statusQuery, retryGateSignal, skipGateSignal } from '../../workflows/messages';
import { createHarness, failureText, snapshot, waitForBlocked, type Harness } from '../support/harness';

let h: Harness;
let duplicateOrderId: number;
let duplicatedNumber: string;
beforeAll(async () => {
  h = await createHarness('gate', { customers: 100, orders: 400 });
  expect((await h.run()).status).toBe('succeeded'); // yesterday's good numbers
  // A legacy system writes a second order with an existing order number (with its payment, so only uniqueness fails).
  const { rows } = await h.pool.query(`
    WITH src AS (SELECT * FROM shop.orders WHERE status = 'delivered' ORDER BY order_id LIMIT 1),
    ins AS (INSERT INTO shop.orders (order_number, customer_id, store_id, channel, status, ordered_at, order_date, subtotal, discount, tax, shipping, total)
            SELECT order_number, customer_id, store_id, channel, 'paid', ordered_at, order_date, subtotal, discount, tax, shipping, total FROM src
            RETURNING order_id, order_number, total, ordered_at)
    INSERT INTO shop.payments (order_id, method, amount, status, paid_at)
    SELECT order_id, 'paypal', total, 'captured', ordered_at FROM ins RETURNING order_id, (SELECT order_number FROM ins) AS order_number`);
  duplicateOrderId = Number(rows[0].order_id);
  duplicatedNumber = rows[0].order_number;
});
afterAll(() => h?.close());

test('a duplicate order id blocks the run; the timeout fails it and leaves certified tables untouched', async () => {
  const before = await snapshot(h, 'fct_orders');
  const handle = await h.start({ gateTimeout: '3s' });
  const status = await waitForBlocked(handle);
  expect(status.gate?.critical).toEqual(['orders_order_number_unique']);
  expect(status.currentStep).toBe('gate');
  await expect(handle.result()).rejects.toThrow();
  const err = await handle.result().catch((e: unknown) => e);
  expect(failureText(err)).toMatch(
    /quality gate blocked by orders_order_number_unique.*certified tables left unchanged/,
  );
  expect(await snapshot(h, 'fct_orders')).toEqual(before);

  const [audit] = await h.sql(`SELECT status, error FROM audit.pipeline_runs WHERE run_id = $1`, [
    handle.firstExecutionRunId,
  ]);
  expect(audit.status).toBe('failed');
  const [dq] = await h.sql(
    `SELECT status, failing_rows::INTEGER AS n, sample_keys::VARCHAR AS keys FROM audit.dq_results WHERE run_id = $1 AND check_name = 'orders_order_number_unique'`,
    [handle.firstExecutionRunId],
  );
  expect(dq).toMatchObject({ status: 'fail', n: 2 });
  expect(JSON.parse(String(dq.keys))).toEqual([duplicatedNumber, duplicatedNumber]);
});

test('skipGate publishes anyway and audits who and why', async () => {
  const handle = await h.start();
  await waitForBlocked(handle);
  await handle.signal(skipGateSignal, {
    by: 'alice@insightmart',
    reason: 'duplicate is a known POS replay, finance signed off',
  });
  const result = await handle.result();
  expect(result.status).toBe('published_skipped_gate');
  const [{ n }] = await h.sql('SELECT count(*)::INTEGER AS n FROM certified.fct_orders WHERE order_number = $1', [
    duplicatedNumber,
  ]);
  expect(n).toBe(2);
  const [audit] = await h.sql(`SELECT status, gate_decision::VARCHAR AS d FROM audit.pipeline_runs WHERE run_id = $1`, [
    handle.firstExecutionRunId,
  ]);
  expect(audit.status).toBe('published_skipped_gate');
  expect(JSON.parse(String(audit.d))).toEqual([
    expect.objectContaining({
      kind: 'skip',
      by: 'alice@insightmart',
      reason: 'duplicate is a known POS replay, finance signed off',
    }),
  ]);
});

test('retryGate after the bad row is fixed passes', async () => {
  const handle = await h.start();
  await waitForBlocked(handle);
  // An invalid decision is ignored and said so in the status, not acted on.
  await handle.signal(retryGateSignal, { by: '', reason: 'x' });
  await h.pool.query(`UPDATE shop.orders SET order_number = order_number || '-R' WHERE order_id = $1`, [
    duplicateOrderId,
  ]);
  await handle.signal(retryGateSignal, { by: 'bob', reason: 'renumbered the replayed order', from: 'extract' });
  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  const status = await handle.query(statusQuery);
  expect(status.ignoredSignals).toEqual([expect.stringContaining('by: must name who decided')]);
  expect(status.decisions).toEqual([expect.objectContaining({ kind: 'retry', by: 'bob', from: 'extract' })]);
  expect(status.gate?.attempt).toBe(2);
  const [{ n }] = await h.sql('SELECT count(*)::INTEGER AS n FROM certified.fct_orders WHERE order_number = $1', [
    duplicatedNumber,
  ]);
  expect(n).toBe(1);
});
