import { defineQuery, defineSignal } from '@temporalio/workflow';

/** Asks a running pipelineRun to tell `workflowId` when it finishes (how a backfill joins a partition it did not start). */
export const notifyOnFinishSignal = defineSignal<[{ workflowId: string }]>('notifyOnFinish');

/** A partition run finished: sent to every workflow that asked with notifyOnFinish. */
export const partitionDoneSignal = defineSignal<[{ workflowId: string; status: string }]>('partitionDone');

/** A child run changed state (blocked at its gate, running again): sent to its parent. */
export const partitionStateSignal = defineSignal<[{ workflowId: string; state: string }]>('partitionState');

/** What a backfill's `progress` query returns. */
export interface BackfillProgress {
  dataset: string;
  from: string;
  to: string;
  total: number;
  done: number;
  failed: number;
  /** Completed earlier and not re-run (rerunCompleted: false). */
  skipped: number;
  /** Running partitions this backfill started or joined. */
  running: number;
  /** Of those, waiting at a blocked gate. */
  blocked: number;
  /** Partitions that were already running elsewhere and were awaited instead of started. */
  joined: number;
  /** Seconds to go at the pace so far (null until a partition finished). */
  etaSeconds: number | null;
  /** The final transform → gate → publish over everything loaded: pending, running, then its run status. */
  publish: string;
  /** How many times this backfill continued as new (history kept small). */
  continuedAsNew: number;
  /** The most recent failed partitions (at most 100, oldest first); `failed` counts them all. */
  failures: { partition: string; error: string }[];
}

/** The backfill's progress (done/running/failed/blocked, ETA). */
export const progressQuery = defineQuery<BackfillProgress>('progress');
