import type { DatasetConfig } from '../../../config/schema';
import { dialectOf } from '../dialect';
import { PUBLISHED_STATES } from './health';
import { SCHEMAS } from '../layout';
import { isoFromTimestamp } from '../sql';
import type { Warehouse } from '../warehouse';
import { cadenceWindows, type Window } from '../../../schedules/windows';

export { cadenceWindows, type Window } from '../../../schedules/windows';

/** A run of consecutive missed windows. */
export interface WindowGap extends Window {
  /** How many cadence windows the gap spans. */
  windows: number;
}

/** What the freshness monitor reports about missed windows: how many, and where (oldest first, at most `maxGaps`). */
export interface MissedSummary {
  /** Range examined [from, to). */
  from: string;
  to: string;
  count: number;
  gaps: WindowGap[];
  /** True when more gaps exist than are listed. */
  truncated: boolean;
}

/**
 * The cadence windows in [from, to) that no published run covers (audit.pipeline_runs with a state in
 * PUBLISHED_STATES), oldest first. A window counts as covered when the union of published runs'
 * windows contains it — one scheduled run, a manual run over a longer window, or a backfill's day
 * partition all do. These are the windows a schedule skipped (outage longer than its catchupWindow,
 * paused schedule) or whose runs failed; a reconciliation or a catch-up fills them.
 */
