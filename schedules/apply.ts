import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import { parseDuration } from '../config/duration';
import { getDataset } from '../config/load';
import { DEFAULT_RECONCILIATION_CRON, type DatasetConfig, type PipelineConfig } from '../config/schema';
import { DEFAULT_TASK_QUEUE } from '../workflows/ids';
import type { ReconcileRecentInput } from '../workflows/reconcile';
import type { ScheduledWindowInput } from '../workflows/scheduled-window';
import { cadenceWindows, type Window } from './windows';
import {
  CRON_COMMENT_PREFIX,
  describeNew,
  describeOld,
  diffSchedule,
  formatMs,
  planState,
  type DesiredSchedule,
  type ScheduleChange,
  type ScheduleKind,
} from './diff';

export type { DesiredSchedule, ScheduleChange, ScheduleKind } from './diff';

/** Every schedule Freshline manages has an id under this prefix; apply deletes the ones config no longer wants. */
export const SCHEDULE_PREFIX = 'freshline/';

/** Id of a dataset's window schedule. */
export function scheduleId(dataset: string): string {
  return `${SCHEDULE_PREFIX}${dataset}`;
}

/** Id of a dataset's reconciliation schedule. */
export function reconcileScheduleId(dataset: string): string {
  return `${SCHEDULE_PREFIX}${dataset}/reconcile`;
}

/** Id of the freshness monitor's schedule. */
export const FRESHNESS_MONITOR_SCHEDULE_ID = `${SCHEDULE_PREFIX}monitor/freshness`;

/** What a `freshline/…` id is, for schedules found on the server (deletes). */
export function kindOfScheduleId(id: string): { kind: ScheduleKind | 'unknown'; dataset: string | null } {
  if (id === FRESHNESS_MONITOR_SCHEDULE_ID) return { kind: 'monitor', dataset: null };
  const m = /^freshline\/([a-z_][a-z0-9_]*)(\/reconcile)?$/.exec(id);
  if (!m) return { kind: 'unknown', dataset: null };
  return { kind: m[2] ? 'reconcile' : 'window', dataset: m[1] };
}

/** Options of applySchedules. */
export interface ApplyOptions {
  /** Task queue the started workflows go to (default: freshline). */
  taskQueue?: string;
  /**
   * Only these datasets' window schedules, nothing else: no reconciliation, no monitor, no deletes (what
   * the demo uses). Without it apply manages every Freshline schedule and deletes the ones config dropped.
   */
  datasets?: string[];
  /** Compute and return the diff, change nothing. */
  dryRun?: boolean;
}

/** The schedules config wants: per dataset its window and reconciliation schedules, plus the freshness monitor. */
export function desiredSchedules(
  config: PipelineConfig,
  opts: Pick<ApplyOptions, 'taskQueue' | 'datasets'> = {},
): DesiredSchedule[] {
  const taskQueue = opts.taskQueue ?? DEFAULT_TASK_QUEUE;
  const out: DesiredSchedule[] = [];
  const datasets = opts.datasets ? opts.datasets.map((name) => getDataset(config, name)) : config.datasets;
  for (const ds of datasets) {
    out.push(windowSchedule(ds, taskQueue));
    if (!opts.datasets) out.push(reconcileSchedule(ds, config, taskQueue));
  }
  if (!opts.datasets) out.push(monitorSchedule(config, taskQueue));
  return out;
}

/** The dataset's window schedule: every cadence; each firing runs scheduledWindow for the window ending at its nominal time. */
function windowSchedule(ds: DatasetConfig, taskQueue: string): DesiredSchedule {
  const every = parseDuration(ds.cadence);
  const args: [ScheduledWindowInput] = [{ dataset: ds.name, cadence: ds.cadence }];
  return {
    scheduleId: scheduleId(ds.name),
    kind: 'window',
    dataset: ds.name,
    spec: { intervals: [{ every }] },
    specSummary: `every ${formatMs(every)}`,
    action: {
      type: 'startWorkflow',
      workflowType: 'scheduledWindow',
      workflowId: `${ds.name}/scheduled`,
      taskQueue,
      args,
    },
    // BUFFER_ONE: a window never runs twice at once and at most one late firing waits.
    policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: parseDuration(ds.schedule.catchupWindow) },
    paused: ds.schedule.paused,
  };
}

