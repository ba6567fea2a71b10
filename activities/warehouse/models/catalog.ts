import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DUCKDB, type Dialect, type DialectName } from '../dialect';
import { SCHEMAS, rawTable } from '../layout';
import { qualified, quoteIdent } from '../sql';

/** Default location of the SQL models (dbt-style layers). */
export const MODELS_DIR = resolve(__dirname, '../../../models');

/**
 * A SQL model file. Header comments: `-- grain: …` (required), `-- materialized: table|incremental`,
 * `-- unique_key: col` (incremental: MERGE on this business key), `-- key: a, b` (the columns naming a row
 * at the grain; default unique_key), `-- partition_by: col` (incremental:
 * only the partitions whose rows changed are rewritten), `-- dialects: duckdb, snowflake`,
 * `-- recompute_by: col` and `-- depends_on: input(col), …` (which rows an input's change recomputes).
 * Template functions, written once for every dialect (see dialect.ts):
 * `{{ ref('model') }}`, `{{ source('src', 'table') }}` (every raw version), `{{ latest('src', 'table',
 * 'key') }}` (the live, latest version of each key — the one deduplication rule every staging model
 * shares), `{{ surrogate_key('a', 'b') }}`, `{{ date_key('d') }}`, `{{ iso_day_of_week('d') }}`,
 * `{{ iso_week('d') }}`, `{{ hours_between('a', 'b') }}`, `{{ date_spine('2015-01-01', '2035-12-31') }}`.
 */
export interface Model {
  name: string;
  layer: 'staging' | 'intermediate' | 'marts';
  /** The grain stated at the top of the file (`-- grain: …`). */
  grain: string;
  sql: string;
  refs: string[];
  sources: { source: string; table: string }[];
  /** The `latest()` reads among `sources`, with the key each deduplicates on. */
  latest: { source: string; table: string; key: string }[];
  /** table: rebuilt whole every run; incremental: merged by unique_key or rewritten by partition. */
  materialized: 'table' | 'incremental';
  /** Business key an incremental model is merged on. */
  uniqueKey: string | null;
  /**
   * Columns naming one row at the stated grain (`-- key: a, b`; default: unique_key). Row checks and
   * quarantine identify rows by it, never by an engine's hidden row id. Empty: not declared.
   */
  key: string[];
  /** Column whose changed values an incremental model rewrites (e.g. the business date). */
  partitionBy: string | null;
  /** Dialects the model runs on (default: all). */
  dialects: DialectName[];
  /**
   * `-- recompute_by: col`: the column whose values group the rows recomputed together when inputs change
   * (default: a mart's unique_key). A model with it is kept as a persistent table and only the groups its
   * inputs' changes reach are recomputed; NULL groups are recomputed by full rebuilds only.
   */
  recomputeBy: string | null;
  /**
   * `-- depends_on: stg_orders(order_id), shop.customers(customer_id)`: for each input (a ref, or a source
   * as `source.table`), the column linking its rows to the model's: a changed input row with value v
   * recomputes the model's rows whose column of that name is v. A change in an input not listed rebuilds
   * the model whole.
   */
  dependsOn: { input: string; column: string }[];
}

