import type { CheckConfig, Severity } from '../../config/schema';
import { SCHEMAS, shadowSchema } from './layout';
import { qualified, quoteIdent, quoteLiteral } from './sql';
import type { Warehouse } from './warehouse';

/** Per-table counts the row-count reconciliation compares: source snapshot = staged = loaded. */
export interface TableCounts {
  table: string;
  sourceRows: number;
  stagedRows: number;
  loadedRows: number;
}

/** Outcome of one check, as stored in audit.dq_results. */
export interface CheckResult {
  check: string;
  type: CheckConfig['type'] | 'schema_drift';
  model: string | null;
  severity: Severity;
  status: 'pass' | 'fail';
  failingRows: number;
  quarantinedRows: number;
  sampleKeys: string[];
  detail: string;
}

interface CheckContext {
  wh: Warehouse;
  shadow: string;
  runId: string;
  counts: TableCounts[];
}

const SAMPLE = 5;

/** Runs every check against the dataset's shadow tables; `error` checks quarantine their failing rows. */
export async function runChecks(
  wh: Warehouse,
  opts: { dataset: string; checks: CheckConfig[]; runId: string; counts: TableCounts[] },
): Promise<CheckResult[]> {
  const ctx: CheckContext = { wh, shadow: shadowSchema(opts.dataset), runId: opts.runId, counts: opts.counts };
  const results: CheckResult[] = [];
  for (const check of opts.checks) results.push(await runCheck(ctx, check));
  return results;
}

async function runCheck(ctx: CheckContext, check: CheckConfig): Promise<CheckResult> {
  const base = { check: check.name, type: check.type, severity: check.severity, quarantinedRows: 0 };
  switch (check.type) {
    case 'row_count_reconciliation': {
      const wanted = check.tables ? ctx.counts.filter((c) => check.tables!.includes(c.table)) : ctx.counts;
      const bad = wanted.filter((c) => !(c.sourceRows === c.stagedRows && c.stagedRows === c.loadedRows));
      return {
        ...base,
        model: null,
        status: bad.length ? 'fail' : 'pass',
        failingRows: bad.length,
        sampleKeys: bad.slice(0, SAMPLE).map((c) => c.table),
        detail: bad.length
          ? bad.map((c) => `${c.table}: source ${c.sourceRows}, staged ${c.stagedRows}, loaded ${c.loadedRows}`).join('; ')
          : `${wanted.length} tables: source = staged = loaded (${wanted.reduce((s, c) => s + c.sourceRows, 0)} rows)`,
      };
    }
    case 'totals_match': {
      const t = qualified(ctx.shadow, check.model);
      const by = check.groupBy.map(quoteIdent).join(', ');
      const diff = await ctx.wh.query<{ k: string; l: string; r: string }>(
        `SELECT concat_ws('|', ${by})::VARCHAR AS k, l::VARCHAR AS l, r::VARCHAR AS r FROM (
           SELECT ${by}, sum(${quoteIdent(check.left)}) AS l, sum(${quoteIdent(check.right)}) AS r FROM ${t} GROUP BY ${by})
          WHERE abs(coalesce(l, 0) - coalesce(r, 0)) > $1 * greatest(abs(coalesce(l, 0)), abs(coalesce(r, 0)), 0.01)
          ORDER BY 1`,
        [check.tolerance],
      );
      return {
        ...base,
        model: check.model,
        status: diff.length ? 'fail' : 'pass',
        failingRows: diff.length,
        sampleKeys: diff.slice(0, SAMPLE).map((d) => d.k),
        detail: diff.length
          ? `${diff.length} ${check.groupBy.join('/')} groups differ beyond ${check.tolerance * 100}%: ` +
            diff.slice(0, SAMPLE).map((d) => `${d.k} ${check.left}=${d.l} ${check.right}=${d.r}`).join('; ') +
            (check.severity === 'error' ? ' (aggregate check: nothing to quarantine, recorded)' : '')
          : `${check.left} = ${check.right} per ${check.groupBy.join('/')} within ${check.tolerance * 100}%`,
      };
    }
    default:
      return rowCheck(ctx, check, base);
  }
}

type RowLevelCheck = Extract<CheckConfig, { type: 'not_null' | 'unique' | 'relationships' | 'accepted_values' }>;

