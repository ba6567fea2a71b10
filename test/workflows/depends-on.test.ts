// pipelineRun's dependsOn with stub activities: a dependent run waits (durable timers) for its upstream to publish.
import { statusQuery } from '../../workflows/messages';
import { failureOf, startStubWorld, uniqueName, waitForState, type StubWorld } from '../support/stub-activities';

jest.setTimeout(20_000);

let world: StubWorld;
beforeAll(async () => {
  world = await startStubWorld('depends-on');
});
afterAll(() => world?.close());

test('upstream never publishes: the run fails with UpstreamTimeout naming the upstream, nothing extracted', async () => {
  const upstream = uniqueName('upstream');
  const { dataset, calls } = world.scenario('dep_timeout', {
    // Already past its deadline after the first poll: fails without sleeping.
    dependsOn: [{ dataset: upstream, timeoutMs: 1 }],
    upstreamPublished: () => ({ published: false, through: '2026-11-22T09:45:00.000Z' }),
  });
  const handle = await world.start({ dataset });

  const failure = await failureOf(handle.result());
  expect(failure.type).toBe('UpstreamTimeout');
  expect(failure.message).toContain(
    `upstream dataset ${upstream} has not published through 2026-11-22T10:15:00.000Z (last: 2026-11-22T09:45:00.000Z)`,
  );
  // It asked about the upstream, through this run's window end, and went no further.
  expect(calls.of('upstreamPublished')[0]).toEqual({ dataset: upstream, through: '2026-11-22T10:15:00.000Z' });
  expect(calls.count('extract')).toBe(0);
  expect(calls.count('publish')).toBe(0);
  const [audit] = calls.of('audit');
  expect(audit.status).toBe('failed');
  expect(String(audit.error)).toContain(upstream);
  expect((await handle.query(statusQuery)).state).toBe('failed');
});

test('upstream publishes by the 2nd poll: the run waits in waiting_upstream, then proceeds and publishes', async () => {
  const upstream = uniqueName('upstream');
  const { dataset, calls } = world.scenario('dep_second_poll', {
    // timeout 5 s: the workflow polls every max(1 s, timeout / 10) = 1 s (its floor; the one ~1 s test here).
    dependsOn: [{ dataset: upstream, timeoutMs: 5_000 }],
    upstreamPublished: (n) =>
      n === 1
        ? { published: false, through: '2026-11-22T10:00:00.000Z' }
        : { published: true, through: '2026-11-22T10:15:00.000Z' },
  });
  const handle = await world.start({ dataset });
  await waitForState(handle, 'waiting_upstream');
  expect(calls.count('extract')).toBe(0);

  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  expect(calls.count('upstreamPublished')).toBe(2);
  expect(calls.count('publish')).toBe(1);
  // Extraction starts only once the upstream has published.
  const names = calls.names();
  expect(names.indexOf('extract')).toBeGreaterThan(names.lastIndexOf('upstreamPublished'));
});
