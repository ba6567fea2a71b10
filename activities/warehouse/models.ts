import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { SCHEMAS, rawTable } from './layout';
import { qualified, quoteIdent } from './sql';

/** Default location of the SQL models (dbt-style layers). */
export const MODELS_DIR = resolve(__dirname, '../../models');

/**
 * A SQL model file. Template tags: `{{ ref('x') }}` (another model), `{{ source('src', 'table') }}`
 * (a raw table), and `{{ latest('src', 'table', 'key') }}` (the raw table reduced to the live, latest
 * version of each key — the one deduplication rule every staging model shares).
 */
export interface Model {
  name: string;
  layer: 'staging' | 'intermediate' | 'marts';
  /** The grain stated at the top of the file (`-- grain: …`). */
  grain: string;
  sql: string;
  refs: string[];
  sources: { source: string; table: string }[];
}

const REF = /\{\{\s*ref\(\s*'([a-z_][a-z0-9_]*)'\s*\)\s*\}\}/g;
const SOURCE = /\{\{\s*source\(\s*'([a-z_][a-z0-9_]*)'\s*,\s*'([a-z_][a-z0-9_]*)'\s*\)\s*\}\}/g;
const LATEST = /\{\{\s*latest\(\s*'([a-z_][a-z0-9_]*)'\s*,\s*'([a-z_][a-z0-9_]*)'\s*,\s*'([a-z_][a-z0-9_]*)'\s*\)\s*\}\}/g;

/** Reads every model under models/<layer>/*.sql; a model without a stated grain is rejected. */
export function readModels(dir = MODELS_DIR): Map<string, Model> {
  const models = new Map<string, Model>();
  for (const layer of ['staging', 'intermediate', 'marts'] as const) {
    for (const file of readdirSync(join(dir, layer)).filter((f) => f.endsWith('.sql')).sort()) {
      const sql = readFileSync(join(dir, layer, file), 'utf8');
      const name = basename(file, '.sql');
      const grain = /^--\s*grain:\s*(.+)$/m.exec(sql)?.[1]?.trim();
      if (!grain) throw new Error(`model ${layer}/${file} does not state its grain ('-- grain: …' at the top)`);
      if (models.has(name)) throw new Error(`model name '${name}' is defined twice`);
      models.set(name, {
        name,
        layer,
        grain,
        sql,
        refs: [...sql.matchAll(REF)].map((m) => m[1]),
        sources: [...sql.matchAll(SOURCE), ...sql.matchAll(LATEST)].map((m) => ({ source: m[1], table: m[2] })),
      });
    }
  }
  return models;
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

/**
 * The live, latest version of each key in a raw table. A later extract always saw a newer state, and
 * within one CDC capture the later LSN wins; tombstones (deleted at the source) are dropped only after
 * the latest version is picked, so a delete hides every older version.
 */
function latestVersion(source: string, table: string, key: string): string {
  return `(select * from (
        select * from ${qualified(SCHEMAS.raw, rawTable(source, table))}
        qualify row_number() over (partition by ${quoteIdent(key)} order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
    ) where not _deleted)`;
}

/** Renders a model's SQL: refs point into the shadow schema, sources into raw. */
export function renderModel(model: Model, shadow: string): string {
  return model.sql
    .replace(LATEST, (_m, source: string, table: string, key: string) => latestVersion(source, table, key))
    .replace(REF, (_m, name: string) => qualified(shadow, name))
    .replace(SOURCE, (_m, source: string, table: string) => qualified(SCHEMAS.raw, rawTable(source, table)));
}

/** Source tables a model reads, directly or through the models it refs. */
export function upstreamSources(models: Map<string, Model>, name: string): { source: string; table: string }[] {
  const seen = new Map<string, { source: string; table: string }>();
  for (const model of buildOrder(models, [name])) for (const s of model.sources) seen.set(`${s.source}.${s.table}`, s);
  return [...seen.values()];
}
