/**
 * Faults of the things a run depends on: the source database stops mid-extract, the stage cannot be
 * written, the warehouse is locked, and errors that retrying cannot fix. The source is a throwaway
 * PostgreSQL cluster of this file's own (the suite's shared cluster is never stopped).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import type { LocalObjectStore } from '../../activities/storage/local';
import { createDemoSchema, generateChanges, seedDemoData } from '../../infra/demo-oltp/generator';
import { createDatabase, startPostgres, type PgCluster } from '../../infra/local/postgres';
import { statusQuery } from '../../workflows/messages';
import { testEnv } from '../support/env';
import { createHarness, failureText, type Harness } from '../support/harness';
import { activityHistory, decodedFailureMessage } from '../support/history';

let pg: PgCluster;
let source: Pool;
let h: Harness;
/** A window over everything the source holds (and every change made later in this file). */
let base: { start: string; end: string };
/** Distinct window starts, so each test's run has its own workflow id. */
const windowAt = (minutesBefore: number) => ({
  start: new Date(Date.parse(base.start) - minutesBefore * 60_000).toISOString(),
  end: base.end,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every certified table as text (for "unchanged" comparisons). */
async function certified(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const tables = await h.sql(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'certified' ORDER BY 1",
  );
  for (const { t } of tables)
    out[String(t)] = JSON.stringify(await h.sql(`SELECT * FROM certified."${String(t)}" ORDER BY ALL`));
  return out;
}

beforeAll(async () => {
  pg = await startPostgres({ baseDir: join(testEnv('dataRoot'), 'faults-pg') });
  const url = await createDatabase(pg.url, 'faults_src');
  source = new Pool({ connectionString: url, max: 2 });
  source.on('error', () => undefined); // idle clients see the outage below
  await createDemoSchema(source);
  await seedDemoData(source, { customers: 100, orders: 300, seed: 42 });
  const { rows } = await source.query<{ t: Date }>(
    "SELECT date_trunc('minute', max(updated_at)) AS t FROM shop.orders",
  );
  // Ends one sales_core cadence after the seed: pipelineRun refuses windows further ahead.
  base = {
    start: new Date(rows[0].t.getTime() - 2_700_000).toISOString(),
    end: new Date(rows[0].t.getTime() + 900_000).toISOString(),
  };
  // The harness's own database is not read: its worker's SHOP_DB_URL is the throwaway cluster's.
  h = await createHarness(
    'faults',
    { customers: 5, orders: 5 },
    (config) => {
      config.datasets[0].tables.find((t) => t.name === 'orders')!.chunkRows = 100;
    },
    { SHOP_DB_URL: url },
  );
}, 120_000);
afterAll(async () => {
  await h?.close();
  await source?.end();
  await pg?.stop();
});

test('PostgreSQL stops mid-extract: extract retries with backoff and completes once it is back', async () => {
  await h.stopWorker();
  let outage: Promise<void> | null = null;
  let downMs = 0;
  await h.startWorker(async (step) => {
    if (step !== 'extract:orders:chunk:1' || outage) return;
    // The server goes away between two chunks of orders (sessions terminated), and is back 4 s later.
    await pg.pause();
    const down = Date.now();
    outage = sleep(4000).then(async () => {
      await pg.resume();
      downMs = Date.now() - down;
    });
  });
  const handle = await h.start({ window: windowAt(1) });
  // While it is down: the extract is pending again with the connection error as its last failure. Read from the
  // server's pending-activity view until the outage ends; nothing here depends on how fast the box is.
  const seen = new Map<number, string>();
  while (!outage) await sleep(50);
  while (downMs === 0) {
    const d = await handle.describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== 'extract' || (a.attempt ?? 0) < 2) continue;
      seen.set(a.attempt!, await decodedFailureMessage(h.client, a.lastFailure));
    }
    await sleep(200);
  }
  const result = await handle.result();
  expect(result.status).toBe('succeeded');

  const { scheduled, attempts } = await activityHistory(h.client, result.workflowId);
  expect(scheduled.extract).toBe(8); // retries are attempts of the same activities, not new ones
  const retried = attempts.extract.filter((a) => a > 1);
  expect(retried.length).toBeGreaterThanOrEqual(1);
  expect(Math.max(...attempts.extract)).toBeLessThan(5); // recovered within the retry budget (5 attempts)
  // The failed attempts failed on the outage (seen pending while it lasted, when the poll caught one).
  if (seen.size) expect([...seen.values()].join('\n')).toMatch(/ECONNREFUSED|terminat|Connection/i);
  // Exponential backoff, not a tight loop against a down server: the policy the server applied, from the history
  // (reading currentRetryInterval while attempts move raced the server on a busy box).
  const history = await h.client.workflow.getHandle(result.workflowId).fetchHistory();
  const policies = (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes)
    .filter((a) => a?.activityType?.name === 'extract')
    .map((a) => a!.retryPolicy!);
  expect(policies).toHaveLength(8);
  for (const p of policies) {
    expect(Number(p.initialInterval?.seconds)).toBe(1);
    expect(p.backoffCoefficient).toBe(2);
    expect(p.maximumAttempts).toBe(5);
  }

  const {
    rows: [{ n: src }],
  } = await source.query('SELECT count(*)::int AS n FROM shop.orders');
  const [{ n: raw, keys }] = await h.sql(
    'SELECT count(*)::INTEGER AS n, count(DISTINCT order_id)::INTEGER AS keys FROM raw.shop__orders',
  );
  expect(raw).toBe(src);
  expect(keys).toBe(src);
  console.log(
    `faults: PostgreSQL down ${(downMs / 1000).toFixed(1)} s mid-extract; extract attempts seen pending: ${[...seen.keys()].join(', ')}; ` +
      `final attempts per extract: ${attempts.extract.join(' ')}; run succeeded, ${raw} orders in raw = source`,
  );
});

