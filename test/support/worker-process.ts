/**
 * A Freshline worker in its own process, for tests that kill it for real (SIGKILL). Not run by hand:
 * test/support/worker-child.ts starts it with `node --require tsx/cjs` and reads its stdout.
 *
 * Environment: TEMPORAL_ADDRESS, FRESHLINE_TASK_QUEUE, FRESHLINE_DATA_DIR (the DuckDB file, stage and
 * tmp/ under it, like the harness's), FRESHLINE_WORKFLOW_BUNDLE (pre-built bundle), the secrets
 * SHOP_DB_URL / FRESHLINE_PII_HMAC_KEY / FRESHLINE_PAYLOAD_KEYS, and optionally FRESHLINE_TEST_CHUNK_ROWS
 * ('{"orders":150}': chunkRows per source table, like a harness `configure`). With FRESHLINE_TEST_STANDBY=1 it
 * loads its modules and connects, prints `@@standby`, and waits for a line `go` on stdin before it opens the
 * DuckDB file and polls: a restart after a kill then costs the file's recovery, not Node's start-up.
 * FRESHLINE_TEST_CONFIG (JSON) replaces top-level sections of the shipped config, e.g. `warehouse` and `stage`
 * for the production adapters (Snowflake + S3); the worker then opens them as `freshline worker` would.
 *
 * Protocol on stdout, one line each (everything else on stdout is the worker's own log):
 *   @@ready <pid>              polling
 *   @@step <step> <attempt> <activityId> <workflowId>   deps.beforeStep fired: an activity (or an extract chunk) starts its work
 */
import { createInterface } from 'node:readline';
import { Context } from '@temporalio/activity';
import { NativeConnection } from '@temporalio/worker';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { loadConfig, parseConfig } from '../../config/load';
import { openDeps, openEmbeddedDeps } from '../../workers/deps';
import { installRuntime } from '../../workers/runtime';
import { createFreshlineWorkers } from '../../workers/worker';

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`worker-process: ${name} is not set`);
  return v;
}

async function main(): Promise<void> {
  // The test process owns this one: if it dies, do not linger holding the DuckDB file.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && process.exit(1), 1000).unref();
  installRuntime();
  const connection = await NativeConnection.connect({ address: need('TEMPORAL_ADDRESS') });
  if (process.env.FRESHLINE_TEST_STANDBY) {
    // A standby: modules loaded and connected, it takes the DuckDB file and polls only when told ("go" on stdin).
    process.stdout.write(`@@standby ${process.pid}\n`);
    await new Promise<void>((go) => createInterface({ input: process.stdin }).on('line', (l) => l === 'go' && go()));
  }
  const config = parseConfig({ ...loadConfig(), ...(JSON.parse(process.env.FRESHLINE_TEST_CONFIG ?? '{}') as object) });
  const chunkRows = JSON.parse(process.env.FRESHLINE_TEST_CHUNK_ROWS ?? '{}') as Record<string, number>;
  for (const ds of config.datasets) for (const t of ds.tables) if (chunkRows[t.name]) t.chunkRows = chunkRows[t.name];

  const open = config.warehouse.type === 'duckdb' ? openEmbeddedDeps : openDeps;
  const deps = await open({
    dataDir: need('FRESHLINE_DATA_DIR'),
    config,
    secrets: new EnvSecretStore(process.env),
    beforeStep: (step, attempt) => {
      const info = Context.current().info;
      process.stdout.write(
        `@@step ${step} ${attempt} ${info.activityId} ${info.workflowExecution?.workflowId ?? '-'}\n`,
      );
    },
  });
  const workers = await createFreshlineWorkers({
    connection,
    deps,
    taskQueue: need('FRESHLINE_TASK_QUEUE'),
    workflowBundle: { codePath: need('FRESHLINE_WORKFLOW_BUNDLE') },
  });
  const running = workers.run(); // SIGTERM/SIGINT: the SDK drains and run() resolves
  process.stdout.write(`@@ready ${process.pid}\n`);
  await running;
  await connection.close();
  await deps.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`worker-process failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
