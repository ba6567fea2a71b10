import { dialectOf } from '../dialect';
import { ensureHealthTables } from './health';
import { SCHEMAS } from '../layout';
import type { CheckResult } from '../quality/checks';
import { ensureSourceRejectsTable } from './source-rejects';
import { ensureSourceStateTable } from './source-state';
import { ensureChangeLedgerTables } from './change-ledger';
import type { Warehouse } from '../warehouse';

/** Creates the audit tables if missing (idempotent; run at worker start). */
export async function ensureAuditTables(wh: Warehouse): Promise<void> {
  const json = dialectOf(wh.dialect).jsonType;
  await wh.ensureSchema(SCHEMAS.audit);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.pipeline_runs (
      workflow_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
      window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL, status VARCHAR NOT NULL,
      steps ${json} NOT NULL, gate_decision ${json}, error VARCHAR,
      started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (run_id))`);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.dq_results (
      workflow_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
      window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL, gate_attempt INTEGER NOT NULL,
      check_name VARCHAR NOT NULL, check_type VARCHAR NOT NULL, model VARCHAR, severity VARCHAR NOT NULL,
      status VARCHAR NOT NULL, failing_rows BIGINT NOT NULL, quarantined_rows BIGINT NOT NULL,
      sample_keys ${json} NOT NULL, detail VARCHAR NOT NULL, checked_at TIMESTAMPTZ NOT NULL)`);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.bi_refreshes (
      workflow_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
      window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL, refresh_round INTEGER NOT NULL,
      target VARCHAR NOT NULL, object_type VARCHAR NOT NULL, object_ref VARCHAR NOT NULL, object_id VARCHAR, object_name VARCHAR,
      job_id VARCHAR, joined BOOLEAN NOT NULL, status VARCHAR NOT NULL, finish_code INTEGER, jobs INTEGER NOT NULL, reruns INTEGER NOT NULL,
      duration_ms BIGINT NOT NULL, notes VARCHAR NOT NULL, finished_at TIMESTAMPTZ NOT NULL)`);
  await ensureSourceStateTable(wh);
  await ensureChangeLedgerTables(wh);
  await ensureSourceRejectsTable(wh);
  await ensureHealthTables(wh);
}

/** Identity of one run of one window. */
export interface RunIdentity {
  workflowId: string;
  runId: string;
  dataset: string;
  window: { start: string; end: string };
}

/** Stores one gate attempt's check results (replacing that attempt's rows if the activity is retried). */
export async function recordCheckResults(
  wh: Warehouse,
  run: RunIdentity,
  attempt: number,
  results: CheckResult[],
): Promise<void> {
  const d = dialectOf(wh.dialect);
  await wh.transaction(async (tx) => {
    await tx.run('DELETE FROM audit.dq_results WHERE run_id = $1 AND gate_attempt = $2', [run.runId, attempt]);
    for (const r of results) {
      await tx.run(
        `INSERT INTO audit.dq_results VALUES ($1, $2, $3, $4::TIMESTAMPTZ, $5::TIMESTAMPTZ, $6, $7, $8, $9, $10, $11, $12, $13, ${d.jsonFromText('$14')}, $15, ${d.now})`,
        [
          run.workflowId,
          run.runId,
          run.dataset,
          run.window.start,
          run.window.end,
          attempt,
          r.check,
          r.type,
          r.model,
          r.severity,
          r.status,
          r.failingRows,
          r.quarantinedRows,
          JSON.stringify(r.sampleKeys),
          r.detail,
        ],
      );
    }
  });
}

/** One row per run in audit.pipeline_runs; written at the end of a run (success, failure or timeout). */
export interface RunRecord extends RunIdentity {
  status: string;
  steps: unknown;
  gateDecision: unknown;
  error: string | null;
  startedAt: string;
}

/** Upserts the run's audit row. */
export async function recordRun(wh: Warehouse, rec: RunRecord): Promise<void> {
  const d = dialectOf(wh.dialect);
  await wh.transaction(async (tx) => {
    await tx.run('DELETE FROM audit.pipeline_runs WHERE run_id = $1', [rec.runId]);
    await tx.run(
      `INSERT INTO audit.pipeline_runs VALUES ($1, $2, $3, $4::TIMESTAMPTZ, $5::TIMESTAMPTZ, $6, ${d.jsonFromText('$7')}, ${d.jsonFromText('$8')}, $9, $10::TIMESTAMPTZ, ${d.now})`,
      [
        rec.workflowId,
        rec.runId,
        rec.dataset,
        rec.window.start,
        rec.window.end,
        rec.status,
        JSON.stringify(rec.steps),
        rec.gateDecision === null ? null : JSON.stringify(rec.gateDecision),
        rec.error,
        rec.startedAt,
      ],
    );
  });
}

/** One BI object's refresh in a run, as audit.bi_refreshes records it. */
export interface BiRefreshRecord {
  /** 1 for the run's first refresh step, 2… after each retryRefresh. */
  round: number;
  target: 'tableau';
  objectType: string;
  /** As configured (a name, or luid:<id>): with the run id, the row's key. */
  objectRef: string;
  objectId: string | null;
  objectName: string | null;
  jobId: string | null;
  joined: boolean;
  status: string;
  finishCode: number | null;
  jobs: number;
  reruns: number;
  durationMs: number;
  notes: string;
  finishedAt: string;
}

/** Records how one object's refresh ended, replacing what an earlier attempt or round of the same run wrote for it. */
export async function recordBiRefresh(wh: Warehouse, run: RunIdentity, r: BiRefreshRecord): Promise<void> {
  await wh.transaction(async (tx) => {
    await tx.run('DELETE FROM audit.bi_refreshes WHERE run_id = $1 AND object_type = $2 AND object_ref = $3', [
      run.runId,
      r.objectType,
      r.objectRef,
    ]);
    await tx.run(
      `INSERT INTO audit.bi_refreshes VALUES ($1, $2, $3, $4::TIMESTAMPTZ, $5::TIMESTAMPTZ, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20::TIMESTAMPTZ)`,
      [
        run.workflowId,
        run.runId,
        run.dataset,
        run.window.start,
        run.window.end,
        r.round,
        r.target,
        r.objectType,
        r.objectRef,
        r.objectId,
        r.objectName,
        r.jobId,
        r.joined,
        r.status,
        r.finishCode,
        r.jobs,
        r.reruns,
        r.durationMs,
        r.notes,
        r.finishedAt,
      ],
    );
  });
}
