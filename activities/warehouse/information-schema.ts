import { dialectOf } from './dialect';
import type { Warehouse } from './warehouse';

/**
 * Catalog look-ups, through one place that knows each engine's identifier case: Snowflake's catalog holds
 * our quoted lower-case names upper-cased (QUOTED_IDENTIFIERS_IGNORE_CASE); answers come back lower-case.
 */

/** A column as the catalog reports it: lower-case name and a type usable in DDL. */
export interface CatalogColumn {
  name: string;
  type: string;
}

/** The columns of `schema.table` in table order (empty when the table does not exist). */
export function tableColumns(
  wh: Pick<Warehouse, 'query' | 'dialect'>,
  schema: string,
  table: string,
): Promise<CatalogColumn[]> {
  return wh.query<{ name: string; type: string }>(dialectOf(wh.dialect).columnsSql, [schema, table]);
}

/** The base tables of `schema`, lower-case, by name. */
export async function schemaTables(wh: Pick<Warehouse, 'query' | 'dialect'>, schema: string): Promise<string[]> {
  return (await wh.query<{ name: string }>(dialectOf(wh.dialect).tablesSql, [schema])).map((r) => r.name);
}
