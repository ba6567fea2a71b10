import type { Client } from '@temporalio/client';
import type { Payload, ProtoFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';

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

/** Every payload object in a fetched history, in place (as Temporal stores it: encrypted unless decoded). */
export function historyPayloads(history: unknown): Payload[] {
  const found: Payload[] = [];
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
    if (Array.isArray(value)) return value.forEach(walk);
    const o = value as Record<string, unknown>;
    // A Payload message: a metadata map and data bytes (and nothing to walk below).
    if ('metadata' in o && 'data' in o && typeof o.metadata === 'object') return void found.push(o as Payload);
    Object.values(o).forEach(walk);
  };
  walk(history);
  return found;
}

/**
 * The run's whole history as text with every payload decoded by the client's codecs (what anyone with UI
 * and codec server access can read). fetchHistory returns payloads as stored, so they are decoded here.
 */
export async function decodedHistoryText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const codecs = client.options.loadedDataConverter.payloadCodecs;
  for (const payload of historyPayloads(history)) {
    let decoded: Payload = payload;
    for (const codec of [...codecs].reverse()) [decoded] = await codec.decode([decoded]);
    Object.assign(payload, { metadata: decoded.metadata, data: decoded.data });
  }
  return JSON.stringify(history.events, (key, value: unknown) => {
    if (key === 'data' && typeof value === 'string') return Buffer.from(value, 'base64').toString('utf8');
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    return value;
  });
}

/** A failure as the client's converter reads it (Temporal stores "Encoded failure"; the codec holds the text). */
export async function decodedFailureMessage(client: Client, failure: ProtoFailure | null | undefined): Promise<string> {
  const err = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, failure);
  return err?.message ?? '';
}
