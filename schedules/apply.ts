import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { parseDuration } from '../config/duration';
import type { PipelineConfig } from '../config/schema';
import { DEFAULT_TASK_QUEUE } from '../workflows/ids';
import type { ScheduledWindowInput } from '../workflows/scheduled-window';

/** Id of a dataset's schedule. */
export function scheduleId(dataset: string): string {
  return `freshline/${dataset}`;
}

/** What apply did for one dataset. */
export interface ScheduleChange {
  dataset: string;
  scheduleId: string;
  action: 'created' | 'updated';
}

/**
 * Creates or updates one Temporal Schedule per dataset cadence (idempotent: re-applying updates in place).
 * Overlap BUFFER_ONE: a window never runs twice at once and at most one late firing waits.
 */
export async function applySchedules(
  client: Client,
  config: PipelineConfig,
  opts: { taskQueue?: string; catchupWindow?: string; datasets?: string[] } = {},
): Promise<ScheduleChange[]> {
  const changes: ScheduleChange[] = [];
  for (const ds of config.datasets.filter((d) => !opts.datasets || opts.datasets.includes(d.name))) {
    const args: [ScheduledWindowInput] = [{ dataset: ds.name, cadence: ds.cadence }];
    const options = {
      scheduleId: scheduleId(ds.name),
      spec: { intervals: [{ every: parseDuration(ds.cadence) }] },
      action: {
        type: 'startWorkflow' as const,
        workflowType: 'scheduledWindow',
        workflowId: `${ds.name}/scheduled`,
        taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
        args,
      },
      policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: parseDuration(opts.catchupWindow ?? '1h') },
    };
    try {
      await client.schedule.create(options);
      changes.push({ dataset: ds.name, scheduleId: options.scheduleId, action: 'created' });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(options.scheduleId).update((prev) => ({ ...prev, spec: options.spec, action: options.action, policies: options.policies }));
      changes.push({ dataset: ds.name, scheduleId: options.scheduleId, action: 'updated' });
    }
  }
  return changes;
}
