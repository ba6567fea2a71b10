import { createHash } from 'node:crypto';
import { builtSqlHash, PENDING_LOADS_SQL, recordBuilt, recordMerged } from '../audit/change-ledger';
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
  /**
   * How it was built: rebuilt whole, merged on its key, only its changed partitions rewritten, or (staging)
   * only the keys new loads touched recomputed.
   */
  how?: 'rebuilt' | 'merged' | 'partitions' | 'keys';
  /** Staging merged by key: how many keys new loads touched (each recomputed from its raw versions). */
  keys?: number;
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
    /** Build every staging model whole from raw instead of merging the keys new loads touched. */
    fullRefresh?: boolean;
    /**
     * Models an `error` check may quarantine rows of: a staging one is rebuilt whole every run, as a quarantined
     * (deleted) row of a persistent table would otherwise stay out after its release.
     */
    quarantinable?: string[];
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
    dataset: opts.dataset,
    fullRefresh: opts.fullRefresh ?? false,
    quarantinable: new Set(opts.quarantinable ?? []),
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
        if (model.layer === 'marts') result = await buildMart(ctx, model);
        else if (mergesByKey(model) && !ctx.quarantinable.has(model.name)) result = await buildStaging(ctx, model);
        else result = await buildTable(ctx, model);
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
  dataset: string;
  fullRefresh: boolean;
  quarantinable: Set<string>;
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

function body(ctx: BuildContext, model: Model, onlyKeysIn?: string): string {
  return renderModel(model, ctx.shadow, ctx.dialect, onlyKeysIn).replace(/;\s*$/, '');
}

/**
 * A staging model that is one latest() read keyed like the model (stg_orders: latest version of each
 * order_id) is kept as a persistent table and merged by key: only the keys new loads touched are read.
 */
function mergesByKey(model: Model): boolean {
  return (
    model.layer === 'staging' &&
    model.refs.length === 0 &&
    model.sources.length === 1 &&
    model.latest.length === 1 &&
    model.key.length === 1 &&
    model.key[0] === model.latest[0].key
  );
}

/**
 * Merges into the persistent staging table exactly the keys written by the loads of its raw table that
 * this dataset's model has not merged yet (audit.raw_loads − audit.staging_merges): their latest version
 * replaces what staging held, a key whose latest version is a tombstone leaves. The pending loads are
 * fixed first, so a load committing meanwhile stays pending for the next build. Rebuilt whole when the
 * table is missing, its SQL changed since the last full build, or on a full refresh — the result is the
 * same table either way (test/integration/incremental-equals-full.test.ts).
 */
async function buildStaging(ctx: BuildContext, model: Model): Promise<Omit<ModelResult, 'rows' | 'ms'>> {
  const { wh, shadow, dataset } = ctx;
  const base = { model: model.name, layer: model.layer };
  const target = qualified(shadow, model.name);
  const raw = rawTable(model.latest[0].source, model.latest[0].table);
  const sqlHash = createHash('sha256').update(body(ctx, model)).digest('hex').slice(0, 16);
  const pending = qualified(shadow, `${model.name}__pending`);
  ctx.scratch.push({ kind: 'TABLE', name: pending });
  await wh.run(`CREATE OR REPLACE ${ctx.dialect.scratchTable} ${pending} AS ${PENDING_LOADS_SQL}`, [
    raw,
    dataset,
    model.name,
  ]);
  const whole =
    ctx.fullRefresh ||
    !(await wh.tableExists(shadow, model.name)) ||
    (await builtSqlHash(wh, dataset, model.name)) !== sqlHash;
  const now = ctx.dialect.now;
  if (whole) {
    await wh.run(`CREATE OR REPLACE ${ctx.dialect.scratchTable} ${target} AS ${body(ctx, model)}`);
    await wh.transaction(async (tx) => {
      await recordBuilt(tx, dataset, model.name, sqlHash, now);
      await recordMerged(tx, dataset, model.name, pending, now);
    });
    return { ...base, how: 'rebuilt' };
  }
  const key = quoteIdent(model.key[0]);
  const touched = qualified(shadow, `${model.name}__touched`);
  ctx.scratch.push({ kind: 'TABLE', name: touched });
  await wh.run(
    `CREATE OR REPLACE ${ctx.dialect.scratchTable} ${touched} AS
       SELECT DISTINCT r.${key} FROM ${qualified(SCHEMAS.raw, raw)} AS r
         JOIN ${pending} AS p ON r._load_id = p.load_id AND r._extracted_at = p.extracted_at`,
  );
  const changes = await wh.transaction(async (tx) => {
    const deleted = await tx.run(`DELETE FROM ${target} WHERE ${key} IN (SELECT ${key} FROM ${touched})`);
    const inserted = await tx.run(`INSERT INTO ${target} ${body(ctx, model, touched)}`);
    await recordMerged(tx, dataset, model.name, pending, now);
    return { deleted, inserted };
  });
  const [{ n }] = await wh.query<{ n: number }>(`SELECT count(*) AS n FROM ${touched}`);
  return { ...base, how: 'keys', keys: Number(n), changes: { ...changes, updated: 0 } };
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
