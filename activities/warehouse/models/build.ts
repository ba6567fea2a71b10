import { createHash } from 'node:crypto';
import { builtSqlHash, PENDING_LOADS_SQL, recordBuilt, recordMerged } from '../audit/change-ledger';
import { DUCKDB, type Dialect } from '../dialect';
import { SCHEMAS, rawTable, shadowSchema } from '../layout';
import { buildOrder, readModels, readSourceContracts, renderModel, MODELS_DIR, type Model } from './catalog';
import { changesTable, ensureUnpublished, markPublishWhole, markRebuilt, rebuiltModels } from './changes';
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
   * How it was built: rebuilt whole, merged on its key, only its changed partitions rewritten, or (staging,
   * intermediate) only the keys (recompute_by groups) its inputs' changes reach recomputed.
   */
  how?: 'rebuilt' | 'merged' | 'partitions' | 'keys';
  /** Recomputed by key: how many keys (recompute_by groups) its inputs' changes reached. */
  keys?: number;
  /** Incremental marts: rows inserted, updated (content changed) and deleted by this run. */
  changes?: { inserted: number; updated: number; deleted: number };
  /** Partition-incremental marts: how many partitions (e.g. business dates) were rewritten. */
  partitions?: number;
}

/** Lineage and change-detection columns Freshline adds to every mart (not part of the model). */
export const MART_META_COLUMNS = ['_run_id', '_row_hash'] as const;

type Column = { name: string; type: string };
type Tx = Pick<Warehouse, 'run' | 'query'>;

/**
 * Builds the dataset's models in dependency order into its shadow schema (write-audit-publish: the
 * gate reads these, publish applies them to certified). Every model is a persistent table there; a build
 * recomputes only what its inputs' changes reach (models/changes.ts):
 * - a staging model that is one latest() read merges the keys written by loads it has not merged yet;
 * - a model with `recompute_by` (intermediates, facts, dim_customer, aggregates by `partition_by`)
 *   recomputes the groups its `depends_on` inputs' changed rows name, reading only those groups' rows;
 * - anything else, and any model whose SQL or columns changed, an input changed in a way it does not
 *   declare, or on `fullRefresh`, is rebuilt whole — the same table either way
 *   (test/integration/incremental-equals-full.test.ts).
 * Marts carry `_run_id`, the run that last changed the row, and `_row_hash`, a digest of its content:
 * a recomputed row with the content it had keeps its `_run_id` and is not published again.
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
    /** Rebuild only these models whole (their inputs are already in the shadow schema), e.g. downstream of a quarantine. */
    only?: string[];
    /** Build every model whole instead of recomputing what changed. */
    fullRefresh?: boolean;
    /**
     * Models an `error` check may quarantine rows of: a staging one is rebuilt whole every run, as a quarantined
     * (deleted) row of a persistent staging table would otherwise stay out after its release.
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
  const quarantinable = new Set(opts.quarantinable ?? []);
  const ctx: BuildContext = {
    wh,
    dialect,
    shadow,
    runId: opts.runId,
    dataset: opts.dataset,
    whole: (opts.fullRefresh ?? false) || opts.only !== undefined,
    rebuilt: await rebuiltModels(wh, opts.dataset),
    scratch: [],
    logs: new Set(),
  };
  const results: ModelResult[] = [];
  try {
    for (const model of order) {
      const started = Date.now();
      let result: Omit<ModelResult, 'rows' | 'ms'>;
      try {
        result = await buildModel(ctx, incrementalShape(model, quarantinable));
      } catch (err) {
        throw new Error(`model ${model.layer}/${model.name} failed: ${(err as Error).message}`, { cause: err });
      }
      const [{ n }] = await wh.query<{ n: number }>(`SELECT count(*) AS n FROM ${qualified(shadow, model.name)}`);
      const full: ModelResult = { ...result, rows: Number(n), ms: Date.now() - started };
      results.push(full);
      opts.onModel?.(full);
    }
    await finishBuild(ctx);
  } finally {
    // Only what this build created: helper views and tables, never a statement per model.
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
  /** Every model is rebuilt whole (full refresh, or a rebuild downstream of a quarantine). */
  whole: boolean;
  /** Models rebuilt whole since the last complete build: readers cannot tell what changed in them. */
  rebuilt: Set<string>;
  /** Helper objects this build created in the shadow schema, dropped when it ends. */
  scratch: { kind: 'TABLE' | 'VIEW'; name: string }[];
  /** Change logs this build wrote to (or made sure exist): emptied when it completes. */
  logs: Set<string>;
}

