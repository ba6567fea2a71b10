import type { ScheduleDescription, ScheduleOverlapPolicy, ScheduleSpec, ScheduleSummary } from '@temporalio/client';

/** What a Freshline schedule is for. */
export type ScheduleKind = 'window' | 'reconcile' | 'monitor';

/** One schedule as config wants it (built by desiredSchedules in apply.ts). */
export interface DesiredSchedule {
  scheduleId: string;
  kind: ScheduleKind;
  /** The dataset it serves (null for the monitor). */
  dataset: string | null;
  spec: ScheduleSpec;
  /** One-line reading of `spec`, e.g. `every 15m` or `cron 0 2 * * * UTC` (what the diff compares and prints). */
  specSummary: string;
  action: { type: 'startWorkflow'; workflowType: string; workflowId: string; taskQueue: string; args: unknown[] };
  policies: { overlap: ScheduleOverlapPolicy; catchupWindow: number };
  /** Config wants it paused (datasets[].schedule.paused). */
  paused: boolean;
}

/** What apply did, or would do in a dry run, to one schedule. */
export interface ScheduleChange {
  scheduleId: string;
  kind: ScheduleKind | 'unknown';
  dataset: string | null;
  action: 'created' | 'updated' | 'unchanged' | 'deleted';
  /** created: what it will be; updated: `field: old → new` per change; deleted: what it was. */
  changes: string[];
  /** Facts that are not changes, e.g. a schedule an operator paused stays paused. */
  notes: string[];
}

/** The note a pause set by config carries: apply undoes only pauses with this note, never an operator's. */
export const CONFIG_PAUSE_NOTE = 'paused by config (datasets[].schedule.paused), freshline schedules apply';
/** The note apply leaves when config stops pausing a schedule. */
export const CONFIG_RESUME_NOTE = 'resumed: config no longer pauses it (freshline schedules apply)';

/** Prefix of the calendar comment that records the cron expression a spec was made from (the server compiles cron away). */
export const CRON_COMMENT_PREFIX = 'freshline: ';