export async function missedWindows(
  wh: Warehouse,
  ds: DatasetConfig,
  from: Date | string,
  to: Date | string,
): Promise<Window[]> {
  const windows = cadenceWindows(ds.cadence, from, to);
  if (windows.length === 0) return [];
  const published = PUBLISHED_STATES.map((s) => `'${s}'`).join(', ');
  const runs = await wh.query<{ s: string; e: string }>(
    `SELECT window_start::VARCHAR AS s, window_end::VARCHAR AS e FROM audit.pipeline_runs
      WHERE dataset = $1 AND status IN (${published}) AND window_end > $2::TIMESTAMPTZ AND window_start < $3::TIMESTAMPTZ
      ORDER BY window_start`,
    [ds.name, windows[0].start, windows[windows.length - 1].end],
  );
  // Union of the published windows, as sorted disjoint [start, end) intervals in ms.
  const covered: [number, number][] = [];
  for (const r of runs) {
    const s = Date.parse(isoFromTimestamp(r.s));
    const e = Date.parse(isoFromTimestamp(r.e));
    const last = covered[covered.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else covered.push([s, e]);
  }
  let i = 0;
  return windows.filter((w) => {
    const s = Date.parse(w.start);
    const e = Date.parse(w.end);
    while (i < covered.length && covered[i][1] <= s) i++;
    return !(i < covered.length && covered[i][0] <= s && covered[i][1] >= e);
  });
}

/** Merges consecutive missed windows into gaps: what a report or an alert shows. */
export function summariseMissed(missed: Window[], range: { from: string; to: string }, maxGaps = 5): MissedSummary {
  const gaps: WindowGap[] = [];
  for (const w of missed) {
    const last = gaps[gaps.length - 1];
    if (last && last.end === w.start) {
      last.end = w.end;
      last.windows++;
    } else gaps.push({ start: w.start, end: w.end, windows: 1 });
  }
  return { ...range, count: missed.length, gaps: gaps.slice(0, maxGaps), truncated: gaps.length > maxGaps };
}

/**
 * The dataset's certified watermark: the newest window end of a published run, capped at the moment
 * that run finished (null: never published). A run cannot certify data it has not seen yet, so a
 * stored future window_end never reports the dataset fresh (nor releases dependsOn) ahead of time.
 */
export async function certifiedWatermark(wh: Warehouse, dataset: string): Promise<string | null> {
  const published = PUBLISHED_STATES.map((s) => `'${s}'`).join(', ');
  const [row] = await wh.query<{ through: string | null }>(
    `SELECT max(LEAST(window_end, finished_at))::VARCHAR AS through FROM audit.pipeline_runs WHERE dataset = $1 AND status IN (${published})`,
    [dataset],
  );
  return row?.through ? new Date(isoFromTimestamp(row.through)).toISOString() : null;
}

/**
 * The freshness monitor's memory between runs (each run is a new workflow): one row per dataset.
 * `breached_since` set = a breach is open; `last_alerted_at` set = its alert went out (so later monitor
 * runs stay quiet until recovery). Recovery deletes the row after the recovery alert.
 */
export async function ensureFreshnessAlertsTable(wh: Warehouse): Promise<void> {
  await wh.ensureSchema(SCHEMAS.audit);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.freshness_alerts (
      dataset VARCHAR NOT NULL, breached_since TIMESTAMPTZ NOT NULL, last_alerted_at TIMESTAMPTZ, watermark TIMESTAMPTZ,
      minutes_behind DOUBLE, missed_windows INTEGER NOT NULL, checked_at TIMESTAMPTZ NOT NULL)`);
}

/** A dataset's open breach, if any. */
export interface OpenBreach {
  breachedSince: string;
  lastAlertedAt: string | null;
}

export async function openBreach(wh: Warehouse, dataset: string): Promise<OpenBreach | null> {
  const [row] = await wh.query<{ since: string; alerted: string | null }>(
    'SELECT breached_since::VARCHAR AS since, last_alerted_at::VARCHAR AS alerted FROM audit.freshness_alerts WHERE dataset = $1',
    [dataset],
  );
  if (!row) return null;
  return {
    breachedSince: new Date(isoFromTimestamp(row.since)).toISOString(),
    lastAlertedAt: row.alerted ? new Date(isoFromTimestamp(row.alerted)).toISOString() : null,
  };
}

/** Opens a breach or refreshes an open one's figures (keeping when it started and whether it was announced). */
export async function recordBreach(
  wh: Warehouse,
  b: {
    dataset: string;
    breachedSince: string;
    lastAlertedAt: string | null;
    watermark: string | null;
    minutesBehind: number | null;
    missedWindows: number;
  },
): Promise<void> {
  const now = dialectOf(wh.dialect).now;
  await wh.transaction(async (tx) => {
    await tx.run('DELETE FROM audit.freshness_alerts WHERE dataset = $1', [b.dataset]);
    await tx.run(
      `INSERT INTO audit.freshness_alerts VALUES ($1, $2::TIMESTAMPTZ, $3::TIMESTAMPTZ, $4::TIMESTAMPTZ, $5, $6, ${now})`,
      [b.dataset, b.breachedSince, b.lastAlertedAt, b.watermark, b.minutesBehind, b.missedWindows],
    );
  });
}

/** Marks the breach that started at `breachedSince` as announced (a newer breach is left alone). */
export async function markBreachAlerted(wh: Warehouse, dataset: string, breachedSince: string): Promise<number> {
  return wh.run(
    `UPDATE audit.freshness_alerts SET last_alerted_at = ${dialectOf(wh.dialect).now} WHERE dataset = $1 AND breached_since = $2::TIMESTAMPTZ`,
    [dataset, breachedSince],
  );
}

/** Closes the breach that started at `breachedSince`. */
export async function closeBreach(wh: Warehouse, dataset: string, breachedSince: string): Promise<number> {
  return wh.run('DELETE FROM audit.freshness_alerts WHERE dataset = $1 AND breached_since = $2::TIMESTAMPTZ', [
    dataset,
    breachedSince,
  ]);
}

/** Minutes between `watermark` and `now` (null without a watermark; 0 when a run's window reaches past now), rounded to 0.1. */
export function minutesBehind(watermark: string | null, now: Date): number | null {
  return watermark === null
    ? null
    : Math.max(0, Math.round(((now.getTime() - Date.parse(watermark)) / 60_000) * 10) / 10);
}
