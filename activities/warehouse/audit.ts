import { dialectOf } from './dialect';
import { ensureHealthTables } from './health';
import { SCHEMAS } from './layout';
import type { CheckResult } from './quality';
import { ensureSourceStateTable } from './source-state';
import type { Warehouse } from './warehouse';

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
  await ensureSourceStateTable(wh);
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
export async function recordCheckResults(wh: Warehouse, run: RunIdentity, attempt: number, results: CheckResult[]): Promise<void> {
  const d = dialectOf(wh.dialect);
  await wh.transaction(async (tx) => {
    await tx.run('DELETE FROM audit.dq_results WHERE run_id = $1 AND gate_attempt = $2', [run.runId, attempt]);
    for (const r of results) {
      await tx.run(
        `INSERT INTO audit.dq_results VALUES ($1, $2, $3, $4::TIMESTAMPTZ, $5::TIMESTAMPTZ, $6, $7, $8, $9, $10, $11, $12, $13, ${d.jsonFromText('$14')}, $15, ${d.now})`,
        [run.workflowId, run.runId, run.dataset, run.window.start, run.window.end, attempt, r.check, r.type, r.model, r.severity, r.status,
          r.failingRows, r.quarantinedRows, JSON.stringify(r.sampleKeys), r.detail],
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
      [rec.workflowId, rec.runId, rec.dataset, rec.window.start, rec.window.end, rec.status, JSON.stringify(rec.steps),
        rec.gateDecision === null ? null : JSON.stringify(rec.gateDecision), rec.error, rec.startedAt],
    );
  });
}
