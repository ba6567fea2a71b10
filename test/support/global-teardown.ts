import { rmSync } from 'node:fs';
import type { PgCluster } from '../../infra/local/postgres';
import type { TemporalDevServer } from '../../infra/local/temporal-server';

/** Stops what global setup started (globals set there are visible here, in the same process). */
export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as { __freshlineStack?: { temporal: TemporalDevServer; pg: PgCluster; root: string } })
    .__freshlineStack;
  if (!stack) return;
  await stack.temporal.stop();
  await stack.pg.stop();
  rmSync(stack.root, { recursive: true, force: true });
}
