// pipelineRun's quality gate with stub activities: blocked → timeout / skipGate / retryGate, and ignored signals.
import { retryGateSignal, skipGateSignal, statusQuery } from '../../workflows/messages';
import { failureOf, hold, startStubWorld, waitFor, waitForState, type StubWorld } from '../support/stub-activities';

jest.setTimeout(20_000);

let world: StubWorld;
beforeAll(async () => {
  world = await startStubWorld('gate');
});
afterAll(() => world?.close());

/** The gate fails critical check `orders_unique` on its first call only. */
const blocksOnce = { gateCritical: (n: number) => (n === 1 ? ['orders_unique'] : []) };

test('blocked gate with no decision: the timeout fails the run with GateTimeout and never publishes', async () => {
  const { dataset, calls } = world.scenario('gate_timeout', { gateCritical: () => ['orders_unique'] });
  const handle = await world.start({ dataset, gateTimeout: '300ms' });
  const blocked = await waitForState(handle, 'blocked');
  expect(blocked.gate?.critical).toEqual(['orders_unique']);

  const failure = await failureOf(handle.result());
  expect(failure.type).toBe('GateTimeout');
  expect(failure.message).toMatch(/quality gate blocked by orders_unique.*certified tables left unchanged/);
  expect(calls.count('publish')).toBe(0);
  expect(calls.count('refresh')).toBe(0);
  expect(calls.count('gate')).toBe(1);
  // Alerted when it blocked and again when it timed out; the audit row says failed and why.
  expect(calls.of('alert').map((a) => a.kind)).toEqual(['gate_blocked', 'gate_timeout']);
  const [audit] = calls.of('audit');
  expect(audit).toMatchObject({ status: 'failed', gateDecision: null });
  expect(String(audit.error)).toContain('orders_unique');
  expect((await handle.query(statusQuery)).state).toBe('failed');
});

test('blocked gate → skipGate publishes as published_skipped_gate and audits the decision', async () => {
  const { dataset, calls } = world.scenario('gate_skip', { gateCritical: () => ['orders_unique'] });
  const handle = await world.start({ dataset, gateTimeout: '1m' });
  await waitForState(handle, 'blocked');
  expect(calls.count('publish')).toBe(0);
  await handle.signal(skipGateSignal, { by: 'alice', reason: 'known POS replay, finance signed off' });

  const result = await handle.result();
  expect(result.status).toBe('published_skipped_gate');
  expect(calls.count('gate')).toBe(1); // skipping does not re-run the checks
  expect(calls.count('publish')).toBe(1);
  const [audit] = calls.of('audit');
  expect(audit.status).toBe('published_skipped_gate');
  expect(audit.gateDecision).toEqual([
    expect.objectContaining({ kind: 'skip', by: 'alice', reason: 'known POS replay, finance signed off' }),
  ]);
  // Audit is the last call: nothing after it.
  expect(calls.names().at(-1)).toBe('audit');
});

// The plan has two tables: one extract and one load each per pass.
test.each([
  { from: 'gate' as const, extract: 2, load: 2, transform: 1 },
  { from: 'transform' as const, extract: 2, load: 2, transform: 2 },
  { from: 'extract' as const, extract: 4, load: 4, transform: 2 },
])('blocked gate → retryGate from $from re-runs exactly the steps from there', async (c) => {
  const { dataset, calls } = world.scenario(`gate_retry_${c.from}`, blocksOnce);
  const handle = await world.start({ dataset, gateTimeout: '1m' });
  await waitForState(handle, 'blocked');
  await handle.signal(retryGateSignal, { by: 'bob', reason: 'fixed the source row', from: c.from });

  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  expect(result.gate?.attempt).toBe(2);
  expect(calls.counts('planRun', 'extract', 'load', 'transform', 'gate', 'publish')).toEqual({
    planRun: 1,
    extract: c.extract,
    load: c.load,
    transform: c.transform,
    gate: 2,
    publish: 1,
  });
  // The second gate call is attempt 2 and comes after the re-run steps.
  expect(calls.of('gate').map((g) => g.attempt)).toEqual([1, 2]);
  const names = calls.names();
  expect(names.lastIndexOf('transform')).toBeLessThan(names.lastIndexOf('gate'));
  expect(names.lastIndexOf('load')).toBeLessThan(names.lastIndexOf('transform'));
  expect(calls.of('audit')[0].gateDecision).toEqual([
    expect.objectContaining({ kind: 'retry', by: 'bob', from: c.from }),
  ]);
});

test('a decision before the gate blocks and an invalid payload are ignored and listed in status.ignoredSignals', async () => {
  const extracting = hold();
  const { dataset, calls } = world.scenario('gate_ignored', {
    gateCritical: () => ['orders_unique'],
    before: (call) => (call.name === 'extract' ? extracting.wait() : undefined),
  });
  const handle = await world.start({ dataset, gateTimeout: '1m' });
  try {
    await waitFor(
      () => handle.query(statusQuery),
      (s) => s.currentStep === 'extract',
      'extract running',
    );
    // Too early: the run is extracting, not blocked.
    await handle.signal(skipGateSignal, { by: 'eve', reason: 'impatient' });
    await waitFor(
      () => handle.query(statusQuery),
      (s) => s.ignoredSignals.length === 1,
      'the early skipGate to be ignored',
    );
  } finally {
    extracting.release();
  }
  await waitForState(handle, 'blocked');
  // Invalid: no `by`, and a `from` that is not a step.
  await handle.signal(retryGateSignal, { by: '', reason: 'x', from: 'publish' } as never);
  const status = await waitFor(
    () => handle.query(statusQuery),
    (s) => s.ignoredSignals.length === 2,
    'the invalid retryGate to be ignored',
  );
  expect(status.state).toBe('blocked'); // neither signal acted
  expect(status.decisions).toEqual([]);
  expect(status.ignoredSignals[0]).toBe('skipGate by eve: run was running, not blocked');
  expect(status.ignoredSignals[1]).toMatch(/^retryGate: invalid payload \(.*by: must name who decided.*from:/);
  expect(calls.count('gate')).toBe(1);

  // A valid decision still works afterwards.
  await handle.signal(skipGateSignal, { by: 'alice', reason: 'signed off' });
  expect((await handle.result()).status).toBe('published_skipped_gate');
  expect(calls.count('publish')).toBe(1);
});
