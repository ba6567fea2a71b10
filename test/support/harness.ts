import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Pool } from 'pg';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import type { Row } from '../../activities/warehouse/warehouse';
import { newPayloadKeys, PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { payloadDataConverter } from '../../codec/payload-codec';
import { loadConfig, parseConfig } from '../../config/load';
import type { PipelineConfig } from '../../config/schema';
import { createDemoSchema, seedDemoData } from '../../infra/demo-oltp/generator';
import { createDatabase } from '../../infra/local/postgres';
import { openEmbeddedDeps, type EmbeddedDeps } from '../../workers/deps';
import { installRuntime } from '../../workers/runtime';
import { createFreshlineWorkers, type FreshlineWorkers } from '../../workers/worker';
import { windowWorkflowId } from '../../workflows/ids';
import type { PipelineRunInput } from '../../workflows/input';
import { statusQuery, type RunStatus } from '../../workflows/messages';
import { pipelineRun } from '../../workflows/pipeline-run';
import { testEnv } from './env';

/** A test's own slice of the shared stack: its database, DuckDB file, task queue and worker. */
export interface Harness {
  name: string;
  pool: Pool;
  client: Client;
  deps: EmbeddedDeps;
  taskQueue: string;
  piiKey: string;
  /** A 1-hour window ending 15 minutes after the seed's minute: every seeded row and the changes a test makes. */
  window: { start: string; end: string };
  /** Starts a worker (one runs after create); `beforeStep` injects faults like a failing dependency. */
  startWorker(beforeStep?: EmbeddedDeps['beforeStep']): Promise<FreshlineWorkers>;
  stopWorker(): Promise<void>;
  /** Starts pipelineRun for a window with the deterministic id; returns the handle. */
  start(input?: Partial<PipelineRunInput>): ReturnType<Client['workflow']['start']>;
  /** Runs pipelineRun to completion and returns its result. */
  run(input?: Partial<PipelineRunInput>): Promise<Awaited<ReturnType<typeof pipelineRun>>>;
  /** Reads rows from the warehouse. */
  sql<T extends Row = Row>(query: string, params?: (string | number | null)[]): Promise<T[]>;
  close(): Promise<void>;
}

/** How far past the seed's minute the harness window ends: one sales_core cadence. */
const HARNESS_WINDOW_AHEAD_MS = 15 * 60_000;

/** Creates a harness with a freshly seeded demo OLTP database named after the test file. */
export async function createHarness(
  name: string,
  seed = { customers: 300, orders: 1200 },
  /** Adjusts the shipped config for this test (e.g. smaller chunks). */
  configure?: (config: PipelineConfig) => void,
  /** Extra secrets for the worker's secret store (e.g. an alert webhook URL). */
  extraSecrets: Record<string, string> = {},
): Promise<Harness> {
  installRuntime();
  const dbUrl = await createDatabase(testEnv('pgAdminUrl'), `t_${name}`);
  const pool = new Pool({ connectionString: dbUrl, max: 4 });
  pool.on('error', () => undefined); // idle clients see the cluster stop at teardown; nothing to do then
  await createDemoSchema(pool);
  await seedDemoData(pool, { ...seed, seed: 42 });
  const { rows } = await pool.query<{ t: Date }>("SELECT date_trunc('minute', max(updated_at)) AS t FROM shop.orders");
  // Window ids are `<dataset>/window/<start>` on the one Temporal server all test files share: an offset of
  // its own per file (under a minute) keeps them apart. The window ends 15 minutes after the seed — no later
  // than one sales_core cadence ahead, which pipelineRun refuses beyond — so it holds the seeded rows and
  // every change a test file makes in its first minutes.
  const offsetMs = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % 60_000;
  const endMs = rows[0].t.getTime() - offsetMs + HARNESS_WINDOW_AHEAD_MS;
  const window = { start: new Date(endMs - 3_600_000).toISOString(), end: new Date(endMs).toISOString() };

  const piiKey = randomBytes(32).toString('hex');
  const loaded: PipelineConfig = loadConfig();
  configure?.(loaded);
  // Validated again after the test's changes: a test never runs a config a user could not.
  const config = parseConfig(loaded);
  // Payload encryption key: one per harness, like the PII key (extraSecrets may set its own).
  const secrets = new EnvSecretStore({
    SHOP_DB_URL: dbUrl,
    FRESHLINE_PII_HMAC_KEY: piiKey,
    [PAYLOAD_KEYS_SECRET]: newPayloadKeys('test'),
    ...extraSecrets,
  });
  const dataDir = join(testEnv('dataRoot'), name);
  const address = testEnv('temporalAddress');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, dataConverter: await payloadDataConverter(secrets) });
  const nativeConnection = await NativeConnection.connect({ address });
  const taskQueue = `test-${name}-${process.pid}`;
  const deps = await openEmbeddedDeps({ dataDir, config, secrets });
  let worker: FreshlineWorkers | null = null;
  let running: Promise<void> | null = null;

  const harness: Harness = {
    name,
    pool,
    client,
    deps,
    taskQueue,
    piiKey,
    window,
    async startWorker(beforeStep) {
      deps.beforeStep = beforeStep;
      const started = await createFreshlineWorkers({
        connection: nativeConnection,
        deps,
        taskQueue,
        workflowBundle: { codePath: testEnv('bundlePath') },
      });
      worker = started;
      running = started.run();
      return started;
    },
    async stopWorker() {
      if (!worker) return;
      worker.shutdown();
      await running;
      worker = null;
    },
    start(input = {}) {
      // A short gate timeout: a run that blocks unexpectedly fails with its reason instead of hanging the suite.
      const args: PipelineRunInput = { dataset: 'sales_core', window, gateTimeout: '30s', ...input };
      return client.workflow.start(pipelineRun, {
        taskQueue,
        workflowId: windowWorkflowId(args.dataset, args.window.start),
        args: [args],
      });
    },
    async run(input = {}) {
      return (await harness.start(input)).result();
    },
    sql: (query, params) => deps.warehouse.query(query, params),
    async close() {
      await harness.stopWorker();
      await nativeConnection.close();
      await connection.close();
      await deps.close();
      await pool.end();
    },
  };
  await harness.startWorker();
  return harness;
}

/** The failure message chain of a failed workflow (what an operator reads in the UI). */
export function failureText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  while (e instanceof Error) {
    parts.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  if (!(err instanceof WorkflowFailedError)) parts.unshift(`(not a workflow failure: ${String(err)})`);
  return parts.join(' <- ');
}

/** Every row of a certified table, ordered, minus the columns named (for cross-run comparisons). */
export async function snapshot(h: Harness, table: string, drop: string[] = []): Promise<Row[]> {
  const rows = await h.sql(`SELECT * FROM certified.${table} ORDER BY ALL`);
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !drop.includes(k))));
}

/** Polls a run's status until its gate blocks (or 60 s pass); returns that status. */
export async function waitForBlocked(handle: Pick<WorkflowHandle, 'query'>): Promise<RunStatus> {
  for (let i = 0; i < 600; i++) {
    const s = await handle.query(statusQuery);
    if (s.state === 'blocked') return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('run never blocked');
}
