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

/** The run's whole history as text with every payload decoded (what anyone with UI access can read). */
export async function decodedHistoryText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return JSON.stringify(history.events, (key, value: unknown) => {
    if (key === 'data' && typeof value === 'string') return Buffer.from(value, 'base64').toString('utf8');
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    return value;
  });
}
