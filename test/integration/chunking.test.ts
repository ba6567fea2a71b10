import { createHarness, type Harness } from '../support/harness';
import { activityHistory } from '../support/history';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('chunks', { customers: 100, orders: 1200 }, (config) => {
    config.datasets[0].tables.find((t) => t.name === 'orders')!.chunkRows = 250;
  });
});
afterAll(() => h?.close());

test('a large window is read in key-range chunks; a failed attempt resumes after the last staged chunk', async () => {
  await h.stopWorker();
  const reads: string[] = [];
  await h.startWorker((step, attempt) => {
    const chunk = /^extract:orders:chunk:(\d+)$/.exec(step);
    if (!chunk) return;
    reads.push(`${chunk[1]}@${attempt}`);
    if (chunk[1] === '2' && attempt === 1) throw new Error('injected: source connection reset during chunk 2');
  });
  const result = await h.run();
  expect(result.status).toBe('succeeded');
  // Attempt 1 staged chunks 0 and 1, then failed; attempt 2 started at chunk 2.
  expect(reads).toEqual(['0@1', '1@1', '2@1', '2@2', '3@2', '4@2']);

  const { attempts } = await activityHistory(h.client, result.workflowId);
  expect(attempts.extract.filter((a) => a === 2)).toHaveLength(1);
  const [{ n: raw }] = await h.sql('SELECT count(*)::INTEGER AS n FROM raw.shop__orders');
  const {
    rows: [{ n: source }],
  } = await h.pool.query('SELECT count(*)::int AS n FROM shop.orders');
  expect(raw).toBe(source);
  const [{ n: files }] = await h.sql(`SELECT count(DISTINCT _source_file)::INTEGER AS n FROM raw.shop__orders`);
  expect(files).toBe(5);
  const [{ n: dupes }] = await h.sql(
    'SELECT count(*)::INTEGER AS n FROM (SELECT order_id FROM raw.shop__orders GROUP BY 1 HAVING count(*) > 1)',
  );
  expect(dupes).toBe(0);
});

test('extracts run on the source task queue and never hold more source connections than the source allows', async () => {
  await h.stopWorker();
  await h.startWorker();
  // What the OLTP database sees: Freshline's sessions, sampled every few milliseconds during the run.
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await h.pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'freshline'",
      );
      peak = Math.max(peak, rows[0].n);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const result = await h.run();
  sampling = false;
  await sampler;
  expect(result.status).toBe('succeeded');
  expect(peak).toBeGreaterThanOrEqual(1);
  expect(peak).toBeLessThanOrEqual(2); // sources.shop.maxConcurrentExtracts

  const { events } = await h.client.workflow.getHandle(result.workflowId).fetchHistory();
  const queues = (events ?? []).flatMap((e) => {
    const s = e.activityTaskScheduledEventAttributes;
    return s?.activityType?.name === 'extract' ? [s.taskQueue?.name] : [];
  });
  expect(queues).toEqual(Array(8).fill(`${h.taskQueue}.extract.shop`));
});