/** Makes `dir` (and everything in it) unwritable even for root: chmod, and the immutable flag where chmod is not enough. */
function lockDir(dir: string): () => void {
  const all = [dir, ...readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((p) => join(dir, p))].filter((p) =>
    statSync(p).isDirectory(),
  );
  for (const d of all) chmodSync(d, 0o555);
  const probe = join(dir, '.probe');
  let immutable = false;
  try {
    writeFileSync(probe, 'x'); // root ignores modes: fall back to chattr +i
    rmSync(probe);
    execFileSync('chattr', ['-R', '+i', dir]);
    immutable = true;
  } catch {
    // EACCES: chmod is enough
  }
  return () => {
    if (immutable) execFileSync('chattr', ['-R', '-i', dir]);
    for (const d of all) chmodSync(d, 0o755);
  };
}

test('stage directory unwritable: extract retried, then the run fails naming the cause; certified tables unchanged', async () => {
  await h.stopWorker();
  await h.startWorker();
  const before = await certified();
  expect(Object.keys(before).length).toBeGreaterThanOrEqual(12);
  await generateChanges(source, {
    newOrders: 20,
    updates: 20,
    lateCorrections: 3,
    cancellations: 2,
    refunds: 2,
    seed: 7,
  });
  const stage = (h.deps.stage as LocalObjectStore).root;
  mkdirSync(stage, { recursive: true });
  const unlock = lockDir(stage);
  let err: unknown;
  const handle = await h.start({ window: windowAt(2) });
  try {
    err = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
  } finally {
    unlock();
  }
  const text = failureText(err);
  expect(text).toMatch(/(EACCES|EPERM).*stage/);
  expect(text).toContain(stage);
  const { attempts } = await activityHistory(h.client, handle.workflowId);
  expect(attempts.extract).toContain(5); // retried up to the policy's 5 attempts (1+2+4+8 s of backoff)
  const status = await handle.query(statusQuery);
  expect(status.state).toBe('failed');
  expect(status.steps.extract.status).toBe('failed');
  expect(status.steps.publish).toBeUndefined();
  expect(await certified()).toEqual(before); // nothing half-published
  const [audit] = await h.sql('SELECT status, error FROM audit.pipeline_runs WHERE run_id = $1', [
    handle.firstExecutionRunId,
  ]);
  expect(audit.status).toBe('failed');
  expect(String(audit.error)).toContain(stage);
  console.log(
    `faults: stage unwritable → extract attempts ${attempts.extract.join(' ')}; failure: ${text.slice(0, 300)}`,
  );

  // Writable again: the same window runs through and publishes the changes.
  expect((await h.run({ window: windowAt(2) })).status).toBe('succeeded');
  expect(await certified()).not.toEqual(before);
});

