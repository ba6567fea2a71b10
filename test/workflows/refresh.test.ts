// pipelineRun's BI refresh step with stub activities: a failed refresh waits in refresh_failed for retryRefresh.
import type { RefreshResult } from '../../activities/refresh';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { retryRefreshSignal, retryRefreshUpdate, skipGateUpdate, statusQuery } from '../../workflows/messages';
import {
  activityError,
  failureOf,
  startStubWorld,
  waitFor,
  waitForState,
  type StubWorld,
} from '../support/stub-activities';

jest.setTimeout(20_000);

let world: StubWorld;
beforeAll(async () => {
  world = await startStubWorld('refresh');
});
afterAll(() => world?.close());

const NOT_FOUND = "Tableau datasource 'Sales (certified)' not found on site acme";
const refreshed: RefreshResult = { status: 'refreshed', reason: '1 datasource refreshed', items: [] };

test('refresh fails → refresh_failed → retryRefresh → succeeded; steps before refresh ran once', async () => {
  const { dataset, calls } = world.scenario('refresh_retry', {
    refresh: (n) => {
      if (n === 1) throw activityError(NOT_FOUND, 'TableauNotFound');
      return refreshed;
    },
  });
  const handle = await world.start({ dataset, failedRefreshTimeout: '1m' });
  const failed = await waitForState(handle, 'refresh_failed');
  expect(failed.refresh?.attempts).toEqual([expect.objectContaining({ outcome: 'failed', detail: NOT_FOUND })]);
  expect(calls.count('publish')).toBe(1); // certified tables are already published
  expect(calls.count('audit')).toBe(0);

  // An invalid retryRefresh (no reason) is ignored; the run keeps waiting.
  await handle.signal(retryRefreshSignal, { by: 'ops' } as never);
  const ignored = await waitFor(
    () => handle.query(statusQuery),
    (s) => s.ignoredSignals.length === 1,
    'the invalid retryRefresh to be ignored',
  );
  expect(ignored.ignoredSignals[0]).toMatch(/^retryRefresh: invalid payload \(reason: /);
  expect(ignored.state).toBe('refresh_failed');
  expect(calls.count('refresh')).toBe(1);

  await handle.signal(retryRefreshSignal, { by: 'ops@retail.example', reason: 'extract password updated' });
  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  expect(calls.counts('planRun', 'extract', 'load', 'transform', 'gate', 'publish', 'refresh', 'audit')).toEqual({
    planRun: 1,
    extract: 2,
    load: 2,
    transform: 1,
    gate: 1,
    publish: 1,
    refresh: 2,
    audit: 1,
  });
  const status = await handle.query(statusQuery);
  expect(status.refresh?.attempts.map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
  expect(status.refresh?.attempts[1].requested).toMatchObject({ by: 'ops@retail.example' });
  expect(calls.of('audit')[0].status).toBe('succeeded');
});

test('retryRefresh as an update: rejected naming the field or state while waiting, accepted once, then the run succeeds', async () => {
  const { dataset, calls } = world.scenario('refresh_update', {
    refresh: (n) => {
      if (n === 1) throw activityError(NOT_FOUND, 'TableauNotFound');
      return refreshed;
    },
  });
  const handle = await world.start({ dataset, failedRefreshTimeout: '1m' });
  await waitForState(handle, 'refresh_failed');
  const rejection = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e: unknown) => (e instanceof WorkflowUpdateFailedError ? (e.cause as Error).message : String(e)),
    );

  expect(await rejection(handle.executeUpdate(retryRefreshUpdate, { args: [{ by: 'ops' } as never] }))).toMatch(
    /^invalid retryRefresh payload: reason: /,
  );
  expect(await rejection(handle.executeUpdate(skipGateUpdate, { args: [{ by: 'ops', reason: 'x' }] }))).toBe(
    'run is waiting for retryRefresh after a failed BI refresh, not blocked',
  );
  expect(calls.count('refresh')).toBe(1);

  const answer = await handle.executeUpdate(retryRefreshUpdate, {
    args: [{ by: 'ops@retail.example', reason: 'datasource renamed back' }],
  });
  expect(answer).toMatchObject({ accepted: true, decision: { by: 'ops@retail.example' } });
  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  expect(calls.count('refresh')).toBe(2);
  const status = await handle.query(statusQuery);
  expect(status.refresh?.attempts.map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
  expect(status.refresh?.attempts[1].requested).toMatchObject({ by: 'ops@retail.example', via: 'update' });
});

test('refresh fails and no retryRefresh comes: the run fails with RefreshTimeout naming the cause', async () => {
  const { dataset, calls } = world.scenario('refresh_timeout', {
    refresh: () => {
      throw activityError(NOT_FOUND, 'TableauNotFound');
    },
  });
  const handle = await world.start({ dataset, failedRefreshTimeout: '300ms' });
  await waitForState(handle, 'refresh_failed');

  const failure = await failureOf(handle.result());
  expect(failure.type).toBe('RefreshTimeout');
  expect(failure.message).toContain(NOT_FOUND);
  expect(failure.message).toContain('certified tables are published');
  expect(calls.count('publish')).toBe(1);
  expect(calls.count('refresh')).toBe(1);
  const [audit] = calls.of('audit');
  expect(audit.status).toBe('failed');
  expect(String(audit.error)).toContain(NOT_FOUND);
});
