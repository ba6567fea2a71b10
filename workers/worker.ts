import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { FAILURE_CONVERTER_PATH, payloadDataConverter } from '../codec/payload-codec';
import { DEFAULT_TASK_QUEUE, extractTaskQueue } from '../workflows/ids';

/** Bundles the workflow code once (webpack); reuse the result across workers in one process. */
export async function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // Failures a workflow raises are converted inside its sandbox: the bundle carries the converter too.
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
}

/** The workers of one Freshline process: workflows + warehouse activities, and one extract worker per source. */
export interface FreshlineWorkers {
  /** Polls the main task queue: workflows and every activity but extract. */
  main: Worker;
  /** Poll `<queue>.extract.<source>`: extract activities, bounded per source. */
  extract: Worker[];
  /** Runs all until shut down. */
  run(): Promise<void>;
  /** Starts a graceful shutdown of all. */
  shutdown(): void;
}

/**
 * Creates Freshline's workers on the given connection. Extraction gets a task queue per source so
 * the load on each OLTP database is bounded: `maxConcurrentExtracts` per worker process, and
 * optionally `maxExtractsPerSecond` across all workers (Temporal's task-queue rate limit).
 */
export async function createFreshlineWorkers(opts: {
  connection: NativeConnection;
  deps: ActivityDeps;
  namespace?: string;
  taskQueue?: string;
  workflowBundle?: WorkflowBundle | { codePath: string };
}): Promise<FreshlineWorkers> {
  const taskQueue = opts.taskQueue ?? DEFAULT_TASK_QUEUE;
  const namespace = opts.namespace ?? 'default';
  const activities = createActivities(opts.deps);
  // Every payload encrypted (FRESHLINE_PAYLOAD_KEYS from the secret store; fails here, naming it, when missing).
  // Codecs run outside the workflow sandbox, so the bundle needs no payloadConverterPath.
  const dataConverter = await payloadDataConverter(opts.deps.secrets);
  const main = await Worker.create({
    connection: opts.connection,
    namespace,
    taskQueue,
    dataConverter,
    activities,
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    // The embedded warehouse is one file written through one queue: more parallel activities buy nothing.
    maxConcurrentActivityTaskExecutions: 8,
    shutdownGraceTime: '10s',
  });
  const extract = await Promise.all(
    Object.entries(opts.deps.config.sources).map(([name, source]) =>
      Worker.create({
        connection: opts.connection,
        namespace,
        taskQueue: extractTaskQueue(taskQueue, name),
        dataConverter,
        activities: { extract: activities.extract, captureCdc: activities.captureCdc },
        maxConcurrentActivityTaskExecutions: source.maxConcurrentExtracts,
        ...(source.maxExtractsPerSecond ? { maxTaskQueueActivitiesPerSecond: source.maxExtractsPerSecond } : {}),
        shutdownGraceTime: '10s',
      }),
    ),
  );
  const all = [main, ...extract];
  return {
    main,
    extract,
    run: async () => {
      await Promise.all(all.map((w) => w.run()));
    },
    shutdown: () => all.filter((w) => w.getState() === 'RUNNING').forEach((w) => w.shutdown()),
  };
}