/** The rowids of the model's rows failing the check; every row-level check is expressed this way. */
function failingRowids(shadow: string, check: RowLevelCheck): { sql: string; reason: string } {
  const t = qualified(shadow, check.model);
  switch (check.type) {
    case 'not_null':
      return {
        sql: `SELECT rowid FROM ${t} WHERE ${check.columns.map((c) => `${quoteIdent(c)} IS NULL`).join(' OR ')}`,
        reason: `null in ${check.columns.join(' or ')}`,
      };
    case 'unique':
      return {
        sql: `SELECT rid FROM (SELECT rowid AS rid, count(*) OVER (PARTITION BY ${check.columns.map(quoteIdent).join(', ')}) AS n FROM ${t}) WHERE n > 1`,
        reason: `duplicate ${check.columns.join(', ')}`,
      };
    case 'accepted_values':
      return {
        sql: `SELECT rowid FROM ${t} WHERE ${quoteIdent(check.column)} IS NOT NULL AND ${quoteIdent(check.column)}::VARCHAR NOT IN (${check.values.map(quoteLiteral).join(', ')})`,
        reason: `${check.column} not in (${check.values.join(', ')})`,
      };
    case 'relationships': {
      const parent = qualified(shadow, check.to.model);
      return {
        sql: `SELECT c.rowid FROM ${t} AS c WHERE c.${quoteIdent(check.column)} IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM ${parent} AS p WHERE p.${quoteIdent(check.to.column)} = c.${quoteIdent(check.column)})`,
        reason: `${check.column} has no match in ${check.to.model}.${check.to.column}`,
      };
    }
  }
}

async function rowCheck(
  ctx: CheckContext,
  check: RowLevelCheck,
  base: Pick<CheckResult, 'check' | 'type' | 'severity' | 'quarantinedRows'>,
): Promise<CheckResult> {
  const t = qualified(ctx.shadow, check.model);
  const { sql: failing, reason } = failingRowids(ctx.shadow, check);
  const keyColumn = 'columns' in check ? check.columns[0] : check.column;
  const [{ n }] = await ctx.wh.query<{ n: number }>(`SELECT count(*)::BIGINT AS n FROM (${failing})`);
  const failingRows = Number(n);
  const samples = failingRows
    ? await ctx.wh.query<{ k: string | null }>(
        `SELECT ${quoteIdent(keyColumn)}::VARCHAR AS k FROM ${t} WHERE rowid IN (${failing}) ORDER BY 1 NULLS FIRST LIMIT ${SAMPLE}`,
      )
    : [];
  let quarantinedRows = 0;
  if (failingRows && check.severity === 'error') quarantinedRows = await quarantine(ctx, check.model, check.name, reason, failing);
  return {
    ...base,
    model: check.model,
    status: failingRows ? 'fail' : 'pass',
    failingRows,
    quarantinedRows,
    sampleKeys: samples.map((s) => s.k ?? 'NULL'),
    detail: failingRows ? `${failingRows} rows: ${reason}` : `no rows with ${reason}`,
  };
}

/** Moves failing rows from the shadow table to quarantine.<model> with the check, reason and run id. */
async function quarantine(ctx: CheckContext, model: string, check: string, reason: string, failing: string): Promise<number> {
  const source = qualified(ctx.shadow, model);
  const target = qualified(SCHEMAS.quarantine, model);
  await ctx.wh.ensureSchema(SCHEMAS.quarantine);
  return ctx.wh.transaction(async (tx) => {
    const select = `SELECT *, $1::VARCHAR AS _dq_check, $2::VARCHAR AS _dq_reason, $3::VARCHAR AS _dq_run_id, now() AS _dq_quarantined_at FROM ${source}`;
    await tx.run(`CREATE TABLE IF NOT EXISTS ${target} AS ${select} LIMIT 0`, [check, reason, ctx.runId]);
    await tx.run(`DELETE FROM ${target} WHERE _dq_run_id = $1 AND _dq_check = $2`, [ctx.runId, check]);
    const moved = await tx.run(`INSERT INTO ${target} BY NAME ${select} WHERE rowid IN (${failing})`, [check, reason, ctx.runId]);
    await tx.run(`DELETE FROM ${source} WHERE rowid IN (${failing})`);
    return moved;
  });
}