test('warehouse locked by another process at publish: retried, then published; nothing before publish re-ran', async () => {
  await h.stopWorker();
  const path = join(testEnv('dataRoot'), 'faults', 'warehouse.duckdb');
  await h.startWorker((step, attempt) => {
    if (step === 'publish' && attempt <= 2) {
      // What DuckDB says when another process holds the file.
      throw new Error(
        `IO Error: Could not set lock on file "${path}": Conflicting lock is held in /usr/bin/node (PID 4242) by user ops. See also https://duckdb.org/docs/stable/connect/concurrency`,
      );
    }
  });
  await generateChanges(source, {
    newOrders: 10,
    updates: 5,
    lateCorrections: 1,
    cancellations: 1,
    refunds: 1,
    seed: 8,
  });
  const before = await certified();
  const result = await h.run({ window: windowAt(3) });
  expect(result.status).toBe('succeeded');
  const { attempts } = await activityHistory(h.client, result.workflowId);
  expect(attempts.publish).toEqual([3]);
  expect(attempts.transform).toEqual([1]);
  expect(attempts.gate).toEqual([1]);
  expect(await certified()).not.toEqual(before);
});

test('errors retrying cannot fix fail fast: unknown dataset (1 attempt), invalid input (no activity), breaking schema drift (no retry)', async () => {
  await h.stopWorker();
  await h.startWorker();
  const unknown = await h.start({ dataset: 'no_such_dataset', window: windowAt(4) });
  const err = await unknown.result().then(
    () => null,
    (e: unknown) => e,
  );
  expect(failureText(err)).toMatch(/unknown dataset 'no_such_dataset' \(defined: [a-z_, ]*sales_core/);
  const { scheduled, attempts } = await activityHistory(h.client, unknown.workflowId);
  expect(attempts.planRun).toEqual([1]);
  expect(scheduled.extract).toBeUndefined();

  const invalid = await h.start({ window: { start: base.end, end: base.start } });
  const err2 = await invalid.result().then(
    () => null,
    (e: unknown) => e,
  );
  expect(failureText(err2)).toContain('window.end must be after window.start');
  expect((await activityHistory(h.client, invalid.workflowId)).scheduled).toEqual({});

  // A dropped source column is not something a retry fixes: the table's extract returns at once (held), never retried.
  await source.query('ALTER TABLE shop.refunds DROP COLUMN reason');
  const drifted = await h.run({ window: windowAt(5) });
  expect(drifted.status).toBe('published_partial');
  expect(drifted.drift).toEqual([expect.objectContaining({ table: 'refunds', breaking: true })]);
  const d = await activityHistory(h.client, drifted.workflowId);
  expect(d.attempts.extract.every((a) => a === 1)).toBe(true);
  console.log(
    `faults: unknown dataset failed (planRun attempts ${attempts.planRun.join(' ')}); invalid input failed with no activity; ` +
      `breaking drift held ${drifted.held.map((x) => x.table).join(', ')} with every extract on attempt 1`,
  );
});
