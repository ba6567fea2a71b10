import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const { TaskQueueKind, TaskQueueType } = temporal.api.enums.v1;

/** A task queue and the task types whose pollers to wait for. */
export interface PolledQueue {
  taskQueue: string;
  types: ('workflow' | 'activity')[];
}

/**
 * Resolves once the server lists, on every queue and task type given, a poller of each identity (matched by
 * prefix, e.g. `${pid}@` for a worker's default identity `<pid>@<host>`): every one of those workers is then
 * polling there, so the next task can go to any of them. A worker's `run()` only starts its pollers; on a
 * busy machine the first poll reaches the server later. Throws, naming what is missing, after `timeoutMs`
 * (a bound, so a worker that never polls fails the test instead of hanging it; not a speed assertion).
 */
export async function waitForPollers(
  client: Client,
  queues: PolledQueue[],
  identities: string[],
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing: string[] = [];
    for (const { taskQueue, types } of queues)
      for (const type of types) {
        const { pollers } = await client.workflowService.describeTaskQueue({
          namespace: client.options.namespace,
          taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType:
            type === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        });
        for (const id of identities)
          if (!pollers.some((p) => p.identity?.startsWith(id))) missing.push(`${id} on ${taskQueue} (${type})`);
      }
    if (!missing.length) return;
    if (Date.now() > deadline) throw new Error(`no poller after ${timeoutMs / 1000}s from ${missing.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
