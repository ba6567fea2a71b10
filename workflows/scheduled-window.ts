import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { parseDuration } from '../config/duration';
import { windowWorkflowId } from './ids';
import { pipelineRun, type RunSummary } from './pipeline-run';

/** Input the dataset's Temporal Schedule passes on every firing. */
export interface ScheduledWindowInput {
  dataset: string;
  cadence: string;
}

/**
 * Started by a Temporal Schedule. Derives the window from the schedule's nominal fire time (not the
 * wall clock), so a late or caught-up firing processes the window it was meant for, then runs it as
 * a child with the deterministic id `<dataset>/window/<start>`.
 */
export async function scheduledWindow(input: ScheduledWindowInput): Promise<RunSummary> {
  const nominal = workflowInfo().searchAttributes?.TemporalScheduledStartTime?.[0] as Date | string | undefined;
  if (!nominal)
    throw ApplicationFailure.nonRetryable(
      'scheduledWindow must be started by a Temporal Schedule (no TemporalScheduledStartTime)',
    );
  const cadenceMs = parseDuration(input.cadence);
  const endMs = Math.floor(new Date(nominal).getTime() / cadenceMs) * cadenceMs;
  const window = { start: new Date(endMs - cadenceMs).toISOString(), end: new Date(endMs).toISOString() };
  return executeChild(pipelineRun, {
    workflowId: windowWorkflowId(input.dataset, window.start),
    args: [{ dataset: input.dataset, window }],
  });
}
