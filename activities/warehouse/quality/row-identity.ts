/**
 * How row checks and quarantine name a model's rows: by the model's declared key (`-- key:`), plus the
 * content hash marts carry so two versions of one key are told apart. Engines' hidden row ids (DuckDB
 * `rowid`) do not exist on Snowflake, so nothing here relies on them.
 */
import type { Model } from '../models/catalog';
import { quoteIdent } from '../sql';

/** The identity columns of `model`'s rows; fails naming the model when it declares no key. */
export function identityColumns(model: Model | undefined, name: string): string[] {
  if (!model) throw new Error(`model '${name}' is not in the model catalog`);
  if (!model.key.length)
    throw new Error(
      `model ${model.layer}/${name}.sql declares no key ('-- key: col, …' under its grain): row checks name failing rows by it`,
    );
  return model.layer === 'marts' ? [...model.key, '_row_hash'] : model.key;
}

/**
 * `JOIN`s the table aliased `t` to the distinct identities `failing` returns (a subquery selecting the
 * identity columns). NULL keys match each other: a NULL-key row that fails a check is still found.
 */
export function joinFailing(columns: string[], failing: string): { source: string; on: string } {
  const ids = columns.map(quoteIdent);
  return {
    source: `(SELECT DISTINCT ${ids.join(', ')} FROM (${failing}) AS f0) AS f`,
    on: ids.map((c) => `t.${c} IS NOT DISTINCT FROM f.${c}`).join(' AND '),
  };
}
