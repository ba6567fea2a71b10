import { SCHEMAS } from '../layout';
import type { CheckContext } from './context';
import { dialectOf } from '../dialect';
import { Binds, qualified, quoteIdent } from '../sql';
import type { Warehouse } from '../warehouse';
import { schemaTables, tableColumns } from '../information-schema';
import { joinFailing } from './row-identity';
import { ensureUnpublished, markPublishWhole } from '../models/changes';

/** Bookkeeping columns of quarantine.<model>, after the model's own columns. */
const RELEASE_COLUMNS = ['_dq_released_at TIMESTAMPTZ', '_dq_released_by VARCHAR', '_dq_release_reason VARCHAR'];

/**
 * Moves failing rows from the shadow table to quarantine.<model> with the check, reason and run id:
 * the good rows publish, the bad ones wait for a fix or a release. Re-running the gate for the same
 * window replaces that window's unreleased entries, so nothing is quarantined twice.
 */
export async function quarantineRows(
  ctx: CheckContext,
  model: string,
  check: string,
  reason: string,
  /** The failing rows' identities: a subquery, the binds it was composed with and its identity columns. */
  failing: { sql: string; binds: Binds; identity: string[] },
): Promise<number> {
  const source = qualified(ctx.shadow, model);
  const target = qualified(SCHEMAS.quarantine, model);
  const { wh } = ctx;
  // The bookkeeping columns are binds after the subquery's own (a fork of its list).
  const bookkeeping = (b: Binds) =>
    `${b.add(check)}::VARCHAR AS _dq_check, ${b.add(reason)}::VARCHAR AS _dq_reason, ${b.add(ctx.runId)}::VARCHAR AS _dq_run_id, ${dialectOf(wh.dialect).now} AS _dq_quarantined_at`;
  // DDL first and idempotent, outside the data transaction (Snowflake commits DDL implicitly).
  await wh.ensureSchema(SCHEMAS.quarantine);
  const create = new Binds();
  await wh.run(
    `CREATE TABLE IF NOT EXISTS ${target} AS SELECT *, ${bookkeeping(create)} FROM ${source} LIMIT 0`,
    create.values,
  );
  for (const col of RELEASE_COLUMNS) await wh.run(`ALTER TABLE ${target} ADD COLUMN IF NOT EXISTS ${col}`);
  // The model may have gained columns since its quarantine table was made: the table follows it.
  const columns = await tableColumns(wh, ctx.shadow, model);
  const present = new Set((await tableColumns(wh, SCHEMAS.quarantine, model)).map((c) => c.name));
  for (const c of columns.filter((c) => !present.has(c.name)))
    await wh.run(`ALTER TABLE ${target} ADD COLUMN IF NOT EXISTS ${quoteIdent(c.name)} ${c.type}`);
  const names = columns.map((c) => quoteIdent(c.name));
  const into = [...names, '_dq_check', '_dq_reason', '_dq_run_id', '_dq_quarantined_at'];
  // A mart row leaving shadow must leave certified at publish too: its group is unpublished (models/changes.ts).
  const mart = ctx.models.get(model);
  const dialect = dialectOf(wh.dialect);
  const unpublished =
    mart?.layer === 'marts' && mart.recomputeBy
      ? await ensureUnpublished(wh, dialect.scratchTable, ctx.shadow, model, mart.recomputeBy)
      : undefined;
  return wh.transaction(async (tx) => {
    await tx.run(`DELETE FROM ${target} WHERE _dq_run_id = $1 AND _dq_check = $2 AND _dq_released_at IS NULL`, [
      ctx.runId,
      check,
    ]);
    const insert = failing.binds.fork();
    const match = joinFailing(failing.identity, failing.sql);
    // An explicit column list, not INSERT … BY NAME (DuckDB only).
    const moved = await tx.run(
      `INSERT INTO ${target} (${into.join(', ')})
         SELECT ${names.map((n) => `t.${n}`).join(', ')}, ${bookkeeping(insert)} FROM ${source} AS t JOIN ${match.source} ON ${match.on}`,
      insert.values,
    );
    await tx.run(`DELETE FROM ${source} AS t USING ${match.source} WHERE ${match.on}`, failing.binds.values);
    if (unpublished)
      await tx.run(
        `INSERT INTO ${unpublished.table} SELECT DISTINCT ${unpublished.column} FROM ${target}
          WHERE _dq_run_id = $1 AND _dq_check = $2 AND _dq_released_at IS NULL`,
        [ctx.runId, check],
      );
    else if (mart?.layer === 'marts') await markPublishWhole(tx, ctx.dataset.name, model, dialect.now);
    return moved;
  });
}

