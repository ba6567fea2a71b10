import type { CheckConfig } from '../../../config/schema';
import { parseDuration } from '../../../config/duration';
import { rawTable, SCHEMAS } from '../layout';
import { renderRefs, SAMPLE, type CheckContext, type CheckResult } from './context';
import { isoFromTimestamp, qualified, quoteIdent } from '../sql';
import { tableColumns } from '../information-schema';
import { contractType } from '../../../config/schema/contract-types';

/** Checks judged on the whole model or window (nothing row-level to quarantine). */
export type AggregateCheck = Extract<
  CheckConfig,
  {
    type:
      | 'null_rate'
      | 'schema_contract'
      | 'freshness'
      | 'row_count_reconciliation'
      | 'totals_match'
      | 'metric_match'
      | 'volume_anomaly'
      | 'custom_sql';
  }
>;

type Verdict = Pick<CheckResult, 'status' | 'failingRows' | 'sampleKeys' | 'detail'>;

/** Runs one aggregate check; an `error` severity records (there are no rows to move), `critical` blocks. */
export async function aggregateCheck(ctx: CheckContext, check: AggregateCheck): Promise<CheckResult> {
  const verdict = await judge(ctx, check);
  const recordedOnly =
    verdict.status === 'fail' && check.severity === 'error'
      ? ' (aggregate check: nothing to quarantine, recorded)'
      : '';
  return {
    check: check.name,
    type: check.type,
    model: 'model' in check ? (check.model ?? null) : null,
    severity: check.severity,
    quarantinedRows: 0,
    ...verdict,
    detail: verdict.detail + recordedOnly,
  };
}

const pass = (detail: string): Verdict => ({ status: 'pass', failingRows: 0, sampleKeys: [], detail });
const fail = (failingRows: number, sampleKeys: string[], detail: string): Verdict => ({
  status: 'fail',
  failingRows,
  sampleKeys: sampleKeys.slice(0, SAMPLE),
  detail,
});

