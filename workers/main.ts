import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../config/load';
import { DEFAULT_TASK_QUEUE } from '../workflows/ids';
import { openDeps } from './deps';
import { logger } from './logger';
import { installRuntime } from './runtime';
import { createFreshlineWorkers } from './worker';

/** Worker entrypoint: `npm run worker` (env: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, FRESHLINE_DATA_DIR, FRESHLINE_TASK_QUEUE). */
async function main(): Promise<void> {
  installRuntime();
  const config = loadConfig();
  const deps = await openDeps({ dataDir: process.env.FRESHLINE_DATA_DIR ?? '.dev/data', config });
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const workers = await createFreshlineWorkers({
    connection,
    deps,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.FRESHLINE_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
  });
  logger.info(
    { taskQueue: workers.main.options.taskQueue },
    `freshline worker polling task queue '${workers.main.options.taskQueue}' (+ ${workers.extract.length} source extract queues) on ${process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233'}`,
  );
  await workers.run(); // resolves after SIGINT/SIGTERM, which the SDK handles by draining
  await connection.close();
  await deps.close();
}

main().catch((err) => {
  logger.error({ err }, 'worker failed');
  process.exit(1);
});
