import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { gateDecisionCommand, refreshRetryCommand } from '../../cli/gate';
import { startCodecServerFromSecrets } from '../../cli/codec-server';
import { PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { ENCODING_ENCRYPTED } from '../../codec/payload-codec';
import { CODEC_SERVER_TOKEN_SECRET, type CodecServer } from '../../codec/server';
import { ensureTemporalCli } from '../../infra/local/temporal-cli';
import {
  retryGateUpdate,
  retryRefreshUpdate,
  skipGateUpdate,
  statusQuery,
  type RunStatus,
} from '../../workflows/messages';
import { testEnv } from '../support/env';
import { createHarness, waitForBlocked, type Harness } from '../support/harness';

// Gate and refresh decisions as Temporal updates: validated before they are accepted (a rejected one never reaches
// history, its caller reads why), answered, and audited like the signals. Through the client, `freshline gate`/
// `refresh` and the real `temporal workflow update execute` (payloads through our codec server, as in production).

const token = randomBytes(24).toString('hex');
let h: Harness;
let codecServer: CodecServer;
let temporalBin: string;
beforeAll(async () => {
  h = await createHarness('gateupdates', { customers: 100, orders: 400 }, undefined, {
    [CODEC_SERVER_TOKEN_SECRET]: token,
  });
  expect((await h.run()).status).toBe('succeeded');
  // A second order with an existing order number: the uniqueness check is critical, so every later run blocks.
  await h.pool.query(`
    WITH src AS (SELECT * FROM shop.orders WHERE status = 'delivered' ORDER BY order_id LIMIT 1),
    ins AS (INSERT INTO shop.orders (order_number, customer_id, store_id, channel, status, ordered_at, order_date, subtotal, discount, tax, shipping, total)
            SELECT order_number, customer_id, store_id, channel, 'paid', ordered_at, order_date, subtotal, discount, tax, shipping, total FROM src
            RETURNING order_id, total, ordered_at)
    INSERT INTO shop.payments (order_id, method, amount, status, paid_at)
    SELECT order_id, 'paypal', total, 'captured', ordered_at FROM ins`);
  codecServer = await startCodecServerFromSecrets({
    port: 0,
    host: '127.0.0.1',
    uiOrigin: [],
    secrets: h.deps.secrets,
    log: () => undefined,
  });
  temporalBin = (await ensureTemporalCli()).path;
});
afterAll(async () => {
  await codecServer?.close();
  await h?.close();
});

/** Polls the status query until `pred` holds (or 60 s pass). */
async function waitFor(handle: WorkflowHandle, pred: (s: RunStatus) => boolean): Promise<RunStatus> {
  for (let i = 0; i < 600; i++) {
    const s = await handle.query(statusQuery);
    if (pred(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('status never reached the expected state');
}

/** Holds the run's audit step (the run is then published but still open) until the returned function is called. */
function holdAudit(): () => void {
  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  h.deps.beforeStep = async (step) => {
    if (step === 'audit') await released;
  };
  return () => {
    h.deps.beforeStep = undefined;
    release();
  };
}

/** The validator's message of a rejected update, or what happened instead. */
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: unknown) =>
      e instanceof WorkflowUpdateFailedError ? (e.cause as Error).message : `not an update failure: ${String(e)}`,
  );

/** Runs a command without blocking this process's event loop (the worker under test runs in it). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number; out: string }>((done) => {
    execFile(cmd, args, { env, cwd: resolve(__dirname, '../..'), timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/** Accepted updates as Temporal stored them (read without the codec: payloads as stored). */
async function acceptedUpdates(workflowId: string) {
  const raw = await new Client({ connection: h.client.connection }).workflow.getHandle(workflowId).fetchHistory();
  return (raw.events ?? []).flatMap((e) => {
    const a = e.workflowExecutionUpdateAcceptedEventAttributes;
    return a ? [a.acceptedRequest?.input] : [];
  });
}

test('through the client: invalid payloads and mistimed updates are rejected naming the field or state; skipGate publishes and is audited', async () => {
  const handle = await h.start({ gateTimeout: '2m' });
  await waitForBlocked(handle);
  expect(await rejection(handle.executeUpdate(skipGateUpdate, { args: [{ reason: 'nobody' } as never] }))).toBe(
    'invalid skipGate payload: by: required',
  );
  expect(
    await rejection(
      handle.executeUpdate(retryGateUpdate, { args: [{ by: 'bob', reason: 'x', from: 'load' as 'gate' }] }),
    ),
  ).toMatch(/^invalid retryGate payload: from: /);
  expect(await rejection(handle.executeUpdate(retryRefreshUpdate, { args: [{ by: 'ops', reason: 'x' }] }))).toBe(
    'run is blocked at the quality gate, not refresh_failed',
  );
  expect(await handle.query(statusQuery)).toMatchObject({ state: 'blocked', decisions: [], ignoredSignals: [] });

  const release = holdAudit();
  const reason = 'duplicate is a known POS replay, finance signed off';
  const answer = await handle.executeUpdate(skipGateUpdate, { args: [{ by: 'alice@insightmart', reason }] });
  expect(answer).toEqual({
    accepted: true,
    decision: { kind: 'skip', by: 'alice@insightmart', reason, at: expect.any(String), via: 'update' },
  });
  // Published, still open (audit held): a second skip is told the run's state.
  expect(await waitFor(handle, (s) => s.currentStep === 'audit')).toMatchObject({ state: 'published_skipped_gate' });
  expect(await rejection(handle.executeUpdate(skipGateUpdate, { args: [{ by: 'carol', reason: 'twice' }] }))).toBe(
    'run is published (gate skipped), not blocked',
  );
  release();

  expect((await handle.result()).status).toBe('published_skipped_gate');
  const status = await handle.query(statusQuery);
  expect(status.decisions).toEqual([answer.decision]);
  expect(status.ignoredSignals).toEqual([]); // rejected updates are answered, not listed
  const [audit] = await h.sql(`SELECT status, gate_decision::VARCHAR AS d FROM audit.pipeline_runs WHERE run_id = $1`, [
    handle.firstExecutionRunId,
  ]);
  expect(audit.status).toBe('published_skipped_gate');
  expect(JSON.parse(String(audit.d))).toEqual([answer.decision]);
  // Only the accepted update is in history; the five rejected ones left no trace.
  expect((await acceptedUpdates(handle.workflowId)).map((i) => i?.name)).toEqual(['skipGate']);
});

test('freshline gate/refresh and the temporal CLI: accepted decisions act, rejected ones exit non-zero with the reason', async () => {
  const handle = await h.start({ gateTimeout: '2m' });
  const id = handle.workflowId;
  await waitForBlocked(handle);
  const address = testEnv('temporalAddress');
  const out: string[] = [];
  const err: string[] = [];
  const opts = { address, secrets: h.deps.secrets };
  const o = (s: string) => void out.push(s);
  const e = (s: string) => void err.push(s);

  expect(await refreshRetryCommand(id, { ...opts, by: 'ops', reason: 'password fixed' }, o, e)).toBe(1);
  expect(err).toEqual([`retryRefresh rejected by ${id}: run is blocked at the quality gate, not refresh_failed`]);
  expect(
    await gateDecisionCommand('retry', id, { ...opts, by: 'bob', reason: 'checks again', from: 'gate' }, o, e),
  ).toBe(0);
  expect(out).toEqual([expect.stringMatching(new RegExp(`^retryGate accepted by ${id}: retry from gate by bob at `))]);
  await waitFor(handle, (s) => s.state === 'blocked' && s.gate?.attempt === 2);

  const temporal = (input: object) =>
    run(temporalBin, [
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      id,
      '--name',
      'skipGate',
      '--input',
      JSON.stringify(input),
      '--address',
      address,
      '--codec-endpoint',
      codecServer.url,
      '--codec-auth',
      `Bearer ${token}`,
    ]);
  const release = holdAudit();
  try {
    const skipped = await temporal({ by: 'dave', reason: 'signed off' });
    expect(skipped).toMatchObject({ code: 0 });
    await waitFor(handle, (s) => s.currentStep === 'audit');
    const again = await temporal({ by: 'erin', reason: 'once more' });
    expect(again.code).not.toBe(0);
    expect(again.out).toContain('run is published (gate skipped), not blocked');

    // The freshline CLI itself (commander, exit code), with the payload keys from its environment like an operator's.
    const cli = await run(
      'npx',
      ['tsx', 'cli/main.ts', 'gate', 'skip', id, '--by', 'frank', '--reason', 'third time', '--address', address],
      {
        ...process.env,
        [PAYLOAD_KEYS_SECRET]: await h.deps.secrets.get(PAYLOAD_KEYS_SECRET),
        FRESHLINE_DATA_DIR: mkdtempSync(join(tmpdir(), 'freshline-cli-')),
      },
    );
    expect(cli).toEqual({
      code: 1,
      out: `skipGate rejected by ${id}: run is published (gate skipped), not blocked\n`,
    });
  } finally {
    release();
  }

  expect((await handle.result()).status).toBe('published_skipped_gate');
  const decisions = (await handle.query(statusQuery)).decisions;
  expect(decisions).toEqual([
    expect.objectContaining({ kind: 'retry', by: 'bob', from: 'gate', via: 'update' }),
    expect.objectContaining({ kind: 'skip', by: 'dave', reason: 'signed off', via: 'update' }),
  ]);
  const [audit] = await h.sql(`SELECT gate_decision::VARCHAR AS d FROM audit.pipeline_runs WHERE run_id = $1`, [
    handle.firstExecutionRunId,
  ]);
  expect(JSON.parse(String(audit.d))).toEqual(decisions);
  // The temporal CLI encoded its input through the codec server: Temporal stores the operator's words encrypted.
  const inputs = await acceptedUpdates(id);
  expect(inputs.map((i) => i?.name)).toEqual(['retryGate', 'skipGate']);
  for (const i of inputs)
    expect(Buffer.from(i?.args?.payloads?.[0]?.metadata?.encoding ?? []).toString()).toBe(ENCODING_ENCRYPTED);
});
