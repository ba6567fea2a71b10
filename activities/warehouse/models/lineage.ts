import { DuckDBInstance } from '@duckdb/node-api';
import { SCHEMAS, rawTable } from '../layout';
import { piiColumnsOf } from '../../../config/pii';
import type { PipelineConfig } from '../../../config/schema';
import { buildOrder, MODELS_DIR, readModels, renderModel, type Model } from './catalog';

/**
 * Column-level PII lineage through the models. A raw column configured as `pii` holds an HMAC token;
 * a model column that selects it as is (renamed or not) is still that token: joinable, not readable.
 * Any other column computed from a PII column (`lower(email_token)`, `left(name_token, 3)`, a CASE on
 * it) is `derived`: it may reveal something the token hides, so the bi views, the BI export and
 * Snowflake's masking treat it as PII whatever it is called. Counts over PII are not PII.
 *
 * Lineage is read from DuckDB's own parser (`json_serialize_sql`) over each model rendered for DuckDB
 * (every dialect's rendering differs only in the portable macros, not in which columns feed which).
 * Value lineage only: columns used in WHERE, JOIN, GROUP BY or window PARTITION/ORDER decide which rows
 * appear, not what a value holds, and are not followed. What cannot be resolved fails, naming the model:
 * a lineage that silently misses a column would let PII through.
 */

/** none: no PII feeds it; token: a PII token selected as is; derived: computed from PII. */
export type PiiKind = 'none' | 'token' | 'derived';

/** Where one column's value comes from. */
export interface ColumnLineage {
  name: string;
  pii: PiiKind;
  /** The configured PII source columns feeding it, as `<source>.<table>.<column>`. */
  from: string[];
}

/** The lineage of a model's columns. */
export interface ModelLineage {
  model: string;
  columns: ColumnLineage[];
}

/** The configured PII columns of each source table: `piiOf(source, table)`. */
export type PiiColumnsOf = (source: string, table: string) => string[];

type Origin = Omit<ColumnLineage, 'name'>;
/** A relation in scope: its known columns, and for a raw table read with `*` what any other column is. */
interface Relation {
  columns: ColumnLineage[];
  rest: Origin | null;
}
type Json = Record<string, unknown>;

const NONE: Origin = { pii: 'none', from: [] };
const RANK: Record<PiiKind, number> = { none: 0, token: 1, derived: 2 };
/** Aggregates whose result says how many, never what. */
const COUNTS = new Set(['count', 'count_star', 'approx_count_distinct']);
/** The schema models are rendered into for parsing; never created. */
const LINEAGE_SHADOW = 'freshline_lineage';

/** Any computation over inputs: PII in, derived PII out. */
function combine(origins: Origin[]): Origin {
  const from = [...new Set(origins.flatMap((o) => o.from))].sort();
  return origins.some((o) => o.pii !== 'none') ? { pii: 'derived', from } : NONE;
}

/** Two relations' columns meeting in one (UNION, USING): the stronger kind wins, tokens stay tokens. */
function merge(a: Origin, b: Origin): Origin {
  const pii = RANK[a.pii] >= RANK[b.pii] ? a.pii : b.pii;
  return { pii, from: [...new Set([...a.from, ...b.from])].sort() };
}

const origin = (c: ColumnLineage): Origin => ({ pii: c.pii, from: c.from });
const lower = (s: unknown) => String(s).toLowerCase();

class Scope {
  constructor(
    readonly relations: { alias: string; relation: Relation }[],
    readonly outer: Scope | null,
    /** Select-list aliases defined so far (DuckDB lets later expressions use them). */
    readonly selected: ColumnLineage[] = [],
  ) {}

  resolve(names: string[], where: string): Origin {
    const found = this.find(names.map(lower));
    if (found) return found;
    if (this.outer) return this.outer.resolve(names, where);
    throw new Error(`${where}: cannot resolve column ${names.join('.')} for PII lineage`);
  }

  private find(names: string[]): Origin | undefined {
    const col = names[names.length - 1];
    if (names.length > 1) {
      const alias = names[names.length - 2];
      const rel = this.relations.find((r) => lower(r.alias) === alias);
      if (rel) return lookup(rel.relation, col);
      // `s.field`: a struct column's field carries the column's lineage.
      if (names.length === 2) return this.find([alias]);
      return undefined;
    }
    const hits = this.relations.flatMap((r) => r.relation.columns.filter((c) => lower(c.name) === col)).map(origin);
    if (hits.length) return hits.reduce(merge);
    // Not a known column: an open relation's other column, a select-list alias, or both (kept stronger).
    const open = this.relations.map((r) => r.relation.rest).filter((r): r is Origin => r !== null);
    const alias = this.selected.filter((c) => lower(c.name) === col).map(origin);
    const candidates = [...open, ...alias];
    return candidates.length ? candidates.reduce(merge) : undefined;
  }
}

