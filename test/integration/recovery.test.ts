import { createHarness, type Harness } from '../support/harness';
import { activityHistory } from '../support/history';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('recovery', { customers: 100, orders: 300 });
});
afterAll(() => h?.close());

test('a step failing after load is retried there; extract and load ran exactly once', async () => {
  await h.stopWorker();
  const failures: number[] = [];
  await h.startWorker((step, attempt) => {
    if (step === 'transform' && attempt <= 2) {
      failures.push(attempt);
      throw new Error(`injected: warehouse unavailable (attempt ${attempt})`);
    }
  });
  const result = await h.run();
  expect(result.status).toBe('succeeded');
  expect(failures).toEqual([1, 2]);

  const { scheduled, attempts } = await activityHistory(h.client, result.workflowId);
  expect(scheduled.extract).toBe(8); // one per source table, never repeated
  expect(scheduled.load).toBe(8);
  expect(scheduled.transform).toBe(1);
  expect(attempts.transform).toEqual([3]); // history records the attempt that completed
  expect(attempts.extract.every((a) => a === 1)).toBe(true);
  expect(attempts.load.every((a) => a === 1)).toBe(true);

  const [audit] = await h.sql('SELECT steps::VARCHAR AS steps FROM audit.pipeline_runs WHERE workflow_id = $1', [
    result.workflowId,
  ]);
  const steps = JSON.parse(String(audit.steps));
  expect(steps.load.counts.rowsLoaded).toBeGreaterThan(0);
  expect(steps.publish.status).toBe('completed');
});

test('the worker stopped mid-run and a new one started: the run resumes at the interrupted step', async () => {
  await h.stopWorker();
  let killed = false;
  const workers = await h.startWorker((step) => {
    if (step === 'gate' && !killed) {
      killed = true;
      workers.shutdown(); // the worker process goes away while this activity is in flight
      throw new Error('injected: worker process lost during gate');
    }
  });
  const handle = await h.start();
  // Wait for the first worker to die, then bring up a fresh one (a restarted deployment).
  while (!killed || workers.main.getState() !== 'STOPPED') await new Promise((r) => setTimeout(r, 100));
  await h.stopWorker();
  await h.startWorker();
  const result = await handle.result();
  expect(result.status).toBe('succeeded');

  const { scheduled, attempts } = await activityHistory(h.client, result.workflowId);
  expect(scheduled).toMatchObject({ extract: 8, load: 8, transform: 1, gate: 1, publish: 1 });
  expect(attempts.gate).toEqual([2]);
  expect(attempts.transform).toEqual([1]);
});