async function judge(ctx: CheckContext, check: AggregateCheck): Promise<Verdict> {
  switch (check.type) {
    case 'null_rate': {
      // `null_rows`, not `nulls`: NULLS is a keyword in some SQL grammars.
      const [r] = await ctx.wh.query<{ total: number; null_rows: number }>(
        // count(*) − count(col), not an aggregate FILTER, which Snowflake does not have.
        `SELECT count(*)::BIGINT AS total, (count(*) - count(${quoteIdent(check.column)}))::BIGINT AS null_rows FROM ${qualified(ctx.shadow, check.model)}`,
      );
      const rate = Number(r.total) ? Number(r.null_rows) / Number(r.total) : 0;
      const text = `${check.column} is NULL in ${r.null_rows} of ${r.total} rows (${(rate * 100).toFixed(2)}%, limit ${(check.max * 100).toFixed(2)}%)`;
      return rate > check.max ? fail(Number(r.null_rows), [], text) : pass(text);
    }
    case 'schema_contract': {
      // Compared as neutral types (contract-types.ts): one contract holds on DuckDB and Snowflake.
      const live = new Map(
        (await tableColumns(ctx.wh, ctx.shadow, check.model)).map((c) => [c.name, c.type.replace(/\s+/g, ' ')]),
      );
      const broken = Object.entries(check.columns).flatMap(([name, type]) => {
        const actual = live.get(name);
        const wanted = contractType(type) ?? type;
        if (actual === undefined) return [`missing column ${name} (contract: ${wanted})`];
        const got = contractType(actual);
        return got === wanted ? [] : [`${name} is ${got ?? 'an unknown type'} (${actual}), contract says ${wanted}`];
      });
      return broken.length
        ? fail(
            broken.length,
            broken.map((b) => b.split(' ')[b.startsWith('missing') ? 2 : 0]),
            `${check.model} breaks its contract: ${broken.join('; ')}`,
          )
        : pass(`${check.model} has the ${Object.keys(check.columns).length} contracted columns with their types`);
    }
    case 'freshness': {
      const maxAgeMs = parseDuration(check.maxAge ?? ctx.dataset.freshnessSla);
      const tables = ctx.dataset.tables.filter((t) =>
        check.tables ? check.tables.includes(t.name) : t.mode !== 'full',
      );
      const stale: string[] = [];
      const lines: string[] = [];
      for (const t of tables) {
        const raw = rawTable(ctx.dataset.source, t.name);
        if (!(await ctx.wh.tableExists(SCHEMAS.raw, raw))) {
          stale.push(t.name);
          lines.push(`${t.name}: never loaded`);
          continue;
        }
        const [{ newest }] = await ctx.wh.query<{ newest: string | null }>(
          `SELECT max(${quoteIdent(t.cursor)})::VARCHAR AS newest FROM ${qualified(SCHEMAS.raw, raw)}`,
        );
        const ageMs = newest ? ctx.now.getTime() - Date.parse(isoFromTimestamp(newest)) : Infinity;
        const age = Number.isFinite(ageMs) ? `${Math.round(ageMs / 60_000)} min old` : 'empty';
        lines.push(`${t.name}: newest ${t.cursor} ${age}`);
        if (!(ageMs <= maxAgeMs)) stale.push(t.name);
      }
      const text = `${lines.join('; ')} (limit ${check.maxAge ?? `${ctx.dataset.freshnessSla} SLA`})`;
      return stale.length ? fail(stale.length, stale, `stale: ${text}`) : pass(text);
    }
    case 'row_count_reconciliation':
      return reconcileRowCounts(ctx, check);
    case 'totals_match': {
      const t = qualified(ctx.shadow, check.model);
      const by = check.groupBy.map(quoteIdent).join(', ');
      const diff = await ctx.wh.query<{ k: string; l: string; r: string }>(
        // Group values cast to text explicitly: concatenating a DATE is not portable.
        `SELECT concat_ws('|', ${check.groupBy.map((c) => `${quoteIdent(c)}::VARCHAR`).join(', ')}) AS k, l::VARCHAR AS l, r::VARCHAR AS r FROM (
           SELECT ${by}, sum(${quoteIdent(check.left)}) AS l, sum(${quoteIdent(check.right)}) AS r FROM ${t} GROUP BY ${by})
          WHERE abs(coalesce(l, 0) - coalesce(r, 0)) > $1 * greatest(abs(coalesce(l, 0)), abs(coalesce(r, 0)), 0.01)
          ORDER BY 1`,
        [check.tolerance],
      );
      return diff.length
        ? fail(
            diff.length,
            diff.map((d) => d.k),
            `${diff.length} ${check.groupBy.join('/')} groups differ beyond ${check.tolerance * 100}%: ` +
              diff
                .slice(0, SAMPLE)
                .map((d) => `${d.k} ${check.left}=${d.l} ${check.right}=${d.r}`)
                .join('; '),
          )
        : pass(`${check.left} = ${check.right} per ${check.groupBy.join('/')} within ${check.tolerance * 100}%`);
    }
    case 'metric_match': {
      const [r] = await (
        await ctx.userSql()
      ).query<{ l: string | null; r: string | null }>(
        `SELECT (${renderRefs(ctx, check.left)})::VARCHAR AS l, (${renderRefs(ctx, check.right)})::VARCHAR AS r`,
      );
      const [l, rr] = [Number(r.l ?? 0), Number(r.r ?? 0)];
      const off = Math.abs(l - rr) > check.tolerance * Math.max(Math.abs(l), Math.abs(rr), 0.01);
      const text = `left = ${r.l ?? 'NULL'}, right = ${r.r ?? 'NULL'} (tolerance ${check.tolerance * 100}%)`;
      return off ? fail(1, [], `metrics disagree: ${text}`) : pass(`metrics agree: ${text}`);
    }
    case 'volume_anomaly':
      return volumeAnomaly(ctx, check);
    case 'custom_sql': {
      const sql = renderRefs(ctx, check.sql);
      const sandbox = await ctx.userSql();
      const [{ n }] = await sandbox.query<{ n: number }>(`SELECT count(*)::BIGINT AS n FROM (${sql})`);
      if (!Number(n)) return pass('the query returned no rows');
      const rows = await sandbox.query(`SELECT * FROM (${sql}) LIMIT ${SAMPLE}`);
      return fail(
        Number(n),
        rows.map((row) => String(Object.values(row)[0])),
        `the query returned ${n} failing rows`,
      );
    }
  }
}

/**
 * Source rows changed in the window (counted in the extract's snapshot) = rows staged + rows rejected
 * (each recorded in audit.source_rejects) and rows staged = loaded = rows in raw under this window's load
 * id, counted again now: a row lost or deleted after the load step is caught.
 */
