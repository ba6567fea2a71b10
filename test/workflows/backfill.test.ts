// backfill with stub activities: one child pipelineRun per partition, completed ones skipped, running ones joined,
// one publish at the end — and none when cancelled.
import type { backfill, BackfillInput } from '../../workflows/backfill';
import { partitionWorkflowId } from '../../workflows/ids';
import { statusQuery } from '../../workflows/messages';
import { pipelineRun } from '../../workflows/pipeline-run';
import { progressQuery } from '../../workflows/backfill-messages';
import {
  activityError,
  failureOf,
  hold,
  startStubWorld,
  waitFor,
  waitForProgress,
  type StubWorld,
} from '../support/stub-activities';

jest.setTimeout(20_000);

let world: StubWorld;
beforeAll(async () => {
  world = await startStubWorld('backfill');
});
afterAll(() => world?.close());

const D1 = '2026-08-01T00:00:00.000Z';
const D2 = '2026-08-02T00:00:00.000Z';
const D3 = '2026-08-03T00:00:00.000Z';

function startBackfill(input: BackfillInput) {
  return world.client.workflow.start<typeof backfill>('backfill', {
    taskQueue: world.taskQueue,
    workflowId: `${input.dataset}/backfill/${input.from}--${input.to}`,
    args: [input],
  });
}

/** A partition run as an earlier backfill would have started it (same id, same input shape). */
function startPartition(dataset: string, start: string, end: string) {
  return world.client.workflow.start(pipelineRun, {
    taskQueue: world.taskQueue,
    workflowId: partitionWorkflowId(dataset, start),
    args: [{ dataset, window: { start, end }, mode: 'reload', through: 'load' }],
  });
}

/** Window starts of the extract calls, per call (two tables: two calls per partition run). */
const extractStarts = (calls: { of(n: 'extract'): Record<string, unknown>[] }) =>
  calls
    .of('extract')
    .map((i) => (i.window as { start: string }).start)
    .sort();

test('a partition completed before is skipped; the others load, then one publish over the whole range', async () => {
  const { dataset, calls } = world.scenario('bf_skip');
  expect(await (await startPartition(dataset, D1, D2)).result()).toMatchObject({ status: 'loaded' });
  expect(calls.count('extract')).toBe(2);

  const progress = await (await startBackfill({ dataset, from: D1, to: D3, maxConcurrent: 2 })).result();
  expect(progress).toMatchObject({ total: 2, skipped: 1, done: 1, failed: 0, joined: 0, publish: 'succeeded' });
  // D1 was extracted once (by the earlier run), D2 once by the backfill.
  expect(extractStarts(calls)).toEqual([D1, D1, D2, D2]);
  expect(calls.of('extract').every((i) => i.reload === true)).toBe(true);
  // The publish run transforms, gates and publishes everything once, over [D1, D3), without extracting.
  expect(calls.count('transform')).toBe(1);
  expect(calls.of('publish')).toEqual([expect.objectContaining({ window: { start: D1, end: D3 } })]);
});

test('a partition already running is joined (awaited through notifyOnFinish/partitionDone), never started twice', async () => {
  const extracting = hold();
  const { dataset, calls } = world.scenario('bf_join', {
    before: (call) =>
      call.name === 'extract' && (call.input.window as { start: string }).start === D1 ? extracting.wait() : undefined,
  });
  const partition = await startPartition(dataset, D1, D2);
  try {
    await waitFor(
      () => partition.query(statusQuery),
      (s) => s.currentStep === 'extract',
      'the D1 partition extracting',
    );
    const handle = await startBackfill({ dataset, from: D1, to: D3, maxConcurrent: 2 });
    const joined = await waitForProgress(handle, (p) => p.joined === 1, 'the running D1 partition to be joined');
    expect(joined.publish).toBe('pending');
    expect(calls.count('publish')).toBe(0);
    extracting.release();

    const progress = await handle.result();
    expect(progress).toMatchObject({ total: 2, joined: 1, done: 2, skipped: 0, failed: 0, publish: 'succeeded' });
    expect((await partition.result()).status).toBe('loaded');
    // D1's tables were extracted once each (by the joined run), D2's by the backfill's own child.
    expect(extractStarts(calls)).toEqual([D1, D1, D2, D2]);
    expect(calls.count('publish')).toBe(1);
  } finally {
    extracting.release();
  }
});

test('cancelling a backfill cancels its running partition and publishes nothing', async () => {
  const never = hold();
  const { dataset, calls } = world.scenario('bf_cancel', {
    // D1 loads; D2's extract never finishes.
    before: (call) =>
      call.name === 'extract' && (call.input.window as { start: string }).start === D2 ? never.wait() : undefined,
  });
  try {
    const handle = await startBackfill({ dataset, from: D1, to: D3, maxConcurrent: 2 });
    await waitForProgress(handle, (p) => p.done === 1 && p.running === 1, 'D1 loaded, D2 running');
    await waitFor(
      async () => extractStarts(calls).filter((s) => s === D2).length,
      (n) => n === 2,
      'D2 extracting',
    );
    await handle.cancel();
    const outcome = await handle.result().then(
      () => 'completed',
      (e: Error) => e.name,
    );
    expect(outcome).toBe('WorkflowFailedError');
    const childStatus = async (start: string) =>
      (await world.client.workflow.getHandle(partitionWorkflowId(dataset, start)).describe()).status.name;
    expect(await childStatus(D1)).toBe('COMPLETED');
    expect(await childStatus(D2)).toBe('CANCELLED');
    // Cancelled, not failed: a cancelled partition is no failure to "re-run the same backfill" for.
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(calls.count('transform')).toBe(0);
    expect(calls.count('publish')).toBe(0);
  } finally {
    never.release();
  }
});

test('failures are counted in full but only the most recent 100 are kept, through continue-as-new', async () => {
  const { dataset } = world.scenario('bf_failcap', {
    tables: ['orders'],
    before: (call) => {
      if (call.name === 'extract') throw activityError('source unreachable');
    },
  });
  const from = '2026-08-01T00:00:00.000Z';
  const to = '2026-08-05T07:00:00.000Z'; // 103 hourly partitions
  const handle = await startBackfill({ dataset, from, to, partition: 'hour', maxConcurrent: 16, historyLimit: 300 });
  const failure = await failureOf(handle.result());
  expect(failure.message).toMatch(/103 of 103 partitions failed/);
  const progress = await handle.query(progressQuery);
  expect(progress.continuedAsNew).toBeGreaterThan(0);
  expect(progress.failed).toBe(103);
  expect(progress.failures).toHaveLength(100);
  // Kept in the order they failed (concurrent partitions finish in any order): 100 distinct ones of the range.
  const kept = new Set(progress.failures.map((f) => f.partition));
  expect(kept.size).toBe(100);
  expect([...kept].every((id) => id.startsWith(`${dataset}/partition/2026-08-0`))).toBe(true);
  expect(progress.failures.every((f) => f.error.length <= 500)).toBe(true);
  // 100+ partition workflows and several continue-as-new runs: on a busy box this outgrows the file's 20 s bound.
}, 120_000);

test('a backfill whose to is in the future is rejected naming to, before any partition runs', async () => {
  const { dataset, calls } = world.scenario('bf_future');
  const handle = await startBackfill({ dataset, from: D1, to: '2036-08-01T00:00:00.000Z' });
  const failure = await failureOf(handle.result());
  expect(failure).toMatchObject({ type: 'InvalidInput' });
  expect(failure.message).toMatch(/to: 2036-08-01T00:00:00.000Z is more than one partition \(day\) in the future/);
  expect(calls.all).toHaveLength(0);
});
