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

/**
 * One range bound in a backfill id: the date (`2026-08-01`) for day partitions, the hour (`2026-08-01T05:00Z`)
 * for hour partitions. Bounds are aligned to the partition first (partitions align to UTC days or hours).
 */
function rangeBound(ms: number, partition: 'day' | 'hour'): string {
  const iso = new Date(ms).toISOString();
  return partition === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 16)}Z`;
}

/**
 * The canonical workflow id of a backfill of `dataset` over [from, to) by `partition`:
 * `sales_core/backfill/2026-08-01--2026-11-01` (day partitions), `sales_core/backfill/2026-08-01T05:00Z--2026-08-01T09:00Z`
 * (hour partitions). Any spelling of the same instants gives the same id (`…T00:00:00Z`, `…T00:00:00.000Z`,
 * `+00:00`), and so does any range covering the same partitions (from is aligned down, to up, to the partition),
 * so starting the same backfill twice — `freshline backfill`, the UI or `temporal workflow start` with the id the
 * README shows, the nightly reconciliation — meets one workflow instead of running twice.
 */
export function backfillWorkflowId(
  dataset: string,
  from: string,
  to: string,
  partition: 'day' | 'hour' = 'day',
): string {
  const step = partition === 'day' ? 86_400_000 : 3_600_000;
  const f = Date.parse(from);
  const t = Date.parse(to);
  if (Number.isNaN(f) || Number.isNaN(t))
    throw new Error(`backfill range [${from}, ${to}) is not two ISO-8601 instants`);
  const start = Math.floor(f / step) * step;
  const end = Math.ceil(t / step) * step;
  return `${dataset}/backfill/${rangeBound(start, partition)}--${rangeBound(end, partition)}`;
}