/**
 * A subquery of the content hashes released for (model, check), or null when there are none: rows
 * with that exact content pass the check from then on (a changed row is checked again). `cache` holds
 * one lookup per model for the whole gate, not three queries per check.
 */
export async function releasedHashes(
  wh: Warehouse,
  model: string,
  check: string,
  cache: Map<string, Promise<Set<string>>>,
  /** The statement's binds: the check name is added as one. */
  binds: Binds,
): Promise<string | null> {
  let checks = cache.get(model);
  if (!checks) cache.set(model, (checks = releasedChecks(wh, model)));
  if (!(await checks).has(check)) return null;
  return `SELECT _row_hash FROM ${qualified(SCHEMAS.quarantine, model)} WHERE _dq_check = ${binds.add(check)} AND _dq_released_at IS NOT NULL`;
}

/** The checks with released rows in quarantine.<model> (empty when the table, its hashes or releases are missing). */
async function releasedChecks(wh: Warehouse, model: string): Promise<Set<string>> {
  const cols = (await tableColumns(wh, SCHEMAS.quarantine, model)).map((c) => c.name);
  if (!cols.includes('_row_hash') || !cols.includes('_dq_released_at')) return new Set();
  const rows = await wh.query<{ c: string }>(
    `SELECT DISTINCT _dq_check AS c FROM ${qualified(SCHEMAS.quarantine, model)} WHERE _dq_released_at IS NOT NULL`,
  );
  return new Set(rows.map((r) => r.c));
}

/** What an operator releases: one check's quarantined rows of a model, optionally of one run only. */
export interface ReleaseRequest {
  model: string;
  check: string;
  /** Only rows quarantined by this window's run (workflow id); all unreleased rows of the check when omitted. */
  runId?: string;
  by: string;
  reason: string;
}

/**
 * Marks quarantined rows released: the next run lets rows with the same content pass that check and
 * publishes them (the groups holding quarantined rows are recomputed every run, so the rows come back by themselves).
 * Releasing twice changes nothing the second time.
 */
export async function releaseQuarantine(wh: Warehouse, req: ReleaseRequest): Promise<number> {
  if (!(await wh.tableExists(SCHEMAS.quarantine, req.model)))
    throw new Error(`nothing quarantined for model '${req.model}'`);
  const target = qualified(SCHEMAS.quarantine, req.model);
  for (const col of RELEASE_COLUMNS) await wh.run(`ALTER TABLE ${target} ADD COLUMN IF NOT EXISTS ${col}`);
  const params = [req.by, req.reason, req.check, ...(req.runId ? [req.runId] : [])];
  return wh.run(
    `UPDATE ${target} SET _dq_released_at = ${dialectOf(wh.dialect).now}, _dq_released_by = $1, _dq_release_reason = $2
      WHERE _dq_check = $3 AND _dq_released_at IS NULL${req.runId ? ' AND _dq_run_id = $4' : ''}`,
    params,
  );
}

/** Unreleased quarantined rows per model (for dataset health and the dq report). */
export async function openQuarantine(wh: Warehouse): Promise<{ model: string; rows: number }[]> {
  const out: { model: string; rows: number }[] = [];
  for (const t of await schemaTables(wh, SCHEMAS.quarantine)) {
    const released = (await tableColumns(wh, SCHEMAS.quarantine, t)).some((c) => c.name === '_dq_released_at');
    const [{ n }] = await wh.query<{ n: number }>(
      `SELECT count(*)::INTEGER AS n FROM ${qualified(SCHEMAS.quarantine, t)}${released ? ' WHERE _dq_released_at IS NULL' : ''}`,
    );
    out.push({ model: t, rows: Number(n) });
  }
  return out;
}
