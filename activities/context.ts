import { Context } from '@temporalio/activity';
import type { RunIdentity } from './warehouse/audit/runs';
import type { Warehouse } from './warehouse/warehouse';
import type { ActivityDeps } from './deps';

/** The window a run owns, as passed between workflow and activities. */
export interface RunWindow {
  dataset: string;
  window: { start: string; end: string };
}

/** Identity of the calling workflow run, for lineage and audit rows. */
export function runIdentity(input: RunWindow): RunIdentity {
  return { ...currentRun(), dataset: input.dataset, window: input.window };
}

/** The workflow execution that scheduled the current activity. */
export function currentRun(): { workflowId: string; runId: string } {
  const exec = Context.current().info.workflowExecution;
  if (!exec) throw new Error('Freshline activities run only inside a workflow (no workflow execution in context)');
  return { workflowId: exec.workflowId, runId: exec.runId };
}

/**
 * The warehouse as a step should use it: its statements tagged with dataset, workflow, run and step
 * where the engine keeps query tags (Snowflake QUERY_TAG), so QUERY_HISTORY ties cost and failures to a run.
 */
export function runWarehouse(deps: ActivityDeps, input: RunWindow, step: string): Warehouse {
  const { workflowId, runId } = currentRun();
  return deps.warehouse.withQueryTag?.({ dataset: input.dataset, workflowId, runId, step }) ?? deps.warehouse;
}

/**
 * Runs `fn` heartbeating every 10 s so a stuck worker is detected by heartbeat timeout, not hours
 * later. `fn` may record progress with `beat(details)`: the periodic heartbeat repeats the latest
 * details, so a retried attempt reads them back (Context.info.heartbeatDetails) and resumes.
 */
export async function withHeartbeat<T>(
  deps: ActivityDeps,
  step: string,
  fn: (beat: (details: unknown) => void) => Promise<T>,
): Promise<T> {
  const ctx = Context.current();
  await deps.beforeStep?.(step, ctx.info.attempt);
  let details: unknown = ctx.info.heartbeatDetails ?? { step };
  const beat = (next: unknown) => {
    details = next;
    ctx.heartbeat(details);
  };
  beat(details);
  const timer = setInterval(() => ctx.heartbeat(details), 10_000);
  try {
    return await fn(beat);
  } finally {
    clearInterval(timer);
  }
}
