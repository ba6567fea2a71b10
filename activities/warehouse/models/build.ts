import { DUCKDB, type Dialect } from '../dialect';
import { SCHEMAS, rawTable, shadowSchema } from '../layout';
import { buildOrder, readModels, readSourceContracts, renderModel, MODELS_DIR, type Model } from './catalog';
import { qualified, quoteIdent } from '../sql';
import { tableColumns } from '../information-schema';
import type { Warehouse } from '../warehouse';

/** Result of one model build. */
export interface ModelResult {
  model: string;
  layer: string;
  /** Rows in the built (shadow) table. */
  rows: number;
  ms: number;
  /** How it was built: rebuilt whole, merged on its key, or only its changed partitions rewritten. */
  how?: 'rebuilt' | 'merged' | 'partitions';
  /** Incremental marts: rows inserted, updated (content changed) and deleted by this run. */
  changes?: { inserted: number; updated: number; deleted: number };
  /** Partition-incremental marts: how many partitions (e.g. business dates) were rewritten. */
  partitions?: number;
}

/** Lineage and change-detection columns Freshline adds to every mart (not part of the model). */
export const MART_META_COLUMNS = ['_run_id', '_row_hash'] as const;

type Column = { name: string; type: string };

/**
 * Builds the dataset's models in dependency order into its shadow schema (write-audit-publish: the
 * gate reads these, publish swaps them into certified). Marts carry `_run_id`, the run that last
 * changed the row, and `_row_hash`, a digest of the row's content.
 * - table models are rebuilt whole;
 * - `unique_key` marts start from the certified table and are MERGEd on their business key: only rows
 *   whose content changed get this run's `_run_id`, rows gone from the model are deleted;
 * - `partition_by` marts (aggregates by business date) start from the certified table and rewrite
 *   exactly the partitions whose input rows changed this run — a correction 6 days late rewrites that
 *   one day. They fall back to a rebuild when an input was rebuilt or the model's columns changed.
 */
export async function buildModels(
  wh: Warehouse,
  opts: {
    dataset: string;
    targets: string[];
    runId: string;
    modelsDir?: string;
    dialect?: Dialect;
    onModel?: (r: ModelResult) => void;
    /** Rebuild only these models (their inputs are already in the shadow schema), e.g. downstream of a quarantine. */
    only?: string[];
  },
): Promise<ModelResult[]> {
  const dialect = opts.dialect ?? DUCKDB;
  const shadow = shadowSchema(opts.dataset);
  await wh.ensureSchema(shadow);
  const models = readModels(opts.modelsDir ?? MODELS_DIR);
  const order = buildOrder(models, opts.targets).filter((m) => !opts.only || opts.only.includes(m.name));
  await ensureContractedSources(wh, order, opts.modelsDir ?? MODELS_DIR);
  const ctx: BuildContext = {
    wh,
    dialect,
    shadow,
    runId: opts.runId,
    models: order,
    changedBy: new Map(),
    scratch: [],
  };
  const results: ModelResult[] = [];
  try {
    for (const model of order) {
      const started = Date.now();
      let result: Omit<ModelResult, 'rows' | 'ms'>;
      try {
        result = model.layer !== 'marts' ? await buildTable(ctx, model) : await buildMart(ctx, model);
      } catch (err) {
        throw new Error(`model ${model.layer}/${model.name} failed: ${(err as Error).message}`, { cause: err });
      }
      const [{ n }] = await wh.query<{ n: number }>(`SELECT count(*) AS n FROM ${qualified(shadow, model.name)}`);
      const full: ModelResult = { ...result, rows: Number(n), ms: Date.now() - started };
      results.push(full);
      opts.onModel?.(full);
    }
  } finally {
    // Only what this build created: marts' helper views and tables, never a statement per model.
    for (const { kind, name } of ctx.scratch.reverse())
      await wh.run(`DROP ${kind} IF EXISTS ${name}`).catch(() => undefined);
  }
  return results;
}

interface BuildContext {
  wh: Warehouse;
  dialect: Dialect;
  shadow: string;
  runId: string;
  models: Model[];
  /**
   * Per built mart: 'all' when it was rebuilt, else a table per partition column downstream models
   * use, holding the values (e.g. business dates) of rows this run inserted, changed or deleted.
   */
  changedBy: Map<string, 'all' | Map<string, string>>;
  /** Helper objects this build created in the shadow schema, dropped when it ends. */
  scratch: { kind: 'TABLE' | 'VIEW'; name: string }[];
}

