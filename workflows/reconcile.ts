import { ApplicationFailure, executeChild, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { z } from 'zod';
import { formatIssues } from '../config/format-issues';
import type { Activities } from '../activities';
import { backfillWorkflowId } from './ids';

const compaction = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '10s', maximumAttempts: 3 },
});

/** Input the dataset's reconciliation schedule (`freshline/<dataset>/reconcile`) passes on every firing. */
export const ReconcileRecentInputSchema = z.object({
  /** Dataset name from config. */
  dataset: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a dataset name from config (lower-case identifier)'),
  /** How many days back from the firing time to reload (config reconciliation.days). */
  days: z.number().int().min(1).max(366),
});

export type ReconcileRecentInput = z.input<typeof ReconcileRecentInputSchema>;

/**
 * The backfill this starts, by workflow type name (workflows/backfill.ts owns the type): the last `days`
 * days up to the firing time, reloaded by business-date day partition, two at a time, including days an
 * earlier reconciliation already reloaded.
 */
export interface ReconcileBackfillArgs {
  dataset: string;
  from: string;
  to: string;
  partition: 'day';
  mode: 'reload';
  maxConcurrent: number;
  /**
   * Always true: the day partitions last night's reconciliation completed (ids `<dataset>/partition/<day>`)
   * must be reloaded again tonight, or late corrections to them would be skipped.
   */
  rerunCompleted: true;
}

/** What a reconciliation returns (also in the Temporal UI). */
export interface ReconcileResult {
  /** Workflow id of the backfill child: its canonical id (`backfillWorkflowId`), e.g. `sales_core/backfill/2026-11-15--2026-11-23`. */
  backfillWorkflowId: string;
  args: ReconcileBackfillArgs;
  /** completed: the child finished; already_running: a reconciliation of the same date was still running. */
  status: 'completed' | 'already_running';
  /** The backfill's own result. */
  result?: unknown;
  /**
   * Bounded raw, after a completed reload: superseded versions extracted before `olderThan` (twice the
   * reconciliation horizon back) removed, per raw table.
   */
  compacted?: { olderThan: string; tables: { table: string; removed: number }[] };
}

/** The schedule's nominal fire time (TemporalScheduledStartTime), or the start time when started by hand. */
function firingTime(): Date {
  const info = workflowInfo();
  const nominal = info.searchAttributes?.TemporalScheduledStartTime?.[0] as Date | string | undefined;
  return nominal ? new Date(nominal) : info.runStartTime;
}

/**
 * Started nightly by the reconciliation schedule. A schedule action cannot compute "now − 7 days", so
 * this tiny workflow derives [firing − days, firing) from the schedule's nominal time (a late or
 * caught-up firing reconciles the days it was meant for) and runs the `backfill` workflow over it as a
 * child with the deterministic id `<dataset>/reconcile/<date>`, reloading every day partition: late
 * corrections up to `days` old and windows the regular schedule missed (outage beyond its catch-up
 * window) are filled the same night. Then raw is compacted: versions older than twice the horizon that no
 * model reads any more are removed (bounded raw; warehouse/raw-compaction.ts).
 */
export async function reconcileRecent(rawInput: ReconcileRecentInput): Promise<ReconcileResult> {
  const parsed = ReconcileRecentInputSchema.safeParse(rawInput);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `invalid reconcileRecent input:\n${formatIssues(parsed.error)}`,
      'InvalidInput',
    );
  const { dataset, days } = parsed.data;
  const to = firingTime();
  const args: ReconcileBackfillArgs = {
    dataset,
    from: new Date(to.getTime() - days * 86_400_000).toISOString(),
    to: to.toISOString(),
    partition: 'day',
    mode: 'reload',
    maxConcurrent: 2,
    rerunCompleted: true,
  };
  // The backfill's canonical id (dataset, day-aligned range): a manual `freshline backfill` of the same days and
  // a second firing the same day meet this one. Runs started before the change keep `<dataset>/reconcile/<date>`.
  const childId = patched('canonical-backfill-id')
    ? backfillWorkflowId(dataset, args.from, args.to, 'day')
    : `${dataset}/reconcile/${args.to.slice(0, 10)}`;
  try {
    const result = await executeChild('backfill', { workflowId: childId, args: [args] });
    if (!patched('compact-raw-after-reconcile'))
      return { backfillWorkflowId: childId, args, status: 'completed', result };
    // Versions older than twice the horizon are history no reload or re-run replaces any more.
    const olderThan = new Date(to.getTime() - 2 * days * 86_400_000).toISOString();
    const { tables } = await compaction.compactRaw({ olderThan });
    return { backfillWorkflowId: childId, args, status: 'completed', result, compacted: { olderThan, tables } };
  } catch (err) {
    // Another firing of the same date (a manual trigger, a catch-up) is still reconciling: let it finish.
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      return { backfillWorkflowId: childId, args, status: 'already_running' };
    throw err;
  }
}