/**
 * A staging model that is one latest() read keyed like the model (stg_orders: latest version of each
 * order_id) is recomputed by that key from the loads it has not merged yet — unless an `error` check
 * may quarantine its rows.
 */
function incrementalShape(model: Model, quarantinable: Set<string>): Model {
  const byKey =
    model.layer === 'staging' &&
    model.refs.length === 0 &&
    model.sources.length === 1 &&
    model.latest.length === 1 &&
    model.key.length === 1 &&
    model.key[0] === model.latest[0].key;
  if (!byKey || quarantinable.has(model.name))
    return model.layer === 'staging' ? { ...model, recomputeBy: null } : model;
  const { source, table, key } = model.latest[0];
  return { ...model, recomputeBy: key, dependsOn: [{ input: `${source}.${table}`, column: key }] };
}

function body(ctx: BuildContext, model: Model, groups?: string): string {
  const restrict = groups && model.recomputeBy ? { column: model.recomputeBy, groups } : undefined;
  const latestByGroup = model.latest.length === 1 && model.latest[0].key === model.recomputeBy;
  return renderModel(model, ctx.shadow, ctx.dialect, latestByGroup ? groups : undefined, restrict).replace(/;\s*$/, '');
}

function scratch(ctx: BuildContext, kind: 'TABLE' | 'VIEW', name: string): string {
  const table = qualified(ctx.shadow, name);
  ctx.scratch.push({ kind, name: table });
  return table;
}

async function count(wh: Tx, sql: string): Promise<number> {
  const [{ n }] = await wh.query<{ n: number }>(`SELECT count(*) AS n FROM ${sql}`);
  return Number(n);
}

/** What the inputs of a model changed since it last read them. */
interface InputChanges {
  /** An input changed in a way the model cannot follow by group (undeclared, or rebuilt). */
  all: boolean;
  /** SQL selecting the changed values of a depends_on column, per input. */
  parts: { column: string; values: string }[];
  /** Per source the model reads, the loads it has not merged yet (marked merged with the build). */
  pending: string[];
}

async function inputChanges(ctx: BuildContext, model: Model): Promise<InputChanges> {
  const { wh, shadow } = ctx;
  const out: InputChanges = { all: false, parts: [], pending: [] };
  const declared = (input: string) => model.dependsOn.find((d) => d.input === input);
  for (const ref of new Set(model.refs)) {
    if (ctx.rebuilt.has(ref)) {
      out.all = true;
      continue;
    }
    const changes = changesTable(shadow, ref);
    if (!(await wh.tableExists(shadow, `${ref}__changes`)) || (await count(wh, changes)) === 0) continue;
    const dep = declared(ref);
    if (!dep) out.all = true;
    else out.parts.push({ column: dep.column, values: `SELECT ${quoteIdent(dep.column)} FROM ${changes}` });
  }
  for (const [i, s] of model.sources.entries()) {
    const raw = rawTable(s.source, s.table);
    const pending = scratch(ctx, 'TABLE', `${model.name}__pending_${i}`);
    await wh.run(`CREATE OR REPLACE ${ctx.dialect.scratchTable} ${pending} AS ${PENDING_LOADS_SQL}`, [
      raw,
      ctx.dataset,
      model.name,
    ]);
    out.pending.push(pending);
    if ((await count(wh, pending)) === 0) continue;
    const dep = declared(`${s.source}.${s.table}`);
    if (!dep) out.all = true;
    else
      out.parts.push({
        column: dep.column,
        values: `SELECT r.${quoteIdent(dep.column)} FROM ${qualified(SCHEMAS.raw, raw)} AS r
                   JOIN ${pending} AS p ON r._load_id = p.load_id AND r._extracted_at = p.extracted_at`,
      });
  }
  return out;
}