async function buildTable(ctx: BuildContext, model: Model): Promise<Omit<ModelResult, 'rows' | 'ms'>> {
  await ctx.wh.run(
    `CREATE OR REPLACE ${ctx.dialect.scratchTable} ${qualified(ctx.shadow, model.name)} AS ${body(ctx, model)}`,
  );
  return { model: model.name, layer: model.layer, how: 'rebuilt' };
}

function body(ctx: BuildContext, model: Model): string {
  return renderModel(model, ctx.shadow, ctx.dialect).replace(/;\s*$/, '');
}

async function buildMart(ctx: BuildContext, model: Model): Promise<Omit<ModelResult, 'rows' | 'ms'>> {
  const { wh, shadow } = ctx;
  const target = qualified(shadow, model.name);
  const certified = qualified(SCHEMAS.certified, model.name);
  const view = qualified(shadow, `${model.name}__view`);
  ctx.scratch.push({ kind: 'VIEW', name: view });
  // A view first: its columns (from the catalog) define the row hash, the same way on every dialect.
  await wh.run(`CREATE OR REPLACE VIEW ${view} AS ${body(ctx, model)}`);
  const columns = await tableColumns(wh, shadow, `${model.name}__view`);
  // Content only: lineage columns (_source_load_id, …) change with every window, the content may not.
  const rowHash = ctx.dialect.surrogateKey(
    columns.filter((c) => !c.name.startsWith('_')).map((c) => quoteIdent(c.name)),
  );
  const base = { model: model.name, layer: model.layer };

  const previous = await tableColumns(wh, SCHEMAS.certified, model.name);
  const sameShape =
    previous.length > 0 &&
    sameColumns(
      previous.filter((c) => !(MART_META_COLUMNS as readonly string[]).includes(c.name)),
      columns,
    );
  const inputsRebuilt =
    model.partitionBy !== null && model.refs.some((r) => !partitionTracked(ctx, r, model.partitionBy!));
  if (model.materialized === 'table' || !sameShape || inputsRebuilt) {
    // `_run_id` is the run that last changed the row: a row a rebuild reproduces unchanged (same content
    // hash as in certified) keeps the run that wrote it, so dim_date does not look rewritten by every run.
    const kept = sameShape
      ? `LEFT JOIN (SELECT _row_hash, max(_run_id) AS _run_id FROM ${certified} GROUP BY _row_hash) AS c ON c._row_hash = n._row_hash`
      : '';
    await wh.run(
      `CREATE OR REPLACE TABLE ${target} AS
         SELECT n.*, ${sameShape ? 'coalesce(c._run_id, $1::VARCHAR)' : '$1::VARCHAR'} AS _run_id
           FROM (SELECT *, ${rowHash} AS _row_hash FROM ${view}) AS n ${kept}`,
      [ctx.runId],
    );
    ctx.changedBy.set(model.name, 'all');
    return { ...base, how: 'rebuilt' };
  }

  const cols = columns.map((c) => quoteIdent(c.name));
  if (model.uniqueKey) {
    const key = quoteIdent(model.uniqueKey);
    const next = qualified(shadow, `${model.name}__next`);
    ctx.scratch.push({ kind: 'TABLE', name: next });
    await wh.run(
      `CREATE OR REPLACE ${ctx.dialect.scratchTable} ${next} AS SELECT *, ${rowHash} AS _row_hash FROM ${view}`,
    );
    // Record what changed (old and new versions) before merging, for partitioned models downstream.
    const changed = new Map<string, string>();
    for (const col of downstreamPartitionColumns(ctx, model).filter((c) => columns.some((x) => x.name === c))) {
      const table = qualified(shadow, `${model.name}__changed_${col}`);
      const c = quoteIdent(col);
      await wh.run(
        `CREATE OR REPLACE ${ctx.dialect.scratchTable} ${table} AS
           SELECT DISTINCT ${c} FROM ${next} AS s WHERE NOT EXISTS (SELECT 1 FROM ${certified} AS t WHERE t.${key} = s.${key} AND t._row_hash = s._row_hash)
           UNION
           SELECT DISTINCT ${c} FROM ${certified} AS t WHERE NOT EXISTS (SELECT 1 FROM ${next} AS s WHERE s.${key} = t.${key} AND s._row_hash = t._row_hash)`,
      );
      changed.set(col, table);
      ctx.scratch.push({ kind: 'TABLE', name: table });
    }
    ctx.changedBy.set(model.name, changed);
    await wh.run(ctx.dialect.cloneTable(target, certified));
    const [{ updated }] = await wh.query<{ updated: number }>(
      `SELECT count(*) AS updated FROM ${target} AS t JOIN ${next} AS s ON s.${key} = t.${key} WHERE t._row_hash <> s._row_hash`,
    );
    const deleted = await wh.run(
      `DELETE FROM ${target} AS t WHERE NOT EXISTS (SELECT 1 FROM ${next} AS s WHERE s.${key} = t.${key})`,
    );
    const merged = await wh.run(
      `MERGE INTO ${target} AS t USING ${next} AS s ON t.${key} = s.${key}
         WHEN MATCHED AND t._row_hash <> s._row_hash THEN
           UPDATE SET ${[...cols, '_row_hash'].map((c) => `${c} = s.${c}`).join(', ')}, _run_id = $1
         WHEN NOT MATCHED THEN
           INSERT (${[...cols, '_row_hash', '_run_id'].join(', ')}) VALUES (${[...cols, '_row_hash'].map((c) => `s.${c}`).join(', ')}, $1)`,
      [ctx.runId],
    );
    return {
      ...base,
      how: 'merged',
      changes: { inserted: Number(merged) - Number(updated), updated: Number(updated), deleted },
    };
  }

  // partition_by: rewrite exactly the partitions the inputs changed.
  const part = quoteIdent(model.partitionBy!);
  const changedTable = qualified(shadow, `${model.name}__changed_${model.partitionBy}`);
  const inputs = model.refs.map((r) => (ctx.changedBy.get(r) as Map<string, string>).get(model.partitionBy!)!);
  await wh.run(
    `CREATE OR REPLACE ${ctx.dialect.scratchTable} ${changedTable} AS ${inputs.map((t) => `SELECT ${part} FROM ${t}`).join(' UNION ')}`,
  );
  ctx.changedBy.set(model.name, new Map([[model.partitionBy!, changedTable]]));
  ctx.scratch.push({ kind: 'TABLE', name: changedTable });
  await wh.run(ctx.dialect.cloneTable(target, certified));
  const deleted = await wh.run(`DELETE FROM ${target} WHERE ${part} IN (SELECT ${part} FROM ${changedTable})`);
  const inserted = await wh.run(
    `INSERT INTO ${target} (${[...cols, '_row_hash', '_run_id'].join(', ')})
       SELECT ${cols.join(', ')}, ${rowHash}, $1 FROM ${view} WHERE ${part} IN (SELECT ${part} FROM ${changedTable})`,
    [ctx.runId],
  );
  const [{ n }] = await wh.query<{ n: number }>(`SELECT count(*) AS n FROM ${changedTable}`);
  return { ...base, how: 'partitions', partitions: Number(n), changes: { inserted, updated: 0, deleted } };
}

