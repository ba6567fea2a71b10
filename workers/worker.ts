import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { DEFAULT_TASK_QUEUE } from '../workflows/ids';

/** Bundles the workflow code once (webpack); reuse the result across workers in one process. */
export async function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } });
}

/** Creates a worker for Freshline's workflows and activities on the given connection. */
export async function createFreshlineWorker(opts: {
  connection: NativeConnection;
  deps: ActivityDeps;
  namespace?: string;
  taskQueue?: string;
  workflowBundle?: WorkflowBundle | { codePath: string };
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    activities: createActivities(opts.deps),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    // Bounded per worker: extraction holds source connections, and the embedded warehouse is one file.
    maxConcurrentActivityTaskExecutions: 8,
    shutdownGraceTime: '10s',
  });
}