function lookup(rel: Relation, col: string): Origin | undefined {
  const hit = rel.columns.find((c) => lower(c.name) === col);
  return hit ? origin(hit) : (rel.rest ?? undefined);
}

/** Renames the first columns of a relation (`AS t(a, b)`). */
function renamed(rel: Relation, aliases: unknown): Relation {
  const names = Array.isArray(aliases) ? aliases.map(String) : [];
  return { ...rel, columns: rel.columns.map((c, i) => (i < names.length ? { ...c, name: names[i] } : c)) };
}

class LineageReader {
  constructor(
    private readonly where: string,
    private readonly models: Map<string, ModelLineage>,
    private readonly raw: Map<string, { source: string; table: string; pii: string[] }>,
  ) {}

  /** The lineage of an expression's value. */
  expr(e: Json, scope: Scope): Origin {
    switch (e.class) {
      case 'COLUMN_REF':
        return scope.resolve(e.column_names as string[], this.where);
      case 'CONSTANT':
        return NONE;
      case 'SUBQUERY': {
        const rel = this.node((e.subquery as Json).node as Json, scope, new Map());
        const parts = rel.columns.map(origin);
        if (e.child) parts.push(this.expr(e.child as Json, scope));
        return combine(parts);
      }
      case 'WINDOW':
        // PARTITION BY / ORDER BY pick which row's value, they do not feed it.
        return combine(
          [...((e.children as Json[]) ?? []), e.offset_expr, e.default_expr]
            .filter((x): x is Json => !!x && typeof x === 'object')
            .map((x) => this.expr(x, scope)),
        );
      case 'FUNCTION':
        if (COUNTS.has(lower(e.function_name))) return NONE;
        return combine(this.children(e, scope));
      case 'LAMBDA':
      case 'STAR':
        throw new Error(
          `${this.where}: ${e.class === 'STAR' ? 'COLUMNS(…)' : 'a lambda'} is not supported by PII lineage`,
        );
      default:
        return combine(this.children(e, scope));
    }
  }

  /** Every expression below a node that is not itself an expression (CASE arms, ORDER BY items, …). */
  private children(e: Json, scope: Scope): Origin[] {
    const out: Origin[] = [];
    const visit = (v: unknown) => {
      if (Array.isArray(v)) return v.forEach(visit);
      if (!v || typeof v !== 'object') return;
      const o = v as Json;
      if (typeof o.class === 'string') out.push(this.expr(o, scope));
      else Object.values(o).forEach(visit);
    };
    for (const [key, value] of Object.entries(e)) if (key !== 'class' && key !== 'type') visit(value);
    return out;
  }

  /** The lineage of a query node's output columns. */
  node(n: Json, outer: Scope | null, ctes: Map<string, Relation>): Relation {
    const local = new Map(ctes);
    for (const entry of ((n.cte_map as Json | undefined)?.map as Json[] | undefined) ?? []) {
      const value = entry.value as Json;
      const rel = this.node((value.query as Json).node as Json, outer, local);
      local.set(lower(entry.key), renamed(rel, value.aliases));
    }
    if (n.type === 'SET_OPERATION_NODE') return this.setOperation(n, outer, local);
    if (n.type !== 'SELECT_NODE') throw new Error(`${this.where}: ${String(n.type)} is not supported by PII lineage`);
    const scope = new Scope(this.from(n.from_table as Json, outer, local), outer);
    const columns = scope.selected;
    for (const item of n.select_list as Json[]) {
      if (item.class === 'STAR' && !item.expr) {
        columns.push(...this.star(item, scope));
        continue;
      }
      const o = this.expr(item, scope);
      const bare = item.class === 'COLUMN_REF';
      const name = (item.alias as string) || (bare ? (item.column_names as string[]).at(-1)! : '');
      // A bare reference keeps its kind (a token stays a token); anything computed is judged by combine.
      columns.push({ name, ...o });
    }
    const rest = scope.relations.some((r) => r.relation.rest) ? this.starRest(n.select_list as Json[], scope) : null;
    return { columns, rest };
  }