/** True when `ref` was merged this run and recorded which values of `column` it changed. */
function partitionTracked(ctx: BuildContext, ref: string, column: string): boolean {
  const changed = ctx.changedBy.get(ref);
  return changed !== undefined && changed !== 'all' && changed.has(column);
}

/** Partition columns of the partitioned marts built from `model`. */
function downstreamPartitionColumns(ctx: BuildContext, model: Model): string[] {
  return [
    ...new Set(ctx.models.filter((m) => m.partitionBy && m.refs.includes(model.name)).map((m) => m.partitionBy!)),
  ];
}

function sameColumns(a: Column[], b: Column[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i].name && c.type === b[i].type);
}

/**
 * Sources declared in models/sources.yaml that no extractor has written yet get an empty raw table
 * with their documented columns and Freshline's lineage columns, so models reading them build.
 */
async function ensureContractedSources(wh: Warehouse, order: Model[], modelsDir: string): Promise<void> {
  const read = new Set(order.flatMap((m) => m.sources.map((s) => `${s.source}.${s.table}`)));
  for (const contract of readSourceContracts(modelsDir).filter((c) => read.has(`${c.source}.${c.table}`))) {
    const table = rawTable(contract.source, contract.table);
    if (await wh.tableExists(SCHEMAS.raw, table)) continue;
    await wh.ensureSchema(SCHEMAS.raw);
    const columns = Object.entries(contract.columns).map(([name, type]) => `${quoteIdent(name)} ${type}`);
    await wh.run(
      `CREATE TABLE IF NOT EXISTS ${qualified(SCHEMAS.raw, table)} (${columns.join(', ')}, _load_id VARCHAR, _window_start TIMESTAMPTZ,
         _window_end TIMESTAMPTZ, _extracted_at TIMESTAMPTZ, _source_file VARCHAR, _deleted BOOLEAN DEFAULT false, _lsn VARCHAR)`,
    );
  }
}