/** Milliseconds as the shortest config-style duration: 900000 → 15m, 5400000 → 90m, 86400000 → 1d. */
export function formatMs(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A described (or listed) spec read back as one line comparable with DesiredSchedule.specSummary. */
export function describeSpec(spec: ScheduleDescription['spec'] | undefined): string {
  if (!spec) return '(unknown)';
  const parts: string[] = [];
  for (const i of spec.intervals ?? [])
    parts.push(`every ${formatMs(i.every)}${i.offset ? ` offset ${formatMs(i.offset)}` : ''}`);
  for (const c of spec.calendars ?? []) {
    // Cron expressions come back compiled into calendars; the comment apply put on them says which cron.
    if (c.comment?.startsWith(CRON_COMMENT_PREFIX)) parts.push(c.comment.slice(CRON_COMMENT_PREFIX.length));
    else parts.push(`calendar ${JSON.stringify({ ...c, comment: undefined })}`);
  }
  if (spec.timezone && spec.timezone !== 'UTC') parts.push(`timezone ${spec.timezone}`);
  return parts.join('; ') || '(no times)';
}

/** Stable JSON (sorted keys), so equal args compare equal whatever their key order. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** How apply must set the schedule's state, and the diff lines that go with it. */
export interface StatePlan {
  paused: boolean;
  note: string | undefined;
  changes: string[];
  notes: string[];
}

/**
 * Pausing rules: config `paused: true` pauses (note CONFIG_PAUSE_NOTE); when config no longer says so,
 * apply resumes only a schedule config paused. A schedule an operator paused (`schedules pause`, the UI)
 * stays paused whatever apply runs — an incident pause must not be undone by a deploy.
 */
export function planState(
  desired: DesiredSchedule,
  current: { paused: boolean; note?: string } | undefined,
): StatePlan {
  if (!current)
    return { paused: desired.paused, note: desired.paused ? CONFIG_PAUSE_NOTE : undefined, changes: [], notes: [] };
  const byConfig = current.note === CONFIG_PAUSE_NOTE;
  if (desired.paused && !current.paused)
    return {
      paused: true,
      note: CONFIG_PAUSE_NOTE,
      changes: ['paused: no → yes (schedule.paused in config)'],
      notes: [],
    };
  if (!desired.paused && current.paused && byConfig)
    return {
      paused: false,
      note: CONFIG_RESUME_NOTE,
      changes: ['paused: yes → no (config no longer pauses it)'],
      notes: [],
    };
  const notes: string[] = [];
  if (current.paused && !byConfig) {
    notes.push(
      `stays paused by an operator (${current.note || 'no note'})${desired.paused ? '' : `: resume with \`freshline schedules resume${desired.dataset ? ` ${desired.dataset}` : ''}\``}`,
    );
  }
  return { paused: current.paused, note: current.note, changes: [], notes };
}

/** The differences between what config wants and what Temporal has, one `field: old → new` line each. */
export function diffSchedule(
  desired: DesiredSchedule,
  current: ScheduleDescription,
): { changes: string[]; notes: string[]; state: StatePlan } {
  const changes: string[] = [];
  const cmp = (field: string, was: string, want: string) => {
    if (was !== want) changes.push(`${field}: ${was} → ${want}`);
  };
  cmp('spec', describeSpec(current.spec), desired.specSummary);
  cmp('workflowType', current.action.workflowType, desired.action.workflowType);
  cmp('taskQueue', String(current.action.taskQueue), desired.action.taskQueue);
  cmp('workflowId', String(current.action.workflowId), desired.action.workflowId);
  cmp('args', stable(current.action.args ?? []), stable(desired.action.args));
  cmp('overlap', String(current.policies.overlap), String(desired.policies.overlap));
  cmp('catchupWindow', formatMs(current.policies.catchupWindow), formatMs(desired.policies.catchupWindow));
  const state = planState(desired, current.state);
  return { changes: [...changes, ...state.changes], notes: state.notes, state };
}

/** What a new schedule will be, as lines for the create entry of the diff. */
export function describeNew(desired: DesiredSchedule): string[] {
  return [
    `spec: ${desired.specSummary}`,
    `action: ${desired.action.workflowType}(${stable(desired.action.args)}) on task queue ${desired.action.taskQueue}`,
    `overlap: ${desired.policies.overlap}, catchupWindow: ${formatMs(desired.policies.catchupWindow)}`,
    ...(desired.paused ? ['paused (schedule.paused in config)'] : []),
  ];
}

/** What a schedule about to be deleted was, from the listing. */
export function describeOld(summary: ScheduleSummary): string[] {
  return [
    `was: ${summary.action?.workflowType ?? '?'} ${describeSpec(summary.spec as ScheduleDescription['spec'] | undefined)}${summary.state.paused ? ' (paused)' : ''}`,
  ];
}

/** Renders changes as the diff `schedules apply` prints: one block per schedule, unchanged ones on one line. */
export function formatChanges(changes: ScheduleChange[], dryRun: boolean): string {
  const verb = {
    created: dryRun ? 'create' : 'created',
    updated: dryRun ? 'update' : 'updated',
    deleted: dryRun ? 'delete' : 'deleted',
    unchanged: 'unchanged',
  };
  const sign = { created: '+', updated: '~', deleted: '-', unchanged: '=' };
  const lines: string[] = [];
  for (const c of changes) {
    lines.push(`${sign[c.action]} ${verb[c.action].padEnd(9)} ${c.scheduleId}`);
    if (c.action !== 'unchanged') for (const line of c.changes) lines.push(`      ${line}`);
    for (const n of c.notes) lines.push(`      note: ${n}`);
  }
  const count = (a: ScheduleChange['action']) => changes.filter((c) => c.action === a).length;
  lines.push(
    `${dryRun ? 'dry run, nothing changed: would create' : 'created'} ${count('created')}, ${dryRun ? 'update' : 'updated'} ${count('updated')}, ` +
      `${dryRun ? 'delete' : 'deleted'} ${count('deleted')}, unchanged ${count('unchanged')}`,
  );
  return lines.join('\n');
}