async function buildModel(ctx: BuildContext, model: Model): Promise<Omit<ModelResult, 'rows' | 'ms'>> {
  const { wh, shadow } = ctx;
  const mart = model.layer === 'marts';
  const view = scratch(ctx, 'VIEW', `${model.name}__view`);
  // A view first: its columns (from the catalog) are the model's, the same way on every dialect.
  await wh.run(`CREATE OR REPLACE VIEW ${view} AS ${body(ctx, model)}`);
  const columns = await tableColumns(wh, shadow, `${model.name}__view`);
  const previous = (await tableColumns(wh, shadow, model.name)).filter(
    (c) => !mart || !(MART_META_COLUMNS as readonly string[]).includes(c.name),
  );
  const sameShape = previous.length > 0 && sameColumns(previous, columns);
  const sqlHash = createHash('sha256').update(body(ctx, model)).digest('hex').slice(0, 16);
  const inputs = await inputChanges(ctx, model);
  const builtFrom = await builtSqlHash(wh, ctx.dataset, model.name);
  const whole = ctx.whole || !sameShape || !model.recomputeBy || inputs.all || builtFrom !== sqlHash;
  // A table built before this dataset kept change sets may differ from certified in ways no log holds.
  const shape = { model, view, columns, sameShape, inputs, firstBuild: builtFrom === undefined };
  const result = whole ? await rebuildWhole(ctx, shape) : await recomputeGroups(ctx, shape);
  await wh.transaction(async (tx) => {
    if (whole) await recordBuilt(tx, ctx.dataset, model.name, sqlHash, ctx.dialect.now);
    for (const pending of inputs.pending) await recordMerged(tx, ctx.dataset, model.name, pending, ctx.dialect.now);
  });
  return result;
}

interface Shape {
  model: Model;
  view: string;
  columns: Column[];
  /** The shadow table exists with the model's columns. */
  sameShape: boolean;
  inputs: InputChanges;
  /** No whole build of this model was recorded yet. */
  firstBuild: boolean;
}

/** The content digest of a mart row: lineage columns (`_source_load_id`, …) change with every window, the content may not. */
function rowHash(ctx: BuildContext, columns: Column[]): string {
  return ctx.dialect.surrogateKey(columns.filter((c) => !c.name.startsWith('_')).map((c) => quoteIdent(c.name)));
}

/**
 * Rebuilds a model whole beside its table, then records what differs from the table it replaces: the
 * changed rows in its change log (and, for a mart, their groups as unpublished), or — when its columns
 * changed — the model as rebuilt and the mart as to be published whole. The log is written before the
 * table is replaced, so a build dying in between repeats the rebuild and loses no change.
 */
