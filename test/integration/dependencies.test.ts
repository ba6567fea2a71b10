import { statusQuery } from '../../workflows/messages';
import { createHarness, failureText, type Harness } from '../support/harness';

// finance depends on sales_core (config/pipeline.yaml): its run waits, durably, for sales_core to have
// published its window; operations runs on its own schedule with its own marts.

let h: Harness;
beforeAll(async () => {
  h = await createHarness('deps', { customers: 60, orders: 200 }, (config) => {
    config.datasets.find((d) => d.name === 'finance')!.dependsOn = [{ dataset: 'sales_core', timeout: '20s' }];
  });
});
afterAll(() => h?.close());

const later = (minutes: number) => ({
  start: new Date(Date.parse(h.window.start) + minutes * 60_000).toISOString(),
  end: new Date(Date.parse(h.window.end) + minutes * 60_000).toISOString(),
});

test('a finance run waits for sales_core to publish its window, then runs; operations runs on its own', async () => {
  const w = later(0);
  const finance = await h.start({ dataset: 'finance', window: w });
  let waited = false;
  for (let i = 0; i < 50 && !waited; i++) {
    waited = (await finance.query(statusQuery)).state === 'waiting_upstream';
    if (!waited) await new Promise((r) => setTimeout(r, 100));
  }
  expect(waited).toBe(true);
  expect((await h.run({ dataset: 'sales_core', window: w })).status).toBe('succeeded');
  const result = await finance.result();
  expect(result.status).toBe('succeeded');
  const [{ paid }] = await h.sql(`SELECT sum(captured_amount)::VARCHAR AS paid FROM certified.agg_payments_daily`);
  const {
    rows: [pg],
  } = await h.pool.query(
    `SELECT sum(amount) FILTER (WHERE status = 'captured')::text AS paid FROM shop.payments WHERE paid_at IS NOT NULL`,
  );
  expect(Number(paid)).toBe(Number(pg.paid));
  expect((await h.run({ dataset: 'operations', window: w })).status).toBe('succeeded');
  const [{ n }] = await h.sql(`SELECT sum(shipments)::INTEGER AS n FROM certified.agg_shipments_daily`);
  const {
    rows: [ps],
  } = await h.pool.query(`SELECT count(*)::int AS n FROM shop.shipments WHERE shipped_at IS NOT NULL`);
  expect(n).toBe(ps.n);
});

test('if sales_core never publishes the window, the finance run fails after its timeout, naming the upstream', async () => {
  const failure = await h.run({ dataset: 'finance', window: later(60) }).then(() => null, failureText);
  expect(failure).toMatch(/upstream dataset sales_core has not published through .* \(last: .*\) within 20s/);
});
