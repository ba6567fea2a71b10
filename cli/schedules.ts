import { isDuration, parseDuration } from '../config/duration';
import { getDataset, loadConfig } from '../config/load';
import type { PipelineConfig } from '../config/schema';
import { applySchedules, catchUpDataset, pauseDataset, resumeDataset, triggerDataset } from '../schedules/apply';
import { formatChanges } from '../schedules/diff';
import { temporalTarget, withClient, type TemporalTarget } from './dq';

type Out = (s: string) => void;
const stdout: Out = (s) => void process.stdout.write(`${s}\n`);

/** Options every `schedules` command takes; `config` lets tests pass one (default: FRESHLINE_CONFIG or config/pipeline.yaml). */
export type SchedulesOptions = Partial<TemporalTarget> & { config?: PipelineConfig };

/**
 * `freshline schedules apply [--dry-run]`: one window schedule and one reconciliation schedule per
 * dataset plus the freshness monitor, created or updated in place; schedules of removed datasets
 * deleted. Prints the diff (what changed, field by field). Exit code 0.
 */
export async function schedulesApplyCommand(
  opts: SchedulesOptions & { dryRun?: boolean },
  out: Out = stdout,
): Promise<number> {
  const target = temporalTarget(opts);
  const config = opts.config ?? loadConfig();
  const changes = await withClient(target, (client) =>
    applySchedules(client, config, { taskQueue: target.taskQueue, dryRun: !!opts.dryRun }),
  );
  out(formatChanges(changes, !!opts.dryRun));
  return 0;
}

/** `freshline schedules pause <dataset> --note <why>`: pauses its window and reconciliation schedules; apply never undoes it. */
export async function schedulesPauseCommand(
  dataset: string,
  opts: SchedulesOptions & { note: string },
  out: Out = stdout,
): Promise<number> {
  getDataset(opts.config ?? loadConfig(), dataset);
  const ids = await withClient(temporalTarget(opts), (client) => pauseDataset(client, dataset, opts.note));
  out(`paused ${ids.join(', ')}: ${opts.note}`);
  out(
    `  \`freshline schedules apply\` keeps it paused; resume with \`freshline schedules resume ${dataset}\`. Windows missed meanwhile: \`freshline schedules catch-up ${dataset} --from <when paused>\`.`,
  );
  return 0;
}

/** `freshline schedules resume <dataset> [--note <why>]`. */
export async function schedulesResumeCommand(
  dataset: string,
  opts: SchedulesOptions & { note?: string },
  out: Out = stdout,
): Promise<number> {
  const ds = getDataset(opts.config ?? loadConfig(), dataset);
  const note = opts.note ?? 'resumed via freshline schedules resume';
  const ids = await withClient(temporalTarget(opts), (client) => resumeDataset(client, dataset, note));
  out(`resumed ${ids.join(', ')}: ${note}`);
  if (ds.schedule.paused)
    out(
      `  warning: config says datasets[${dataset}].schedule.paused: true — the next \`freshline schedules apply\` pauses it again`,
    );
  return 0;
}

/** `freshline schedules trigger <dataset> [--reconcile]`: runs the schedule's action now (the last complete window; or the reconciliation). */
export async function schedulesTriggerCommand(
  dataset: string,
  opts: SchedulesOptions & { reconcile?: boolean },
  out: Out = stdout,
): Promise<number> {
  const ds = getDataset(opts.config ?? loadConfig(), dataset);
  const id = await withClient(temporalTarget(opts), (client) =>
    triggerDataset(client, dataset, opts.reconcile ? 'reconcile' : 'window'),
  );
  out(
    opts.reconcile
      ? `triggered ${id}: reconciles the last days up to now (workflow ${dataset}/reconcile-<time>)`
      : `triggered ${id}: runs the last complete ${ds.cadence} window before now (workflow ${dataset}/scheduled-<time> → ${dataset}/window/<start>)`,
  );
  return 0;
}

/** An instant given as ISO-8601, or as a duration before now (`6h` = six hours ago). */
export function instantArg(value: string, now = new Date()): Date {
  if (isDuration(value)) return new Date(now.getTime() - parseDuration(value));
  const t = Date.parse(value);
  if (Number.isNaN(t) || !/T|^\d{4}-\d{2}-\d{2}$/.test(value))
    throw new Error(`'${value}' is neither an ISO-8601 instant (2026-11-22T10:00:00Z) nor a duration before now (6h)`);
  return new Date(t);
}

/** The `--to` of a catch-up: no later than one cadence past the wall clock (a future window would certify freshness ahead of time). */
export function catchUpTo(value: string | undefined, cadence: string, now = new Date()): Date {
  const to = value ? instantArg(value, now) : now;
  if (to.getTime() > now.getTime() + parseDuration(cadence))
    throw new Error(
      `--to: ${to.toISOString()} is more than one cadence (${cadence}) after now (${now.toISOString()}); windows in the future cannot be caught up`,
    );
  return to;
}

/**
 * `freshline schedules catch-up <dataset> --from <when> [--to <when>]`: re-fires the window schedule for
 * every window in the range, oldest first, one at a time (each with its own nominal time and window id).
 */
export async function schedulesCatchUpCommand(
  dataset: string,
  opts: SchedulesOptions & { from: string; to?: string },
  out: Out = stdout,
): Promise<number> {
  const ds = getDataset(opts.config ?? loadConfig(), dataset);
  const now = new Date();
  const to = catchUpTo(opts.to, ds.cadence, now);
  const windows = await withClient(temporalTarget(opts), (client) =>
    catchUpDataset(client, ds, instantArg(opts.from, now), to),
  );
  out(
    `catch-up of ${dataset}: ${windows.length} window(s) of ${ds.cadence}, ${windows[0].start} → ${windows[windows.length - 1].end}, run oldest first, one at a time`,
  );
  return 0;
}