/** The dataset's reconciliation: reconcileRecent, which backfills (reload) the last reconciliation.days days. */
function reconcileSchedule(ds: DatasetConfig, config: PipelineConfig, taskQueue: string): DesiredSchedule {
  const r = config.reconciliation;
  const args: [ReconcileRecentInput] = [{ dataset: ds.name, days: r.days }];
  let spec: DesiredSchedule['spec'];
  let specSummary: string;
  if (r.every) {
    const every = parseDuration(r.every);
    spec = { intervals: [{ every }] };
    specSummary = `every ${formatMs(every)}`;
  } else {
    const cron = (r.cron ?? DEFAULT_RECONCILIATION_CRON).trim();
    specSummary = `cron ${cron} UTC`;
    // The server compiles cron into calendars; the comment keeps the expression so the next apply can compare.
    spec = { cronExpressions: [`${cron} # ${CRON_COMMENT_PREFIX}${specSummary}`], timezone: 'UTC' };
  }
  return {
    scheduleId: reconcileScheduleId(ds.name),
    kind: 'reconcile',
    dataset: ds.name,
    spec,
    specSummary,
    action: {
      type: 'startWorkflow',
      workflowType: 'reconcileRecent',
      workflowId: `${ds.name}/reconcile`,
      taskQueue,
      args,
    },
    // SKIP: a reconciliation still running when the next is due is left to finish; the next covers the same days.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: parseDuration(ds.schedule.catchupWindow) },
    paused: ds.schedule.paused,
  };
}

/** The freshness monitor: every monitors.freshness.every, never two at once, no catch-up beyond one interval. */
function monitorSchedule(config: PipelineConfig, taskQueue: string): DesiredSchedule {
  const every = parseDuration(config.monitors.freshness.every);
  return {
    scheduleId: FRESHNESS_MONITOR_SCHEDULE_ID,
    kind: 'monitor',
    dataset: null,
    spec: { intervals: [{ every }] },
    specSummary: `every ${formatMs(every)}`,
    action: {
      type: 'startWorkflow',
      workflowType: 'freshnessMonitor',
      workflowId: FRESHNESS_MONITOR_SCHEDULE_ID,
      taskQueue,
      args: [],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(every, 10_000) },
    paused: false,
  };
}

async function describeOrNull(client: Client, id: string): Promise<ScheduleDescription | null> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

/**
 * Makes Temporal's schedules match config, idempotently: creates the missing ones, updates in place the
 * ones that differ (spec, action, task queue, args, overlap, catch-up window, config pause), leaves equal
 * ones alone, and deletes `freshline/…` schedules config no longer wants (a removed dataset's). Re-applying
 * never duplicates: schedule ids are deterministic and a create that races another apply becomes an update.
 * With `dryRun` it returns the same diff and changes nothing.
 *
 * Deletes come from the schedule listing, which Temporal serves from its visibility store: a schedule
 * created a moment ago may not be listed yet (the next apply deletes it).
 */
export async function applySchedules(
  client: Client,
  config: PipelineConfig,
  opts: ApplyOptions = {},
): Promise<ScheduleChange[]> {
  const desired = desiredSchedules(config, opts);
  const changes: ScheduleChange[] = [];
  for (const d of desired) {
    const current = await describeOrNull(client, d.scheduleId);
    const base = { scheduleId: d.scheduleId, kind: d.kind, dataset: d.dataset };
    if (!current) {
      if (!opts.dryRun) {
        const created = await create(client, d);
        if (!created) {
          // Created by a concurrent apply between describe and create: treat it as existing.
          const again = await describeOrNull(client, d.scheduleId);
          if (again) {
            changes.push({ ...base, ...(await update(client, d, again)) });
            continue;
          }
        }
      }
      changes.push({ ...base, action: 'created', changes: describeNew(d), notes: [] });
      continue;
    }
    const diff = diffSchedule(d, current);
    if (diff.changes.length && !opts.dryRun) await update(client, d, current);
    changes.push({
      ...base,
      action: diff.changes.length ? 'updated' : 'unchanged',
      changes: diff.changes,
      notes: diff.notes,
    });
  }
  if (!opts.datasets) {
    const wanted = new Set(desired.map((d) => d.scheduleId));
    const orphans: ScheduleSummary[] = [];
    for await (const s of client.schedule.list())
      if (s.scheduleId.startsWith(SCHEDULE_PREFIX) && !wanted.has(s.scheduleId)) orphans.push(s);
    for (const s of orphans.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId))) {
      if (!opts.dryRun) {
        try {
          await client.schedule.getHandle(s.scheduleId).delete();
        } catch (err) {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        }
      }
      changes.push({
        scheduleId: s.scheduleId,
        ...kindOfScheduleId(s.scheduleId),
        action: 'deleted',
        changes: describeOld(s),
        notes: [],
      });
    }
  }
  return changes;
}