async function reconcileRowCounts(
  ctx: CheckContext,
  check: Extract<AggregateCheck, { type: 'row_count_reconciliation' }>,
): Promise<Verdict> {
  const perTable = new Map<
    string,
    {
      source: number;
      staged: number;
      rejected: number;
      loaded: number;
      held: boolean;
      loads: Map<string, { loadId: string; extractedAt?: string }>;
    }
  >();
  for (const c of ctx.counts.filter((x) => !check.tables || check.tables.includes(x.table))) {
    const t = perTable.get(c.table) ?? {
      source: 0,
      staged: 0,
      rejected: 0,
      loaded: 0,
      held: false,
      loads: new Map(),
    };
    // A load with nothing staged, or held, wrote nothing this run (raw may hold an earlier run's rows of the same id).
    if (c.stagedRows > 0 && !c.held) {
      const loadId = c.loadId ?? `${ctx.runId}/${c.table}`;
      t.loads.set(`${loadId}@${c.extractedAt ?? ''}`, { loadId, extractedAt: c.extractedAt });
    }
    perTable.set(c.table, {
      source: t.source + c.sourceRows,
      staged: t.staged + c.stagedRows,
      rejected: t.rejected + (c.rejectedRows ?? 0),
      loaded: t.loaded + c.loadedRows,
      held: t.held || c.held === true,
      loads: t.loads,
    });
  }
  const bad: string[] = [];
  const tables: string[] = [];
  const notes: string[] = [];
  for (const [table, c] of perTable) {
    let inRaw = 0;
    for (const load of c.loads.values()) inRaw += await rowsOfLoad(ctx, table, load);
    const staged = c.source === c.staged + c.rejected;
    const loaded = c.held || (c.staged === c.loaded && c.loaded === inRaw);
    if (!(staged && loaded)) {
      const rejected = c.rejected ? `, rejected ${c.rejected}` : '';
      bad.push(`${table}: source ${c.source}, staged ${c.staged}${rejected}, loaded ${c.loaded}, in raw now ${inRaw}`);
      tables.push(table);
    } else if (c.rejected)
      notes.push(
        `${table}: ${c.rejected} rejected (audit.source_rejects)${c.held ? ', full snapshot held: raw keeps the last one' : ''}`,
      );
  }
  const total = [...perTable.values()].reduce((s, c) => s + c.source, 0);
  const noted = notes.length ? `; ${notes.join('; ')}` : '';
  return bad.length
    ? fail(bad.length, tables, bad.join('; '))
    : pass(`${perTable.size} tables: source = staged (+ rejected) = loaded = in raw (${total} rows)${noted}`);
}

/**
 * Rows in raw from this run's extraction: its load id and, when known, its extraction time — a longer manual
 * window or a re-run under an earlier window's id keeps that id, and raw keeps the earlier rows it did not
 * bring again, which are not this run's.
 */
async function rowsOfLoad(
  ctx: CheckContext,
  table: string,
  load: { loadId: string; extractedAt?: string },
): Promise<number> {
  const raw = rawTable(ctx.dataset.source, table);
  if (!(await ctx.wh.tableExists(SCHEMAS.raw, raw))) return 0;
  const when = load.extractedAt ? ' AND _extracted_at = $2::TIMESTAMPTZ' : '';
  const [{ n }] = await ctx.wh.query<{ n: number }>(
    `SELECT count(*)::BIGINT AS n FROM ${qualified(SCHEMAS.raw, raw)} WHERE _load_id = $1${when} AND _source_file NOT LIKE 'tombstone:%'`,
    load.extractedAt ? [load.loadId, load.extractedAt] : [load.loadId],
  );
  return Number(n);
}

/**
 * This window's source row count per table against the same hour of day over the trailing days
 * (audit.window_counts, written by every gate): outside [min × (1 − slack), max × (1 + slack)] fails.
 */
async function volumeAnomaly(
  ctx: CheckContext,
  check: Extract<AggregateCheck, { type: 'volume_anomaly' }>,
): Promise<Verdict> {
  const out: string[] = [];
  const odd: string[] = [];
  const since = new Date(Date.parse(ctx.window.start) - check.days * 86_400_000).toISOString();
  const current = new Map<string, number>();
  for (const c of ctx.counts) current.set(c.table, (current.get(c.table) ?? 0) + c.sourceRows);
  for (const [table, rows] of current) {
    if (check.tables && !check.tables.includes(table)) continue;
    const history = await ctx.wh.query<{ n: number }>(
      `SELECT source_rows AS n FROM audit.window_counts
        WHERE dataset = $1 AND table_name = $2 AND window_start >= $3::TIMESTAMPTZ AND window_start < $4::TIMESTAMPTZ
          AND extract(hour FROM window_start) = extract(hour FROM $4::TIMESTAMPTZ)`,
      [ctx.dataset.name, table, since, ctx.window.start],
    );
    if (history.length < check.minHistory) {
      out.push(
        `${table}: ${rows} rows, ${history.length} earlier windows at this hour (need ${check.minHistory}): not judged`,
      );
      continue;
    }
    const ns = history.map((h) => Number(h.n));
    const [lo, hi] = [Math.floor(Math.min(...ns) * (1 - check.slack)), Math.ceil(Math.max(...ns) * (1 + check.slack))];
    out.push(`${table}: ${rows} rows, band [${lo}, ${hi}] from ${ns.length} windows`);
    if (rows < lo || rows > hi) odd.push(table);
  }
  return odd.length
    ? fail(odd.length, odd, `volume outside the band: ${out.join('; ')}`)
    : pass(out.join('; ') || 'no tables');
}