async function rebuildWhole(ctx: BuildContext, { model, view, columns, sameShape, firstBuild }: Shape) {
  const { wh, shadow, dialect } = ctx;
  const mart = model.layer === 'marts';
  const target = qualified(shadow, model.name);
  const fresh = scratch(ctx, 'TABLE', `${model.name}__new`);
  const now = dialect.now;
  let diff: string | undefined;
  if (mart && sameShape && model.uniqueKey) {
    // A row the rebuild reproduces with the same content is kept as it is, with the run that wrote it and its
    // lineage — exactly what recomputing its group would have kept. The content hash also gives the rows
    // that differ, without comparing whole rows. Permanent: publish may clone it.
    const k = quoteIdent(model.uniqueKey);
    const computed = scratch(ctx, 'TABLE', `${model.name}__computed`);
    await wh.run(
      `CREATE OR REPLACE ${dialect.scratchTable} ${computed} AS SELECT *, ${rowHash(ctx, columns)} AS _row_hash FROM ${view}`,
    );
    const same = (a: string, b: string) =>
      `EXISTS (SELECT 1 FROM ${b} AS b WHERE b.${k} = ${a}.${k} AND b._row_hash = ${a}._row_hash)`;
    diff = scratch(ctx, 'TABLE', `${model.name}__diff`);
    await wh.run(
      `CREATE OR REPLACE ${dialect.scratchTable} ${diff} AS
         SELECT t.* FROM ${target} AS t WHERE NOT ${same('t', computed)}
         UNION ALL
         SELECT c.*, $1::VARCHAR AS _run_id FROM ${computed} AS c WHERE NOT ${same('c', target)}`,
      [ctx.runId],
    );
    await wh.run(
      `CREATE OR REPLACE TABLE ${fresh} AS
         SELECT t.* FROM ${target} AS t WHERE ${same('t', computed)}
         UNION ALL
         SELECT d.* FROM ${diff} AS d WHERE d._run_id = $1 AND NOT ${same('d', target)}`,
      [ctx.runId],
    );
  } else if (mart) {
    // `_run_id` is the run that last changed the row: a row the rebuild reproduces unchanged (same content
    // hash) keeps the run that wrote it, so dim_date does not look rewritten by every run. Permanent, as
    // publish may clone it into certified.
    const kept = sameShape
      ? `LEFT JOIN (SELECT _row_hash, max(_run_id) AS _run_id FROM ${target} GROUP BY _row_hash) AS c ON c._row_hash = n._row_hash`
      : '';
    await wh.run(
      `CREATE OR REPLACE TABLE ${fresh} AS
         SELECT n.*, ${sameShape ? 'coalesce(c._run_id, $1::VARCHAR)' : '$1::VARCHAR'} AS _run_id
           FROM (SELECT *, ${rowHash(ctx, columns)} AS _row_hash FROM ${view}) AS n ${kept}`,
      [ctx.runId],
    );
  } else await wh.run(`CREATE OR REPLACE ${dialect.scratchTable} ${fresh} AS SELECT * FROM ${view}`);
  const changes = changesTable(shadow, model.name);
  if (mart && firstBuild) await wh.transaction((tx) => markPublishWhole(tx, ctx.dataset, model.name, now));
  if (sameShape) {
    if (!diff) {
      diff = scratch(ctx, 'TABLE', `${model.name}__diff`);
      await wh.run(
        `CREATE OR REPLACE ${dialect.scratchTable} ${diff} AS
           (SELECT * FROM ${target} EXCEPT SELECT * FROM ${fresh}) UNION ALL (SELECT * FROM ${fresh} EXCEPT SELECT * FROM ${target})`,
      );
    }
    await wh.run(`CREATE ${dialect.scratchTable} IF NOT EXISTS ${changes} AS SELECT * FROM ${target} WHERE 1 = 0`);
    ctx.logs.add(changes);
    const changed = await count(wh, diff);
    if (changed > 0) {
      const g =
        mart && model.recomputeBy
          ? await ensureUnpublished(wh, dialect.scratchTable, shadow, model.name, model.recomputeBy!)
          : undefined;
      await wh.transaction(async (tx) => {
        await tx.run(`INSERT INTO ${changes} SELECT * FROM ${diff}`);
        if (g) await tx.run(`INSERT INTO ${g.table} SELECT DISTINCT ${g.column} FROM ${diff}`);
        else if (mart) await markPublishWhole(tx, ctx.dataset, model.name, now);
      });
    }
  } else {
    await wh.run(`DROP TABLE IF EXISTS ${changes}`);
    await wh.transaction(async (tx) => {
      await markRebuilt(tx, ctx.dataset, model.name, now);
      if (mart) await markPublishWhole(tx, ctx.dataset, model.name, now);
    });
    ctx.rebuilt.add(model.name);
  }
  // DuckDB renames the rebuild into place (a build dying in between finds the table missing: rebuilt again).
  for (const statement of dialect.replaceTable(shadow, model.name, `${model.name}__new`, !mart))
    await wh.run(statement);
  return { model: model.name, layer: model.layer, how: 'rebuilt' as const };
}

