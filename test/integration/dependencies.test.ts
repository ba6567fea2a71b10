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

// Windows that have ended: a published run certifies data only up to the moment it finished, so a window
// still ahead of now would never release finance. `past` ends a second after the seed (and this call).
const past = () => ({
  start: new Date(Date.parse(h.window.start) - 3_600_000).toISOString(),
  end: new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString(),
});

test('a finance run waits for sales_core to publish its window, then runs; operations runs on its own', async () => {
  const w = past();
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
  // Ends ahead of now (within one finance cadence, 4 h): no sales_core run can have certified through it.
  const window = { start: h.window.end, end: new Date(Date.parse(h.window.end) + 600_000).toISOString() };
  const failure = await h.run({ dataset: 'finance', window }).then(() => null, failureText);
  expect(failure).toMatch(/upstream dataset sales_core has not published through .* \(last: .*\) within 20s/);
});
