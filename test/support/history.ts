import type { Client } from '@temporalio/client';

/** Activity types scheduled in a run's history, and the attempt each activity completed or failed on. */
export async function activityHistory(client: Client, workflowId: string) {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled: Record<string, number> = {};
  const typeById = new Map<string, string>();
  const attempts: Record<string, number[]> = {};
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const type = s.activityType?.name ?? '?';
      scheduled[type] = (scheduled[type] ?? 0) + 1;
      typeById.set(String(e.eventId), type);
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st) (attempts[typeById.get(String(st.scheduledEventId)) ?? '?'] ??= []).push(st.attempt ?? 0);
  }
  return { scheduled, attempts };
}