/**
 * Recomputes the groups (`recompute_by` values) the inputs' changes reach: a change in an input linked by
 * the group column names its group; one linked by another column (fct_orders by customer_id from
 * dim_customer) names the groups holding that value before and after. Mart groups with quarantined rows
 * are recomputed too, so a fixed or released row comes back. One transaction replaces the groups' rows,
 * logs their old and new versions and (marts) marks the groups unpublished; a unique-key mart replaces
 * only rows whose content changed, so the others keep their `_run_id`.
 */
async function recomputeGroups(ctx: BuildContext, { model, columns, inputs }: Shape) {
  const { wh, shadow, dialect } = ctx;
  const mart = model.layer === 'marts';
  const target = qualified(shadow, model.name);
  const g = quoteIdent(model.recomputeBy!);
  // An input linked by another column only enriches rows (a dimension lookup): the groups holding its
  // changed values are found in the model's current rows; rows it lacks arrive through a direct input.
  const parts = inputs.parts.map(({ column, values }) =>
    column === model.recomputeBy
      ? `SELECT ${g} FROM (${values}) AS v`
      : `SELECT ${g} FROM ${target} WHERE ${quoteIdent(column)} IN (${values})`,
  );
  if (mart && (await tableColumns(wh, SCHEMAS.quarantine, model.name)).some((c) => c.name === model.recomputeBy))
    parts.push(`SELECT ${g} FROM ${qualified(SCHEMAS.quarantine, model.name)}`);
  const how = !mart ? 'keys' : model.uniqueKey ? 'merged' : 'partitions';
  const base = { model: model.name, layer: model.layer, how: how as 'keys' | 'merged' | 'partitions' };
  const none = { inserted: 0, updated: 0, deleted: 0 };
  if (!parts.length)
    return how === 'partitions' ? { ...base, partitions: 0, changes: none } : { ...base, keys: 0, changes: none };
  const groups = scratch(ctx, 'TABLE', `${model.name}__groups`);
  await wh.run(
    `CREATE OR REPLACE ${dialect.scratchTable} ${groups} AS
       SELECT DISTINCT ${g} FROM (${parts.join(' UNION ALL ')}) AS x WHERE ${g} IS NOT NULL`,
  );
  const inGroups = `${g} IN (SELECT ${g} FROM ${groups})`;
  const next = `SELECT * FROM (${body(ctx, model, groups)}) AS m WHERE m.${inGroups}`;
  // The groups' rows before (stale) and after (fresh) that changed; both small.
  const stale = scratch(ctx, 'TABLE', `${model.name}__stale`);
  const fresh = scratch(ctx, 'TABLE', `${model.name}__fresh`);
  let identity: string[] = [];
  if (!mart) {
    await wh.run(`CREATE OR REPLACE ${dialect.scratchTable} ${stale} AS SELECT * FROM ${target} WHERE ${inGroups}`);
    await wh.run(`CREATE OR REPLACE ${dialect.scratchTable} ${fresh} AS ${next}`);
  } else {
    const computed = scratch(ctx, 'TABLE', `${model.name}__next`);
    await wh.run(
      `CREATE OR REPLACE ${dialect.scratchTable} ${computed} AS SELECT *, ${rowHash(ctx, columns)} AS _row_hash FROM (${next}) AS n`,
    );
    await wh.run(`CREATE OR REPLACE ${dialect.scratchTable} ${stale} AS SELECT * FROM ${target} WHERE ${inGroups}`);
    if (model.uniqueKey) {
      identity = [quoteIdent(model.uniqueKey)];
      // Unchanged rows (same key, same content) are neither stale nor fresh; compared within the groups only.
      const same = (a: string, b: string) =>
        `EXISTS (SELECT 1 FROM ${b} AS b WHERE b.${identity[0]} = ${a}.${identity[0]} AND b._row_hash = ${a}._row_hash)`;
      await wh.run(
        `CREATE OR REPLACE ${dialect.scratchTable} ${fresh} AS
           SELECT c.*, $1::VARCHAR AS _run_id FROM ${computed} AS c WHERE NOT ${same('c', stale)}`,
        [ctx.runId],
      );
      await wh.run(`DELETE FROM ${stale} AS s WHERE ${same('s', computed)}`);
    } else
      await wh.run(
        `CREATE OR REPLACE ${dialect.scratchTable} ${fresh} AS SELECT c.*, $1::VARCHAR AS _run_id FROM ${computed} AS c`,
        [ctx.runId],
      );
  }
  const changes = changesTable(shadow, model.name);
  await wh.run(`CREATE ${dialect.scratchTable} IF NOT EXISTS ${changes} AS SELECT * FROM ${target} WHERE 1 = 0`);
  ctx.logs.add(changes);
  const unpublished = mart
    ? await ensureUnpublished(wh, dialect.scratchTable, shadow, model.name, model.recomputeBy!)
    : undefined;
  const [{ keys, stale_rows: staleRows, fresh_rows: freshRows, updated }] = await wh.query<{
    keys: number;
    stale_rows: number;
    fresh_rows: number;
    updated: number;
  }>(
    `SELECT (SELECT count(*) FROM ${groups}) AS keys, (SELECT count(*) FROM ${stale}) AS stale_rows,
            (SELECT count(*) FROM ${fresh}) AS fresh_rows,
            ${identity.length ? `(SELECT count(*) FROM ${stale} AS s JOIN ${fresh} AS f ON f.${identity[0]} = s.${identity[0]})` : '0'} AS updated`,
  );
  await wh.transaction(async (tx) => {
    await tx.run(`INSERT INTO ${changes} SELECT * FROM ${stale}`);
    await tx.run(`INSERT INTO ${changes} SELECT * FROM ${fresh}`);
    if (unpublished)
      await tx.run(`INSERT INTO ${unpublished.table} SELECT ${g} FROM ${stale} UNION SELECT ${g} FROM ${fresh}`);
    const del = identity.length
      ? `DELETE FROM ${target} WHERE ${identity[0]} IN (SELECT ${identity[0]} FROM ${stale} UNION SELECT ${identity[0]} FROM ${fresh})`
      : `DELETE FROM ${target} WHERE ${inGroups}`;
    await tx.run(del);
    await tx.run(`INSERT INTO ${target} SELECT * FROM ${fresh}`);
  });
  const changed = {
    inserted: Number(freshRows) - Number(updated),
    updated: Number(updated),
    deleted: Number(staleRows) - Number(updated),
  };
  return how === 'partitions'
    ? { ...base, partitions: Number(keys), changes: changed }
    : { ...base, keys: Number(keys), changes: changed };
}

/**
 * The build completed: every model has read its inputs' change logs, so they are emptied, and models
 * rebuilt whole are no longer news to their readers. One transaction.
 */
async function finishBuild(ctx: BuildContext): Promise<void> {
  // Every path of a build either makes sure a model's log exists (ctx.logs) or drops it. Rebuild marks are
  // all this build's: a complete build cleared the earlier ones.
  await ctx.wh.transaction(async (tx) => {
    for (const log of ctx.logs) await tx.run(`DELETE FROM ${log}`);
    await tx.run('DELETE FROM audit.model_rebuilds WHERE dataset = $1', [ctx.dataset]);
  });
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