  /** `*`, `t.*`, `* EXCLUDE (…)`, `* REPLACE (… AS c)`. */
  private star(item: Json, scope: Scope): ColumnLineage[] {
    const rels = item.relation_name
      ? scope.relations.filter((r) => lower(r.alias) === lower(item.relation_name))
      : scope.relations;
    if (!rels.length) throw new Error(`${this.where}: ${String(item.relation_name)}.* names no relation in scope`);
    const excluded = new Set(
      ((item.exclude_list as unknown[]) ?? []).map((x) => lower(typeof x === 'string' ? x : '')),
    );
    const replaced = new Map(
      ((item.replace_list as Json[]) ?? []).map((r) => [lower(r.key), this.expr(r.value as Json, scope)] as const),
    );
    return rels
      .flatMap((r) => r.relation.columns)
      .filter((c) => !excluded.has(lower(c.name)))
      .map((c) => {
        const o = replaced.get(lower(c.name));
        return o ? { name: c.name, ...o } : c;
      });
  }

  /** What the unnamed columns of a `*` over an open relation are; null when no `*` reads one. */
  private starRest(list: Json[], scope: Scope): Origin | null {
    const rests = list
      .filter((i) => i.class === 'STAR' && !i.expr)
      .flatMap((i) =>
        scope.relations.filter(
          (r) => r.relation.rest && (!i.relation_name || lower(r.alias) === lower(i.relation_name)),
        ),
      )
      .map((r) => r.relation.rest!);
    return rests.length ? rests.reduce(merge) : null;
  }

  private setOperation(n: Json, outer: Scope | null, ctes: Map<string, Relation>): Relation {
    const [left, right] = [n.left, n.right].map((side) => this.node(side as Json, outer, ctes));
    if (left.rest || right.rest || left.columns.length !== right.columns.length) {
      // Positions are unknown through a `*` over a raw table: match by name, keep every PII column.
      const all = [...left.columns, ...right.columns];
      const names = [...new Set(all.map((c) => lower(c.name)))];
      const columns = names.map((name) => ({
        name,
        ...all
          .filter((c) => lower(c.name) === name)
          .map(origin)
          .reduce(merge),
      }));
      const rests = [left.rest, right.rest].filter((r): r is Origin => r !== null);
      return { columns, rest: rests.length ? rests.reduce(merge) : NONE };
    }
    return {
      columns: left.columns.map((c, i) => ({ name: c.name, ...merge(origin(c), origin(right.columns[i])) })),
      rest: null,
    };
  }

  /** The relations a FROM clause brings into scope. */
  private from(t: Json, outer: Scope | null, ctes: Map<string, Relation>): { alias: string; relation: Relation }[] {
    switch (t.type) {
      case 'EMPTY':
        return [];
      case 'JOIN':
        return [...this.from(t.left as Json, outer, ctes), ...this.from(t.right as Json, outer, ctes)];
      case 'BASE_TABLE': {
        const table = String(t.table_name);
        const rel = renamed(this.table(t.schema_name ? String(t.schema_name) : '', table, ctes), t.column_name_alias);
        return [{ alias: (t.alias as string) || table, relation: rel }];
      }
      case 'SUBQUERY': {
        const rel = this.node((t.subquery as Json).node as Json, outer, ctes);
        return [{ alias: (t.alias as string) || '', relation: renamed(rel, t.column_name_alias) }];
      }
      case 'TABLE_FUNCTION': {
        // range(), generate_series(), unnest(): every output column carries what its arguments carry.
        const args = combine(this.children(t.function as Json, new Scope([], outer)));
        const names = ((t.column_name_alias as string[]) ?? []).map(String);
        return [
          {
            alias: (t.alias as string) || '',
            relation: { columns: names.map((name) => ({ name, ...args })), rest: args },
          },
        ];
      }
      case 'EXPRESSION_LIST': {
        const rows = t.values as Json[][];
        const scope = new Scope([], outer);
        const columns = (rows[0] ?? []).map((_v, i) => ({
          name: `col${i}`,
          ...combine(rows.map((row) => this.expr(row[i], scope))),
        }));
        return [{ alias: (t.alias as string) || '', relation: { columns, rest: null } }];
      }
      default:
        throw new Error(`${this.where}: FROM ${String(t.type)} is not supported by PII lineage`);
    }
  }