const TAG = /\{\{\s*([a-z_]+)\(\s*((?:'[^']*'\s*,?\s*)*)\)\s*\}\}/g;
const ARITY: Record<string, number> = {
  ref: 1,
  source: 2,
  latest: 3,
  surrogate_key: -1,
  date_key: 1,
  iso_day_of_week: 1,
  iso_week: 1,
  hours_between: 2,
  date_spine: 2,
};

function tagArgs(raw: string): string[] {
  return [...raw.matchAll(/'([^']*)'/g)].map((m) => m[1]);
}

function header(sql: string, name: string): string | undefined {
  return new RegExp(`^--\\s*${name}:\\s*(.+)$`, 'm').exec(sql)?.[1]?.trim();
}

/** Reads every model under models/<layer>/*.sql; a model without a stated grain or with a bad tag is rejected. */
export function readModels(dir = MODELS_DIR): Map<string, Model> {
  const models = new Map<string, Model>();
  for (const layer of ['staging', 'intermediate', 'marts'] as const) {
    for (const file of readdirSync(join(dir, layer))
      .filter((f) => f.endsWith('.sql'))
      .sort()) {
      const sql = readFileSync(join(dir, layer, file), 'utf8');
      const name = basename(file, '.sql');
      const where = `model ${layer}/${file}`;
      const grain = header(sql, 'grain');
      if (!grain) throw new Error(`${where} does not state its grain ('-- grain: …' at the top)`);
      if (models.has(name)) throw new Error(`model name '${name}' is defined twice`);
      const refs: string[] = [];
      const sources: Model['sources'] = [];
      const latest: Model['latest'] = [];
      for (const m of sql.matchAll(TAG)) {
        const args = tagArgs(m[2]);
        const arity = ARITY[m[1]];
        if (arity === undefined)
          throw new Error(`${where}: unknown template function '${m[1]}' (known: ${Object.keys(ARITY).join(', ')})`);
        if (arity >= 0 ? args.length !== arity : args.length === 0)
          throw new Error(
            `${where}: ${m[1]}() takes ${arity >= 0 ? arity : 'one or more'} argument(s), got ${args.length}`,
          );
        if (m[1] === 'ref') refs.push(args[0]);
        if (m[1] === 'source' || m[1] === 'latest') sources.push({ source: args[0], table: args[1] });
        if (m[1] === 'latest') latest.push({ source: args[0], table: args[1], key: args[2] });
      }
      const leftover = /\{\{[^}]*\}\}/.exec(sql.replace(TAG, ''));
      if (leftover) throw new Error(`${where}: cannot read template tag ${leftover[0]}`);
      const materialized = header(sql, 'materialized') ?? 'table';
      if (materialized !== 'table' && materialized !== 'incremental')
        throw new Error(`${where}: materialized must be table or incremental, got '${materialized}'`);
      const uniqueKey = header(sql, 'unique_key') ?? null;
      const partitionBy = header(sql, 'partition_by') ?? null;
      if (materialized === 'incremental' && !uniqueKey === !partitionBy)
        throw new Error(`${where}: an incremental model needs exactly one of unique_key or partition_by`);
      if (materialized === 'incremental' && layer !== 'marts')
        throw new Error(
          `${where}: only marts are materialized incremental (an intermediate model recomputes by recompute_by)`,
        );
      const key = (header(sql, 'key') ?? uniqueKey ?? '').split(/\s*,\s*/).filter(Boolean);
      const badKey = key.find((k) => !/^[a-z_][a-z0-9_]*$/.test(k));
      if (badKey) throw new Error(`${where}: key lists '${badKey}', not a column name`);
      // An aggregate by partition depends on each input by its partition column unless it says otherwise.
      const dependsOn =
        partitionBy && !header(sql, 'depends_on')
          ? [...new Set(refs)].map((input) => ({ input, column: partitionBy }))
          : parseDependsOn(header(sql, 'depends_on'), where);
      const inputs = new Set([...refs, ...sources.map((x) => `${x.source}.${x.table}`)]);
      const unknown = dependsOn.find((d) => !inputs.has(d.input));
      if (unknown) throw new Error(`${where}: depends_on names '${unknown.input}', which the model does not read`);
      const recomputeBy =
        header(sql, 'recompute_by') ?? (materialized === 'incremental' ? (uniqueKey ?? partitionBy) : null);
      if (recomputeBy && !/^[a-z_][a-z0-9_]*$/.test(recomputeBy))
        throw new Error(`${where}: recompute_by '${recomputeBy}' is not a column name`);
      if (header(sql, 'recompute_by') && layer === 'staging')
        throw new Error(`${where}: staging models are merged by the key of their latest() read, not recompute_by`);
      const dialects = (header(sql, 'dialects') ?? 'duckdb, snowflake').split(/\s*,\s*/) as DialectName[];
      if (dialects.some((d) => d !== 'duckdb' && d !== 'snowflake'))
        throw new Error(`${where}: dialects must list duckdb and/or snowflake`);
      models.set(name, {
        name,
        layer,
        grain,
        sql,
        refs,
        sources,
        latest,
        materialized: materialized as Model['materialized'],
        uniqueKey,
        key,
        partitionBy,
        dialects,
        recomputeBy,
        dependsOn,
      });
    }
  }
  return models;
}

function parseDependsOn(text: string | undefined, where: string): Model['dependsOn'] {
  if (!text) return [];
  return text.split(/\s*,\s*/).map((item) => {
    const m = /^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\(([a-z_][a-z0-9_]*)\)$/.exec(item);
    if (!m) throw new Error(`${where}: depends_on item '${item}' is not input(column), e.g. stg_orders(order_id)`);
    return { input: m[1], column: m[2] };
  });
}

/**
 * Checks, when the worker starts (not when a run reaches the model), that every model the dataset
 * builds can run on the warehouse's dialect; the error names each model and construct.
 */
export function checkModelsForDialect(models: Model[], dialect: Dialect): void {
  const problems: string[] = [];
  for (const model of models) {
    if (!model.dialects.includes(dialect.name))
      problems.push(`${model.layer}/${model.name}.sql declares dialects: ${model.dialects.join(', ')}`);
    const code = model.sql.replace(/--.*$/gm, '');
    for (const u of dialect.unsupported)
      if (u.pattern.test(code)) problems.push(`${model.layer}/${model.name}.sql uses ${u.what}`);
  }
  if (problems.length) throw new Error(`models cannot run on ${dialect.name}:\n  ${problems.join('\n  ')}`);
}

/** The models needed to build `targets`, upstream first (topological order); cycles and unknown refs fail. */
export function buildOrder(models: Map<string, Model>, targets: string[]): Model[] {
  const order: Model[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, from: string) => {
    const model = models.get(name);
    if (!model) throw new Error(`model '${name}' referenced by ${from} does not exist under models/`);
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`model dependency cycle through '${name}'`);
    state.set(name, 'visiting');
    model.refs.forEach((r) => visit(r, name));
    state.set(name, 'done');
    order.push(model);
  };
  targets.forEach((t) => visit(t, 'the dataset config'));
  return order;
}

/** How raw versions of one key are ordered, newest first (the order latest() and delete detection share). */
export const LATEST_FIRST = '_extracted_at desc, _lsn desc nulls last, updated_at desc nulls last, _source_file desc';

/**
 * The live, latest version of each key in a raw table. A later extract always saw a newer state, and
 * within one CDC capture the later LSN wins; tombstones (deleted at the source) are dropped only after
 * the latest version is picked, so a delete hides every older version. `_duplicate_count` > 1 says
 * one extraction (or one CDC change position) delivered the key more than once: the source holds
 * duplicates of a key it should not (no enforced constraint). The newest of them wins.
 */
function latestVersion(source: string, table: string, key: string, onlyKeysIn?: string): string {
  const k = quoteIdent(key);
  const only = onlyKeysIn ? ` where ${k} in (select ${k} from ${onlyKeysIn})` : '';
  return `(select * from (
        select *, count(*) over (partition by ${k}, _extracted_at, _lsn) as _duplicate_count
          from ${qualified(SCHEMAS.raw, rawTable(source, table))}${only}
        qualify row_number() over (partition by ${k} order by ${LATEST_FIRST}) = 1
    ) where not _deleted)`;
}

/** Inputs read only for some groups: those linked by `column` read only the values held in `groups`. */
export interface GroupRestriction {
  column: string;
  /** A table with one column named `column`. */
  groups: string;
}

/**
 * Renders a model's SQL for a dialect: refs point into the shadow schema, sources into raw. With
 * `onlyKeysIn` (a table holding one column named like the key), latest() reads only those keys' versions.
 * With `restrict`, every input the model depends on by `restrict.column` reads only the rows of those
 * groups, so recomputing a few groups reads a few groups (the caller still filters the model's output).
 */
export function renderModel(
  model: Model,
  shadow: string,
  dialect: Dialect = DUCKDB,
  onlyKeysIn?: string,
  restrict?: GroupRestriction,
): string {
  const restricted = (input: string, table: string) => {
    if (!restrict || !model.dependsOn.some((d) => d.input === input && d.column === restrict.column)) return table;
    const c = quoteIdent(restrict.column);
    return `(select * from ${table} where ${c} in (select ${c} from ${restrict.groups}))`;
  };
  return model.sql.replace(TAG, (_m, fn: string, raw: string) => {
    const a = tagArgs(raw);
    switch (fn) {
      case 'ref':
        return restricted(a[0], qualified(shadow, a[0]));
      case 'source':
        return restricted(`${a[0]}.${a[1]}`, qualified(SCHEMAS.raw, rawTable(a[0], a[1])));
      case 'latest':
        return latestVersion(a[0], a[1], a[2], onlyKeysIn);
      case 'surrogate_key':
        return dialect.surrogateKey(a);
      case 'date_key':
        return dialect.dateKey(a[0]);
      case 'iso_day_of_week':
        return dialect.isoDayOfWeek(a[0]);
      case 'iso_week':
        return dialect.isoWeek(a[0]);
      case 'hours_between':
        return dialect.hoursBetween(a[0], a[1]);
      case 'date_spine':
        return dialect.dateSpine(a[0], a[1]);
      default:
        throw new Error(`model ${model.name}: unknown template function '${fn}'`);
    }
  });
}

/** Models built for `targets` that read any of `changed`, directly or through other models (upstream first). */
export function downstreamOf(models: Map<string, Model>, targets: string[], changed: string[]): string[] {
  const affected = new Set(changed);
  const out: string[] = [];
  for (const m of buildOrder(models, targets)) {
    if (!affected.has(m.name) && m.refs.some((r) => affected.has(r))) {
      affected.add(m.name);
      out.push(m.name);
    }
  }
  return out;
}

/** Source tables a model reads, directly or through the models it refs. */
export function upstreamSources(models: Map<string, Model>, name: string): { source: string; table: string }[] {
  const seen = new Map<string, { source: string; table: string }>();
  for (const model of buildOrder(models, [name])) for (const s of model.sources) seen.set(`${s.source}.${s.table}`, s);
  return [...seen.values()];
}

const SourceContractSchema = z.record(
  z.string(),
  z.record(
    z.string(),
    z.object({
      /** Where the columns are documented. */
      doc: z.string().optional(),
      /** The key latest() deduplicates on. */
      key: z.string(),
      /** Column name → portable SQL type. */
      columns: z.record(
        z.string(),
        z.string().regex(/^[A-Z]+(\(\d+(,\s*\d+)?\))?$/, 'a portable SQL type such as BIGINT or DECIMAL(12,2)'),
      ),
    }),
  ),
);

/** A source table models read before any extractor writes it (models/sources.yaml). */
export interface SourceContract {
  source: string;
  table: string;
  columns: Record<string, string>;
}

/** The declared-but-not-yet-extracted sources (models/sources.yaml); empty when the file is absent. */
export function readSourceContracts(dir = MODELS_DIR): SourceContract[] {
  const file = join(dir, 'sources.yaml');
  if (!existsSync(file)) return [];
  const parsed = SourceContractSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`models/sources.yaml: ${issue.path.join('.')}: ${issue.message}`);
  }
  return Object.entries(parsed.data).flatMap(([source, tables]) =>
    Object.entries(tables).map(([table, t]) => ({ source, table, columns: t.columns })),
  );
}