async function create(client: Client, d: DesiredSchedule): Promise<boolean> {
  const state = planState(d, undefined);
  try {
    await client.schedule.create({
      scheduleId: d.scheduleId,
      spec: d.spec,
      action: d.action,
      policies: d.policies,
      state: { paused: state.paused, ...(state.note ? { note: state.note } : {}) },
      memo: { managedBy: 'freshline schedules apply', kind: d.kind, ...(d.dataset ? { dataset: d.dataset } : {}) },
    });
    return true;
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return false;
    throw err;
  }
}

async function update(
  client: Client,
  d: DesiredSchedule,
  current: ScheduleDescription,
): Promise<Pick<ScheduleChange, 'action' | 'changes' | 'notes'>> {
  const diff = diffSchedule(d, current);
  if (!diff.changes.length) return { action: 'unchanged', changes: [], notes: diff.notes };
  await client.schedule.getHandle(d.scheduleId).update((prev) => ({
    spec: d.spec,
    action: d.action,
    policies: d.policies,
    state: { paused: diff.state.paused, note: diff.state.note, remainingActions: prev.state.remainingActions },
  }));
  return { action: 'updated', changes: diff.changes, notes: diff.notes };
}

/** A dataset's schedules that exist on the server: its window schedule (required) and its reconciliation (if applied). */
async function datasetHandles(client: Client, dataset: string) {
  const ids = [scheduleId(dataset), reconcileScheduleId(dataset)];
  const found: { id: string; description: ScheduleDescription }[] = [];
  for (const id of ids) {
    const description = await describeOrNull(client, id);
    if (description) found.push({ id, description });
  }
  if (!found.some((f) => f.id === ids[0]))
    throw new ScheduleNotFoundError(`no schedule ${ids[0]}: run \`freshline schedules apply\` first`, ids[0]);
  return found;
}

/**
 * Pauses a dataset's schedules (window and reconciliation) with the operator's note. `schedules apply`
 * never undoes this pause; `resumeDataset` does.
 */
export async function pauseDataset(client: Client, dataset: string, note: string): Promise<string[]> {
  const found = await datasetHandles(client, dataset);
  for (const f of found) await client.schedule.getHandle(f.id).pause(note);
  return found.map((f) => f.id);
}

/** Resumes a dataset's schedules with a note. */
export async function resumeDataset(client: Client, dataset: string, note: string): Promise<string[]> {
  const found = await datasetHandles(client, dataset);
  for (const f of found) await client.schedule.getHandle(f.id).unpause(note);
  return found.map((f) => f.id);
}

/**
 * Runs a schedule's action now (works while paused). The window schedule's run processes the last
 * complete window before now (its nominal time is the trigger time); overlap BUFFER_ONE, like the
 * schedule, so it waits for a run in progress instead of racing it.
 */
export async function triggerDataset(
  client: Client,
  dataset: string,
  what: 'window' | 'reconcile' = 'window',
): Promise<string> {
  const id = what === 'window' ? scheduleId(dataset) : reconcileScheduleId(dataset);
  if (!(await describeOrNull(client, id)))
    throw new ScheduleNotFoundError(`no schedule ${id}: run \`freshline schedules apply\` first`, id);
  await client.schedule
    .getHandle(id)
    .trigger(what === 'window' ? ScheduleOverlapPolicy.BUFFER_ONE : ScheduleOverlapPolicy.SKIP);
  return id;
}

/**
 * Catch-up: fires the dataset's window schedule for every cadence window inside [from, to) that was
 * missed (an outage longer than schedule.catchupWindow, a pause), as if that time were passing now —
 * each firing gets its window's nominal time, so it runs `<dataset>/window/<start>` for exactly that
 * window, oldest first, one at a time (overlap BUFFER_ALL for the backfill). Windows that already ran
 * run again, idempotently. For days of history prefer a partition backfill (`backfill` workflow).
 */
export async function catchUpDataset(
  client: Client,
  ds: DatasetConfig,
  from: Date | string,
  to: Date | string,
): Promise<Window[]> {
  const windows = cadenceWindows(ds.cadence, from, to);
  if (windows.length === 0)
    throw new Error(`no complete ${ds.cadence} window of ${ds.name} inside [${String(from)}, ${String(to)})`);
  const id = scheduleId(ds.name);
  if (!(await describeOrNull(client, id)))
    throw new ScheduleNotFoundError(`no schedule ${id}: run \`freshline schedules apply\` first`, id);
  // A window's nominal fire time is its end; Temporal's backfill range includes both ends.
  await client.schedule.getHandle(id).backfill([
    {
      start: new Date(windows[0].end),
      end: new Date(windows[windows.length - 1].end),
      overlap: ScheduleOverlapPolicy.BUFFER_ALL,
    },
  ]);
  return windows;
}
