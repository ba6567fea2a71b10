import type { DatasetConfig } from '../../../config/schema';
import { parseDuration } from '../../../config/duration';
import { dialectOf } from '../dialect';
import { SCHEMAS } from '../layout';
import { openQuarantine } from '../quality/quarantine';
import type { TableCounts } from '../quality/context';
import { isoFromTimestamp, qualified } from '../sql';
import type { Warehouse } from '../warehouse';

/** Run states that published certified tables. */
export const PUBLISHED_STATES = ['succeeded', 'published_with_errors', 'published_partial', 'published_skipped_gate'];

/** Creates audit.window_counts and audit.dataset_health if missing. */
export async function ensureHealthTables(wh: Warehouse): Promise<void> {
  await wh.ensureSchema(SCHEMAS.audit);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.window_counts (
      dataset VARCHAR NOT NULL, table_name VARCHAR NOT NULL, window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL,
      source_rows BIGINT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL)`);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.dataset_health (
      dataset VARCHAR NOT NULL, last_run_status VARCHAR, last_run_at TIMESTAMPTZ, last_good_publish_at TIMESTAMPTZ,
      data_through TIMESTAMPTZ, minutes_behind DOUBLE, sla_minutes DOUBLE NOT NULL, is_fresh BOOLEAN NOT NULL,
      open_critical_failures INTEGER NOT NULL, failing_checks VARCHAR, quarantined_rows BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`);
}

/** Remembers this window's source row counts per table: the history volume_anomaly draws its band from. */
export async function recordWindowCounts(
  wh: Warehouse,
  dataset: string,
  window: { start: string; end: string },
  counts: TableCounts[],
): Promise<void> {
  const perTable = new Map<string, number>();
  for (const c of counts) perTable.set(c.table, (perTable.get(c.table) ?? 0) + c.sourceRows);
  const now = dialectOf(wh.dialect).now;
  await wh.transaction(async (tx) => {
    await tx.run('DELETE FROM audit.window_counts WHERE dataset = $1 AND window_start = $2::TIMESTAMPTZ', [
      dataset,
      window.start,
    ]);
    for (const [table, rows] of perTable) {
      await tx.run(`INSERT INTO audit.window_counts VALUES ($1, $2, $3::TIMESTAMPTZ, $4::TIMESTAMPTZ, $5, ${now})`, [
        dataset,
        table,
        window.start,
        window.end,
        rows,
      ]);
    }
  });
}

/**
 * Recomputes the dataset's row of audit.dataset_health — what a "data health" dashboard reads: the
 * last good publish, how far certified data is behind now against the SLA, critical checks failing in
 * the latest gate (open until a later gate passes them), and rows waiting in quarantine. Data is certified
 * through the newest published window end, capped at when that run finished (as the freshness monitor reads it).
 */
export async function refreshDatasetHealth(wh: Warehouse, ds: DatasetConfig, now = new Date()): Promise<void> {
  const published = PUBLISHED_STATES.map((s) => `'${s}'`).join(', ');
  const [runs] = await wh.query<{
    last_status: string | null;
    last_at: string | null;
    good_at: string | null;
    through: string | null;
  }>(
    `SELECT (SELECT status FROM audit.pipeline_runs WHERE dataset = $1 ORDER BY finished_at DESC LIMIT 1) AS last_status,
            (SELECT max(finished_at)::VARCHAR FROM audit.pipeline_runs WHERE dataset = $1) AS last_at,
            (SELECT max(finished_at)::VARCHAR FROM audit.pipeline_runs WHERE dataset = $1 AND status IN (${published})) AS good_at,
            (SELECT max(LEAST(window_end, finished_at))::VARCHAR FROM audit.pipeline_runs WHERE dataset = $1 AND status IN (${published})) AS through`,
    [ds.name],
  );
  const critical = await wh.query<{ check_name: string }>(
    // A join, not a row-tuple comparison: Snowflake has no (a, b) = (SELECT …).
    `SELECT r.check_name FROM audit.dq_results AS r
       JOIN (SELECT run_id, gate_attempt FROM audit.dq_results WHERE dataset = $1 ORDER BY checked_at DESC LIMIT 1) AS latest
         ON r.run_id = latest.run_id AND r.gate_attempt = latest.gate_attempt
      WHERE r.dataset = $1 AND r.severity = 'critical' AND r.status = 'fail'
      ORDER BY 1`,
    [ds.name],
  );
  const quarantined = (await openQuarantine(wh)).reduce((s, q) => s + q.rows, 0);
  const slaMinutes = parseDuration(ds.freshnessSla) / 60_000;
  const behind = runs.through ? (now.getTime() - Date.parse(isoFromTimestamp(runs.through))) / 60_000 : null;
  const d = dialectOf(wh.dialect);
  await wh.transaction(async (tx) => {
    await tx.run('DELETE FROM audit.dataset_health WHERE dataset = $1', [ds.name]);
    await tx.run(
      `INSERT INTO audit.dataset_health VALUES ($1, $2, $3::TIMESTAMPTZ, $4::TIMESTAMPTZ, $5::TIMESTAMPTZ, $6, $7, $8, $9, $10, $11, ${d.now})`,
      [
        ds.name,
        runs.last_status,
        runs.last_at,
        runs.good_at,
        runs.through,
        behind === null ? null : Math.round(behind * 10) / 10,
        slaMinutes,
        behind !== null && behind <= slaMinutes,
        critical.length,
        critical.map((c) => c.check_name).join(', ') || null,
        quarantined,
      ],
    );
  });
}

/** Deletes audit rows and released quarantine rows older than the retention (config `audit.retention`). */
export async function purgeAudit(wh: Warehouse, retention: string, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - parseDuration(retention)).toISOString();
  let n = 0;
  n += await wh.run('DELETE FROM audit.dq_results WHERE checked_at < $1::TIMESTAMPTZ', [cutoff]);
  n += await wh.run('DELETE FROM audit.pipeline_runs WHERE finished_at < $1::TIMESTAMPTZ', [cutoff]);
  n += await wh.run('DELETE FROM audit.window_counts WHERE window_start < $1::TIMESTAMPTZ', [cutoff]);
  n += await wh.run('DELETE FROM audit.bi_refreshes WHERE finished_at < $1::TIMESTAMPTZ', [cutoff]);
  for (const q of await openQuarantine(wh)) {
    n += await wh.run(
      `DELETE FROM ${qualified(SCHEMAS.quarantine, q.model)} WHERE _dq_quarantined_at < $1::TIMESTAMPTZ`,
      [cutoff],
    );
  }
  return n;
}
