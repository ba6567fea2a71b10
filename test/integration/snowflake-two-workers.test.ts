/**
 * Production topology: two worker processes on one Temporal task queue, each with the production adapters
 * (Snowflake through the executing stand-in, the S3 stage on an S3-protocol server, its own empty data
 * directory), run a window and then a backfill whose partitions spread across both; one is killed -9
 * mid-backfill. The backfill completes, and every certified table equals the one a single in-process
 * worker produced from the same source on a stand-in of its own.
 *
 * The spread is made certain, not hoped for: the backfill starts only once the server lists both workers'
 * pollers on the task queue and on the extract queue (each worker extracts at most maxConcurrentExtracts
 * tables at once, so one alone cannot take a partition's extracts), and b is killed only once a
 * partition's history records an activity b ran. Temporal writes an activity's ActivityTaskStarted event
 * (with the worker's identity) only for the attempt that ended it, so an attempt b started and the kill
 * abandoned is recorded as a's retry: killing b at its first partition steps, while its first two extracts
 * were still running, left b in no history.
 *
 * As in kill-recovery.test.ts, the test plays the part of the dead worker's heartbeat timeout: every
 * activity attempt last started by the killed process is failed by id (client.activity.fail), and Temporal
 * retries it under the same policy — on the surviving worker, which has none of the dead one's local files.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { Pool } from 'pg';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { newPayloadKeys, PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { payloadDataConverter } from '../../codec/payload-codec';
import { loadConfig, parseConfig } from '../../config/load';
import { createDemoSchema, seedDemoData } from '../../infra/demo-oltp/generator';
import { createDatabase } from '../../infra/local/postgres';
import { openDeps, type WorkerDeps } from '../../workers/deps';
import { installRuntime } from '../../workers/runtime';
import { createFreshlineWorkers } from '../../workers/worker';
import { backfill } from '../../workflows/backfill';
import { extractTaskQueue, partitionWorkflowId, windowWorkflowId } from '../../workflows/ids';
import type { PipelineRunInput } from '../../workflows/input';
import { pipelineRun } from '../../workflows/pipeline-run';
import { startS3, type S3StandIn } from '../stand-ins/s3';
import { startSnowflakeStandIn, type SnowflakeStandIn } from '../stand-ins/snowflake';
import { testEnv } from '../support/env';
import { waitForPollers } from '../support/pollers';
import { standInWarehouse } from '../support/snowflake-config';
import { WorkerChild, type StepLine } from '../support/worker-child';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const savedEnv = { ...process.env };

let tmp: string;
let pool: Pool;
let s3: S3StandIn;
let connection: Connection;
let client: Client;
let secrets: Record<string, string>;
let window: { start: string; end: string };
/** Two business days' partitions, and the day after them (the backfill's exclusive end). */
let days: string[];
const stands: SnowflakeStandIn[] = [];
const children: WorkerChild[] = [];

