import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../infra/local/ports';
import { ensurePostgresInstalled, startPostgres } from '../../infra/local/postgres';
import { ensureTemporalCli } from '../../infra/local/temporal-cli';
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
  const [pg, port] = await Promise.all([startPostgres({ baseDir: root, log }), freePort()]);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli.path },
      ip: '127.0.0.1',
      port,
      ui: false,
      extraArgs: ['--log-level', 'error'],
    },
  });
  const bundle = await bundleWorkflows();
  const bundlePath = join(root, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  log(
    `Temporal (${cli.source}: ${cli.path}) on 127.0.0.1:${port}, PostgreSQL on ${pg.port}, ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  );

  process.env[TEST_ENV.temporalAddress] = `127.0.0.1:${port}`;
  process.env[TEST_ENV.pgAdminUrl] = pg.url;
  process.env[TEST_ENV.bundlePath] = bundlePath;
  process.env[TEST_ENV.dataRoot] = root;
  (globalThis as { __freshlineStack?: unknown }).__freshlineStack = { env, pg, root };
}
