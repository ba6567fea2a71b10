import { WorkflowFailedError } from '@temporalio/client';
import { createHarness, failureText, type Harness } from '../support/harness';
import { activityHistory } from '../support/history';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('input', { customers: 20, orders: 50 });
});
afterAll(() => h?.close());

test.each([
  [
    { window: { start: '2026-11-22T10:15:00Z', end: '2026-11-22T10:00:00Z' } },
    /window\.end: window\.end must be after window\.start/,
  ],
  [{ window: { start: 'yesterday', end: '2026-11-22T10:00:00Z' } }, /window\.start: must be an ISO-8601 timestamp/],
  [{ dataset: 'Sales Core' }, /dataset: must be a dataset name/],
  [{ gateTimeout: 'soon' }, /gateTimeout: must be a duration/],
])('invalid workflow input fails fast naming the field (%j)', async (input, message) => {
  const err = await h.run(input as never).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(failureText(err)).toMatch(message);
});

test('an unknown dataset fails at once, listing the defined ones, without retrying', async () => {
  const err = await h.run({ dataset: 'finanse' }).catch((e: unknown) => e);
  expect(failureText(err)).toMatch(/unknown dataset 'finanse' \(defined: sales_core, finance, operations\)/);
  const { attempts } = await activityHistory(h.client, `finanse/window/${h.window.start}`);
  expect(attempts.planRun).toEqual([1]); // non-retryable: no second attempt
  expect(attempts.extract).toBeUndefined();
  expect(attempts.audit).toEqual([1]); // the failed run is still audited
});

test('a window ending more than one cadence ahead is refused before anything is read; the watermark stays put', async () => {
  const start = new Date(Date.now() - 3_600_000).toISOString();
  const window = { start, end: new Date(Date.now() + 10 * 365 * 86_400_000).toISOString() };
  const err = await h.run({ window }).catch((e: unknown) => e);
  expect(failureText(err)).toMatch(/window\.end: .* is more than 15 minutes after now/);
  const { attempts } = await activityHistory(h.client, `sales_core/window/${start}`);
  expect(attempts.planRun).toEqual([1]);
  expect(attempts.extract).toBeUndefined();
  const published = await h.sql(
    `SELECT count(*)::INTEGER AS n FROM audit.pipeline_runs WHERE window_end > now() + INTERVAL 1 DAY AND status <> 'failed'`,
  );
  expect(published[0].n).toBe(0);
});