/** A stand-in of its own and the config sections pointing a worker at it and at a stage prefix of its own. */
async function productionSide(prefix: string): Promise<{ stand: SnowflakeStandIn; config: Record<string, unknown> }> {
  const stand = await startSnowflakeStandIn({
    account: 'FRESHLINE_TEST',
    users: [{ name: 'LOADER', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
    // A killed worker's open transaction is rolled back once it has been gone a second (Snowflake: minutes).
    execute: { readStageFile: (url) => s3.read(url), detachedIdleMs: 1000 },
  });
  stands.push(stand);
  return {
    stand,
    config: {
      warehouse: standInWarehouse(stand.url, `s3://${s3.bucket}/${prefix}/`),
      stage: { type: 's3', bucket: s3.bucket, prefix, region: s3.region, endpoint: s3.endpoint },
    },
  };
}

beforeAll(async () => {
  installRuntime();
  tmp = mkdtempSync(join(tmpdir(), 'freshline-two-workers-'));
  const url = await createDatabase(testEnv('pgAdminUrl'), 't_sf_two_workers');
  pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  await createDemoSchema(pool);
  await seedDemoData(pool, { customers: 60, orders: 240, seed: 11 });
  const { rows } = await pool.query<{ t: Date }>("SELECT date_trunc('minute', max(updated_at)) AS t FROM shop.orders");
  // Its own offset under a minute: window ids are shared with every other file on this Temporal server.
  const end = rows[0].t.getTime() - 23_000 + 15 * 60_000;
  window = { start: new Date(end - 3_600_000).toISOString(), end: new Date(end).toISOString() };
  const { rows: d } = await pool.query(
    // Not the newest days: partition ids are shared with every file on this Temporal server (backfill.test.ts
    // backfills the newest two), and a completed partition is skipped by the next backfill of it. The first
    // holds orders: the fifth-newest business day with any.
    `SELECT (d0 + k)::text AS d FROM (SELECT DISTINCT order_date AS d0 FROM shop.orders ORDER BY 1 DESC LIMIT 1 OFFSET 4) AS f,
       (VALUES (0), (1), (2)) AS v (k) ORDER BY 1`,
  );
  days = d.map((r) => String(r.d));
  s3 = await startS3();
  // The S3 client takes its credentials from the SDK chain, as on ECS; the worker children inherit them.
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  secrets = {
    SHOP_DB_URL: url,
    FRESHLINE_PII_HMAC_KEY: 'b'.repeat(64),
    SF_LOADER_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    [PAYLOAD_KEYS_SECRET]: newPayloadKeys('test'),
  };
  connection = await Connection.connect({ address: testEnv('temporalAddress') });
  client = new Client({ connection, dataConverter: await payloadDataConverter(new EnvSecretStore(secrets)) });
}, 120_000);

afterAll(async () => {
  for (const c of children) await c.killAll();
  await connection?.close();
  for (const s of stands) await s.close();
  await s3?.close();
  await pool?.end();
  process.env = savedEnv;
  rmSync(tmp, { recursive: true, force: true });
});

/** The window run each side makes first (its initial load of every table), expected to succeed. */
async function runWindow(taskQueue: string): Promise<void> {
  const input: PipelineRunInput = { dataset: 'sales_core', window, gateTimeout: '30s' };
  const workflowId = windowWorkflowId('sales_core', window.start);
  const run = await client.workflow.execute(pipelineRun, { taskQueue, workflowId, args: [input] });
  expect(run.status).toBe('succeeded');
}
const backfillInput = () => ({
  dataset: 'sales_core',
  from: `${days[0]}T00:00:00.000Z`,
  to: `${days[2]}T00:00:00.000Z`,
  maxConcurrent: 2,
  // The other side ran the same partition ids on this Temporal server first.
  rerunCompleted: true,
});
const partitionIds = () => days.slice(0, 2).map((day) => partitionWorkflowId('sales_core', `${day}T00:00:00.000Z`));

/** Every certified table of a stand-in, all columns but _run_id, in a stable order. */
async function certified(stand: SnowflakeStandIn): Promise<Map<string, string>> {
  const tables = await stand.read(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'certified' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const out = new Map<string, string>();
  for (const { t } of tables) {
    const cols = await stand.read(
      `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'certified' AND table_name = '${String(t)}'`,
    );
    const except = cols.some((c) => c.c === '_run_id') ? 'EXCLUDE (_run_id)' : '';
    out.set(
      String(t),
      JSON.stringify(await stand.read(`SELECT * ${except} FROM certified."${String(t)}" ORDER BY ALL`)),
    );
  }
  return out;
}

let reference: Map<string, string>;
let referencePublish: string | undefined;

test('one worker on the production adapters: a window, then a two-partition backfill', async () => {
  const { stand, config } = await productionSide('one');
  const deps: WorkerDeps = await openDeps({
    dataDir: join(tmp, 'one'),
    config: parseConfig({ ...loadConfig(), ...config }),
    secrets: new EnvSecretStore(secrets),
  });
  const nativeConnection = await NativeConnection.connect({ address: testEnv('temporalAddress') });
  const taskQueue = `test-sf-one-${process.pid}`;
  const worker = await createFreshlineWorkers({
    connection: nativeConnection,
    deps,
    taskQueue,
    workflowBundle: { codePath: testEnv('bundlePath') },
  });
  const running = worker.run();
  try {
    await runWindow(taskQueue);
    const result = await client.workflow.execute(backfill, {
      taskQueue,
      workflowId: `sf-two-workers-reference-${process.pid}`,
      args: [backfillInput()],
    });
    expect(result).toMatchObject({ total: 2, done: 2, failed: 0 });
    // Warn-level checks may fail on days this old (freshness): published either way.
    expect(['succeeded', 'published_with_errors']).toContain(result.publish);
    referencePublish = result.publish;
  } finally {
    worker.shutdown();
    await running;
    await nativeConnection.close();
    await deps.close();
  }
  reference = await certified(stand);
  expect(reference.size).toBeGreaterThanOrEqual(12);
  const [{ n }] = await stand.read('SELECT count(*) AS n FROM certified.fct_orders');
  expect(Number(n)).toBeGreaterThan(0);
});

test('two workers, one killed -9 mid-backfill: the partitions ran on both, it completes, certified equals the one-worker run', async () => {
  expect(reference).toBeDefined();
  const { stand, config } = await productionSide('two');
  const taskQueue = `test-sf-two-${process.pid}`;
  for (const name of ['a', 'b'])
    children.push(
      new WorkerChild({
        temporalAddress: testEnv('temporalAddress'),
        taskQueue,
        dataDir: join(tmp, name), // nothing shared: an activity retried on the other worker finds none of these files
        bundlePath: testEnv('bundlePath'),
        secrets,
        config,
      }),
    );
  const [a, b] = children;
  await Promise.all([a.start(), b.start()]);
  const identity = (c: WorkerChild) => `${c.pid}@`;
  const ids = { a: identity(a), b: identity(b) };
  // `start()` resolves when a child has called run(), before its first poll reaches the server.
  await waitForPollers(
    client,
    [
      { taskQueue, types: ['workflow', 'activity'] },
      { taskQueue: extractTaskQueue(taskQueue, 'shop'), types: ['activity'] },
    ],
    [ids.a, ids.b],
  );

  /** Which workers the partitions' histories record activities of ('a', 'b', or an unknown identity). */
  const partitionWorkers = async (): Promise<Set<string>> => {
    const workers = new Set<string>();
    for (const id of partitionIds()) {
      const history = await client.workflow
        .getHandle(id)
        .fetchHistory()
        .catch(() => null); // not started yet
      for (const e of history?.events ?? []) {
        const who = e.activityTaskStartedEventAttributes?.identity;
        if (who) workers.add(who.startsWith(ids.a) ? 'a' : who.startsWith(ids.b) ? 'b' : who);
      }
    }
    return workers;
  };

  await runWindow(taskQueue);

  const handle = await client.workflow.start(backfill, {
    taskQueue,
    workflowId: `sf-two-workers-${process.pid}`,
    args: [backfillInput()],
  });
  // Worker b dies once it has started a step inside a partition and a partition's history records an activity
  // of b's (checked at each of its step starts there, so mostly mid-activity, and on the watchdog's tick).
  let partitionSteps = 0;
  let lastStep: StepLine | null = null;
  let killed = null as { line: StepLine | null; steps: number; backfill: string; abandoned: string[] } | null;
  let dead = false;
  /** Fails every attempt the dead worker had started, as its heartbeat timeout would. */
  const reap = async (): Promise<string[]> => {
    const d = await handle.describe();
    const runs = [...(d.raw.pendingChildren ?? []).map((c) => c.workflowId!)];
    const abandoned: string[] = [];
    for (const workflowId of runs) {
      const child = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => null);
      if (!child) continue;
      await client.workflowService
        .resetStickyTaskQueue({ namespace: 'default', execution: { workflowId, runId: child.runId } })
        .catch(() => undefined);
      for (const act of child.raw.pendingActivities ?? [])
        if (
          act.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED &&
          act.lastWorkerIdentity?.startsWith(ids.b)
        ) {
          abandoned.push(`${workflowId}:${act.activityType?.name}/${act.activityId}#${act.attempt}`);
          await client.activity
            .fail(
              { workflowId, runId: child.runId, activityId: act.activityId! },
              ApplicationFailure.retryable('worker process killed (SIGKILL)', 'WorkerLost'),
            )
            .catch(() => undefined); // it may have moved on meanwhile
        }
    }
    return abandoned;
  };
  const kill = async () => {
    const line = lastStep;
    const steps = partitionSteps;
    await b.kill();
    dead = true;
    // Read after the kill: RUNNING here means it died mid-backfill.
    const backfill = (await handle.describe()).status.name;
    killed = { line, steps, backfill, abandoned: await reap() };
  };
  let killing: Promise<void> | null = null;
  let checking = false;
  /** Kills b once it ran a partition step and a partition's history records an activity of its (one check at a time). */
  const killOnceRecorded = async () => {
    if (killing || checking || partitionSteps === 0) return;
    checking = true;
    try {
      if ((await partitionWorkers()).has('b')) killing ??= kill();
    } finally {
      checking = false;
    }
  };
  const off = b.onStep((line) => {
    if (!line.workflowId.includes('/partition/') || killing) return;
    partitionSteps++;
    lastStep = line;
    void killOnceRecorded().catch(() => undefined); // the watchdog checks again
  });
  // A task handed to the dead worker's poll just before it died shows up as started later: reap those too.
  let watching = true;
  const watchdog = (async () => {
    while (watching) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!watching) break;
      if (dead) killed?.abandoned.push(...(await reap().catch(() => [])));
      // b's last partition activity may end with no step start of b's after it.
      else await killOnceRecorded().catch(() => undefined);
    }
  })();
  let result: Awaited<ReturnType<typeof backfill>>;
  try {
    result = await handle.result();
  } finally {
    watching = false;
    off();
    await watchdog;
    await killing;
  }
  expect(killed).not.toBeNull();
  expect(killed!.backfill).toBe('RUNNING');
  expect(result).toMatchObject({ total: 2, done: 2, failed: 0 });
  expect(result.publish).toBe(referencePublish);

  // The partitions' activities ran on both processes: their histories name both workers.
  expect([...(await partitionWorkers())].sort()).toEqual(['a', 'b']);

  const two = await certified(stand);
  expect([...two.keys()]).toEqual([...reference.keys()]);
  const differing = [...reference].filter(([t, rows]) => two.get(t) !== rows).map(([t]) => t);
  expect(differing).toEqual([]);
  console.log(
    `two workers: b killed after ${killed!.steps} partition step starts (last ${killed!.line?.step}#${killed!.line?.attempt} ` +
      `in ${killed!.line?.workflowId}); ` +
      `attempts failed over to a: ${killed!.abandoned.join(' ') || 'none (between activities)'}; ` +
      `${two.size} certified tables identical to the one-worker run`,
  );
}, 600_000);