  /** A CTE, a model built before this one, or a raw table (whose configured PII columns are tokens). */
  private table(schema: string, table: string, ctes: Map<string, Relation>): Relation {
    const name = lower(table);
    if (!schema && ctes.has(name)) return ctes.get(name)!;
    if (lower(schema) === LINEAGE_SHADOW) {
      const model = this.models.get(name);
      if (!model) throw new Error(`${this.where}: model ${table} has no lineage yet (not built before this one)`);
      return { columns: model.columns, rest: null };
    }
    if (lower(schema) === SCHEMAS.raw) {
      const src = this.raw.get(name);
      const columns = (src?.pii ?? []).map((c) => ({
        name: c,
        pii: 'token' as const,
        from: [`${src!.source}.${src!.table}.${c}`],
      }));
      return { columns, rest: NONE };
    }
    throw new Error(
      `${this.where}: reads ${schema ? `${schema}.` : ''}${table}, which is neither a ref, a source nor a CTE`,
    );
  }
}

/**
 * The PII lineage of every model needed for `targets` (upstream first). `sources` lists the source
 * tables models read (`{{ source() }}`/`{{ latest() }}`); `piiOf` gives each one's configured PII columns.
 */
export async function modelLineage(
  models: Map<string, Model>,
  targets: string[],
  piiOf: PiiColumnsOf,
): Promise<Map<string, ModelLineage>> {
  const order = buildOrder(models, targets);
  const raw = new Map<string, { source: string; table: string; pii: string[] }>();
  for (const s of order.flatMap((m) => m.sources))
    raw.set(rawTable(s.source, s.table), { ...s, pii: piiOf(s.source, s.table) });
  const out = new Map<string, ModelLineage>();
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    for (const model of order) {
      const where = `model ${model.layer}/${model.name}.sql`;
      const reader = await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR) AS ast', [
        renderModel(model, LINEAGE_SHADOW),
      ]);
      const ast = JSON.parse(String(reader.getRowObjects()[0].ast)) as Json;
      if (ast.error) throw new Error(`${where}: cannot parse for PII lineage: ${String(ast.error_message)}`);
      const statements = ast.statements as Json[];
      if (statements.length !== 1) throw new Error(`${where}: a model is one SELECT statement`);
      const rel = new LineageReader(where, out, raw).node(statements[0].node as Json, null, new Map());
      // BI and masking act by column name: a PII column the database names itself could not be found.
      const unnamed = rel.columns.find((c) => !c.name && c.pii !== 'none');
      if (unnamed)
        throw new Error(`${where}: an expression computed from PII (${unnamed.from.join(', ')}) needs an alias`);
      if (rel.rest && rel.rest.pii !== 'none')
        throw new Error(`${where}: selects * over a table whose unlisted columns carry PII; list the columns`);
      out.set(model.name, { model: model.name, columns: rel.columns });
    }
  } finally {
    conn.closeSync();
    db.closeSync();
  }
  return out;
}

/** The columns of each model that are computed from PII (not the token itself): never shown to BI. */
export function derivedPiiColumns(lineage: Map<string, ModelLineage>): Record<string, string[]> {
  return Object.fromEntries(
    [...lineage.values()].map((m) => [m.model, m.columns.filter((c) => c.pii === 'derived').map((c) => c.name)]),
  );
}

const published = new WeakMap<object, Map<string, Promise<Record<string, string[]>>>>();

/**
 * Per mart any dataset publishes, its PII-derived columns (`derivedPiiColumns`). Models and config do
 * not change while a worker runs, so each worker computes this once per models directory.
 */
export function publishedPiiColumns(
  config: Pick<PipelineConfig, 'datasets'>,
  modelsDir = MODELS_DIR,
): Promise<Record<string, string[]>> {
  const byDir = published.get(config) ?? new Map<string, Promise<Record<string, string[]>>>();
  published.set(config, byDir);
  let result = byDir.get(modelsDir);
  if (!result) {
    const targets = [...new Set(config.datasets.flatMap((d) => d.publish))];
    result = modelLineage(readModels(modelsDir), targets, piiColumnsOf(config)).then(derivedPiiColumns);
    // A failure is not cached: the worker start reports it, and a fixed models dir is read again.
    result.catch(() => byDir.delete(modelsDir));
    byDir.set(modelsDir, result);
  }
  return result;
}
