import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensurePostgresInstalled, startPostgres } from '../../infra/local/postgres';
import { ensureTemporalCli } from '../../infra/local/temporal-cli';
import { startTemporalDevServer } from '../../infra/local/temporal-server';
import { installRuntime } from '../../workers/runtime';
import { bundleWorkflows } from '../../workers/worker';
import { TEST_ENV } from './env';

/** Starts the real stack once per test run: Temporal dev server (cached CLI), PostgreSQL, workflow bundle. */
export default async function globalSetup(): Promise<void> {
  const log = (msg: string) => process.stderr.write(`[setup] ${msg}\n`);
  // A directory per run: two suites in one checkout (an engineer and an agent, say) must not wipe each other.
  const root = resolve(__dirname, `../../.dev/test/run-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  installRuntime();

  const t0 = Date.now();
  const cli = await ensureTemporalCli(log);
  ensurePostgresInstalled(log);
  // Our own launcher, not TestWorkflowEnvironment.createLocal: the SDK gives the server 5 s to answer, which a
  // first start of a freshly built CLI on a busy machine overran in CI; ours waits up to a minute.
  const [pg, temporal] = await Promise.all([
    startPostgres({ baseDir: root, log }),
    startTemporalDevServer({ cliPath: cli.path, dbFile: join(root, 'temporal.db'), inMemory: true, headless: true }),
  ]);
  const bundle = await bundleWorkflows();
  const bundlePath = join(root, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  log(
    `Temporal (${cli.source}: ${cli.path}) on ${temporal.address}, PostgreSQL on ${pg.port}, ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  );

  process.env[TEST_ENV.temporalAddress] = temporal.address;
  process.env[TEST_ENV.pgAdminUrl] = pg.url;
  process.env[TEST_ENV.bundlePath] = bundlePath;
  process.env[TEST_ENV.dataRoot] = root;
  (globalThis as { __freshlineStack?: unknown }).__freshlineStack = { temporal, pg, root };
}
