/** Deterministic id of a window's run: re-running a window reuses it, so Temporal never runs it twice at once. */
export function windowWorkflowId(dataset: string, windowStart: string): string {
  return `${dataset}/window/${windowStart}`;
}

/** Task queue every Freshline worker polls unless configured otherwise. */
export const DEFAULT_TASK_QUEUE = 'freshline';

/** Task queue of a source's extract activities: its workers bound how hard the source is read. */
export function extractTaskQueue(taskQueue: string, source: string): string {
  return `${taskQueue}.extract.${source}`;
}

/** Deterministic id of a backfill partition's run: two backfills over the same partition meet on it. */
export function partitionWorkflowId(dataset: string, partitionStart: string): string {
  return `${dataset}/partition/${partitionStart}`;
}
