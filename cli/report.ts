import type { Warehouse } from '../activities/warehouse/warehouse';
import type { RunSummary } from '../workflows/pipeline-run';
import { ms, table } from './format';

/** Prints a finished run: steps with durations and counts, certified tables, sales by region, quality results. */
export async function printRunReport(
  wh: Warehouse,
  summary: RunSummary,
  runId: string,
  uiUrl: string | null,
): Promise<void> {
  const out = (s = '') => process.stdout.write(`${s}\n`);
  out(`\nRun ${summary.workflowId}: ${summary.status}`);
  out(
    table(
      Object.entries(summary.steps).map(([step, s]) => ({
        step,
        status: s.status,
        duration: ms(s.ms),
        counts: Object.entries(s.counts ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
      })),
    ),
  );

  out('\nCertified tables (what dashboards read):');
  const tables = await wh.query(
    `SELECT table_name AS "table", estimated_size::BIGINT AS "rows" FROM duckdb_tables() WHERE schema_name = 'certified' ORDER BY 1`,
  );
  out(table(tables.map((t) => ({ table: `certified.${t.table}`, rows: t.rows }))));

  out('\nSales by region, last 3 business days (certified.agg_sales_region_daily):');
  out(
    table(
      await wh.query(
        `SELECT order_date::VARCHAR AS order_date, region, orders, cancelled_orders AS cancelled, gross_revenue::VARCHAR AS gross,
            refunds::VARCHAR AS refunds, net_revenue::VARCHAR AS net
       FROM certified.agg_sales_region_daily
      WHERE order_date >= (SELECT max(order_date) - 2 FROM certified.agg_sales_region_daily)
      ORDER BY order_date DESC, region`,
      ),
    ),
  );

  out('\nQuality gate (audit.dq_results):');
  out(
    table(
      await wh.query(
        `SELECT check_name AS "check", severity, status, failing_rows AS failing, detail
       FROM audit.dq_results WHERE run_id = $1 AND gate_attempt = (SELECT max(gate_attempt) FROM audit.dq_results WHERE run_id = $1)
      ORDER BY check_name`,
        [runId],
      ),
    ),
  );
  if (uiUrl) out(`\nTemporal UI for this run: ${uiUrl}`);
}

/** Link to a workflow run in the Temporal Web UI. */
export function runUrl(uiBase: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiBase}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}
