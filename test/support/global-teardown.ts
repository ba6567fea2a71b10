import { rmSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PgCluster } from '../../infra/local/postgres';

/** Stops what global setup started (globals set there are visible here, in the same process). */
export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as { __freshlineStack?: { env: TestWorkflowEnvironment; pg: PgCluster; root: string } })
    .__freshlineStack;
  if (!stack) return;
  await stack.env.teardown();
  await stack.pg.stop();
  rmSync(stack.root, { recursive: true, force: true });
}
