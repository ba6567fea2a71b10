import { WorkflowFailedError } from '@temporalio/client';
import { progressQuery } from '../../workflows/backfill-messages';
import { backfill } from '../../workflows/backfill';
import { backfillCommand } from '../../cli/backfill';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { startCodecServerFromSecrets } from '../../cli/codec-server';
import { PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { CODEC_SERVER_TOKEN_SECRET } from '../../codec/server';
import { backfillWorkflowId } from '../../workflows/ids';
import { testEnv } from '../support/env';
import { createHarness, type Harness } from '../support/harness';
import { runTemporalCli } from '../support/temporal-cli';

let h: Harness;
let days: string[];
beforeAll(async () => {
  h = await createHarness('backfill', { customers: 80, orders: 400 });
  expect((await h.run()).status).toBe('succeeded');
  const { rows } = await h.pool.query(`SELECT DISTINCT order_date::text AS d FROM shop.orders ORDER BY 1 DESC LIMIT 3`);
  days = rows.map((r) => r.d).reverse(); // the three newest business days
});
afterAll(() => h?.close());

const range = () => ({ from: `${days[0]}T00:00:00.000Z`, to: `${days[2]}T00:00:00.000Z` }); // two day partitions
let seq = 0;
const start = (input: Record<string, unknown>) =>
  h.client.workflow.start(backfill, {
    taskQueue: h.taskQueue,
    workflowId: `backfill-test-${++seq}`,
    args: [{ dataset: 'sales_core', ...range(), ...input }],
  });

test('a reload backfill re-reads business-date partitions a cursor window would miss, then publishes once', async () => {
  // A historical correction made without touching updated_at (triggers off): invisible to incremental runs.
  const client = await h.pool.connect();
  try {
    await client.query(`SET session_replication_role = replica`);
    await client.query(
      `UPDATE shop.orders SET tax = tax + 1, total = total + 1 WHERE order_date = $1::date AND status <> 'cancelled'`,
      [days[1]],
    );
  } finally {
    await client.query(`SET session_replication_role = origin`);
    client.release();
  }
  const pgDay = async () =>
    (
      await h.pool.query(
        `SELECT sum(total) FILTER (WHERE status <> 'cancelled')::text AS gmv FROM shop.orders WHERE order_date = $1::date`,
        [days[1]],
      )
    ).rows[0].gmv;
  const certifiedDay = async () =>
    (
      await h.sql(`SELECT sum(gmv)::VARCHAR AS gmv FROM certified.agg_sales_daily WHERE order_date = $1::DATE`, [
        days[1],
      ])
    )[0].gmv;
  expect(Number(await certifiedDay())).not.toBe(Number(await pgDay()));

  const handle = await start({ maxConcurrent: 2 });
  const result = await handle.result();
  expect(result).toMatchObject({ total: 2, done: 2, failed: 0, skipped: 0, running: 0 });
  expect(['succeeded', 'published_with_errors']).toContain(result.publish);
  expect(Number(await certifiedDay())).toBe(Number(await pgDay()));
  const children = await h.sql(
    `SELECT DISTINCT workflow_id, status FROM audit.pipeline_runs WHERE workflow_id LIKE 'sales_core/partition/%' ORDER BY 1`,
  );
  expect(children).toEqual(
    days.slice(0, 2).map((d) => ({ workflow_id: `sales_core/partition/${d}T00:00:00.000Z`, status: 'loaded' })),
  );
  const [{ dupes }] = await h.sql(
    `SELECT count(*)::INTEGER AS dupes FROM (SELECT order_id, updated_at FROM raw.shop__orders GROUP BY ALL HAVING count(*) > 1)`,
  );
  expect(dupes).toBe(0);
});

test('the same backfill again skips completed partitions; with rerunCompleted it re-runs them without duplicating rows', async () => {
  const [{ n: before }] = await h.sql('SELECT count(*)::INTEGER AS n FROM raw.shop__orders');
  expect(await (await start({})).result()).toMatchObject({ total: 2, done: 0, skipped: 2 });
  expect(await (await start({ rerunCompleted: true })).result()).toMatchObject({ total: 2, done: 2, skipped: 0 });
  const [{ n: after }] = await h.sql('SELECT count(*)::INTEGER AS n FROM raw.shop__orders');
  expect(after).toBe(before);
});

test("two overlapping backfills at once: each partition runs once, the second joins the first's running partitions", async () => {
  const a = await start({ rerunCompleted: true, maxConcurrent: 2 });
  const b = await start({ rerunCompleted: true, maxConcurrent: 2 });
  const [ra, rb] = await Promise.all([a.result(), b.result()]);
  expect(ra.done + rb.done).toBeGreaterThanOrEqual(2);
  expect(ra.failed + rb.failed).toBe(0);
  expect(rb.joined + ra.joined + rb.skipped + ra.skipped).toBeGreaterThan(0); // someone met a partition already running or done
  const [{ dupes }] = await h.sql(
    `SELECT count(*)::INTEGER AS dupes FROM (SELECT order_id, updated_at FROM raw.shop__orders GROUP BY ALL HAVING count(*) > 1)`,
  );
  expect(dupes).toBe(0);
});

test('hourly partitions: progress is queryable, the history is kept small by continuing as new', async () => {
  const handle = await start({
    // An earlier business day, not today's (an hourly `to` more than an hour ahead of now is refused), from
    // 01:00: the day partitions the tests above ran start at 00:00 and share that window id.
    from: `${days[1]}T01:00:00.000Z`,
    to: `${days[1]}T13:00:00.000Z`,
    partition: 'hour',
    maxConcurrent: 2,
    historyLimit: 50,
    mode: 'incremental',
  });
  let seen = 0;
  for (let i = 0; i < 200; i++) {
    const p = await handle.query(progressQuery).catch(() => null);
    if (p) seen = Math.max(seen, p.total);
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(seen).toBe(12);
  const result = await handle.result();
  expect(result).toMatchObject({ total: 12, done: 12, failed: 0 });
  expect(result.continuedAsNew).toBeGreaterThan(0);
});

test('cancelling a backfill cancels its running partitions and publishes nothing', async () => {
  const handle = await start({
    from: `${days[0]}T00:00:00.000Z`,
    to: `${days[2]}T12:00:00.000Z`,
    partition: 'hour',
    maxConcurrent: 2,
    rerunCompleted: true,
    mode: 'incremental',
  });
  for (let i = 0; i < 100; i++) {
    const p = await handle.query(progressQuery).catch(() => null);
    if (p && p.running > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await handle.cancel();
  await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
  const children = h.client.workflow.list({
    query: `WorkflowId STARTS_WITH "sales_core/partition/" AND ExecutionStatus = "Running"`,
  });
  const stillRunning: string[] = [];
  for await (const c of children) stillRunning.push(c.workflowId);
  expect(stillRunning).toEqual([]);
});

test('invalid backfill input fails at once, naming the field', async () => {
  const handle = await start({ to: '2020-01-01T00:00:00Z', maxConcurrent: 0 });
  await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
  const err = await handle.result().catch((e: WorkflowFailedError) => (e.cause as Error).message);
  expect(err).toMatch(/maxConcurrent/);
});

test('freshline backfill shows progress and exits 0; a failing backfill exits 1', async () => {
  const lines: string[] = [];
  const code = await backfillCommand(
    {
      address: testEnv('temporalAddress'),
      taskQueue: h.taskQueue,
      secrets: h.deps.secrets,
      dataset: 'sales_core',
      ...range(),
      partition: 'day',
      maxConcurrent: 2,
      mode: 'reload',
      rerunCompleted: true,
    },
    (l) => lines.push(l),
  );
  expect(code).toBe(0);
  // Not a terminal: plain lines, no bar.
  expect(lines.join('\n')).toMatch(
    /^2\/2 \(2 done, 0 skipped, \d+ joined\), 0 running, 0 failed, ETA 0s; publish: (succeeded|published_with_errors)$/m,
  );
  expect(lines[0]).toMatch(/^backfill sales_core\/backfill\/\d{4}-\d\d-\d\d--\d{4}-\d\d-\d\d on /);
  expect(lines.at(-1)).toBe('backfill complete');
  const bad = await backfillCommand(
    {
      address: testEnv('temporalAddress'),
      taskQueue: h.taskQueue,
      secrets: h.deps.secrets,
      dataset: 'no_such_dataset',
      ...range(),
    },
    (l) => lines.push(l),
  );
  expect(bad).toBe(1);
  expect(lines.at(-1)).toMatch(/backfill (failed|finished with problems)/);
});

test('one canonical id: `temporal workflow start` with the README id, then `freshline backfill` of the same range spelled otherwise, run once', async () => {
  // The README's form: `<dataset>/backfill/<from date>--<to date>` for day partitions.
  const id = backfillWorkflowId('sales_core', range().from, range().to, 'day');
  expect(id).toBe(`sales_core/backfill/${days[0]}--${days[2]}`);
  const token = 'codec-token-for-the-backfill-test';
  const codec = await startCodecServerFromSecrets({
    port: 0,
    host: '127.0.0.1',
    secrets: new EnvSecretStore({
      [PAYLOAD_KEYS_SECRET]: await h.deps.secrets.get(PAYLOAD_KEYS_SECRET),
      [CODEC_SERVER_TOKEN_SECRET]: token,
    }),
    log: () => undefined,
  });
  try {
    // Slow enough to still be running when the CLI starts: one partition at a time, both reloaded.
    const input = { dataset: 'sales_core', ...range(), partition: 'day', maxConcurrent: 1, rerunCompleted: true };
    const runs = async () => {
      const ids: string[] = [];
      for await (const w of h.client.workflow.list({ query: `WorkflowId = "${id}"` })) ids.push(w.runId);
      return ids;
    };
    const before = await runs(); // the earlier `freshline backfill` test ran this range to completion
    const started = await runTemporalCli([
      'workflow',
      'start',
      '--address',
      testEnv('temporalAddress'),
      '--task-queue',
      h.taskQueue,
      '--type',
      'backfill',
      '--workflow-id',
      id,
      '--input',
      JSON.stringify(input),
      '--codec-endpoint',
      codec.url,
      '--codec-auth',
      `Bearer ${token}`,
    ]);
    expect(started).toMatchObject({ code: 0, timedOut: false });
    const runId = (await h.client.workflow.getHandle(id).describe()).runId;

    const lines: string[] = [];
    const code = await backfillCommand(
      {
        address: testEnv('temporalAddress'),
        taskQueue: h.taskQueue,
        secrets: h.deps.secrets,
        dataset: 'sales_core',
        from: `${days[0]}T00:00:00Z`, // the same instants, spelled without milliseconds
        to: `${days[2]}T00:00:00+00:00`,
        partition: 'day',
        maxConcurrent: 1,
        mode: 'reload',
        rerunCompleted: true,
      },
      (l) => lines.push(l),
    );
    expect(code).toBe(0);
    // Either it was still running (followed) or it had just finished (a new run skips nothing: rerunCompleted);
    // with one partition at a time it is running.
    expect(lines[0]).toBe(`${id} is already running: following it`);
    expect((await runs()).filter((r) => !before.includes(r))).toEqual([runId]);
    // The publish child carries the canonical id too.
    const publish = await h.client.workflow.getHandle(`${id}/publish`).describe();
    expect(publish.status.name).toBe('COMPLETED');
  } finally {
    await codec.close();
  }
});
