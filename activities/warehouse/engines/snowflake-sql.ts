import { quoteLiteral } from '../sql';

/** SQL text helpers for the Snowflake adapter: placeholders, literals, query tags, error context. */

/** A QUERY_TAG: a plain string, or an object serialised as JSON (e.g. `{ dataset, runId }`). */
export type QueryTag = string | { [key: string]: string | number | boolean | null };

/** Snowflake rejects QUERY_TAG values longer than this. */
const MAX_QUERY_TAG_LENGTH = 2000;

const IDENT_CHAR = /[A-Za-z0-9_$]/;
/** After these, `$n` is part of a name (`col$1`) or a staged-file column (`t.$1`), never a bind. */
const NOT_BEFORE_BIND = /[A-Za-z0-9_$.]/;

/**
 * Rewrites DuckDB-style `$1, $2…` placeholders to Snowflake's numbered binds `:1, :2…` (numbered, not `?`,
 * because our SQL reuses a placeholder, e.g. `$1` twice). String literals, quoted identifiers, `$$…$$`
 * blocks and comments are left alone, as are `$1:field` and `t.$1` (staged-file columns, not binds).
 */
export function toSnowflakePlaceholders(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    let end = i + 1;
    if (c === "'") end = skipSingleQuoted(sql, i);
    else if (c === '"') end = skipDoubled(sql, i, '"');
    else if ((c === '-' && next === '-') || (c === '/' && next === '/')) end = indexOrEnd(sql, '\n', i + 2);
    else if (c === '/' && next === '*') end = indexOrEnd(sql, '*/', i + 2) + 2;
    else if (c === '$' && next === '$' && !IDENT_CHAR.test(sql[i - 1] ?? '')) end = indexOrEnd(sql, '$$', i + 2) + 2;
    else if (c === '$' && !NOT_BEFORE_BIND.test(sql[i - 1] ?? '')) {
      const m = /^\$(\d+)/.exec(sql.slice(i, i + 12));
      const after = m ? sql.slice(i + m[0].length, i + m[0].length + 2) : '';
      if (m && !(after[0] === ':' && after[1] !== ':')) {
        out += `:${m[1]}`;
        i += m[0].length;
        continue;
      }
    }
    end = Math.min(Math.max(end, i + 1), sql.length);
    out += sql.slice(i, end);
    i = end;
  }
  return out;
}

/** Index just past a `'…'` literal; Snowflake accepts both `''` and backslash escapes inside. */
function skipSingleQuoted(sql: string, start: number): number {
  let j = start + 1;
  while (j < sql.length) {
    if (sql[j] === '\\') j += 2;
    else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
    else if (sql[j] === "'") return j + 1;
    else j += 1;
  }
  return sql.length;
}

function skipDoubled(sql: string, start: number, quote: string): number {
  let j = start + 1;
  while (j < sql.length) {
    if (sql[j] === quote && sql[j + 1] === quote) j += 2;
    else if (sql[j] === quote) return j + 1;
    else j += 1;
  }
  return sql.length;
}

function indexOrEnd(sql: string, needle: string, from: number): number {
  const at = sql.indexOf(needle, from);
  return at < 0 ? sql.length : at;
}

/**
 * Quotes a Snowflake string literal (sql.ts's quoteLiteral for Snowflake: backslash doubled too, a JSON query
 * tag is full of `\"`); for the few statements that cannot take binds.
 */
export function snowflakeStringLiteral(value: string): string {
  return quoteLiteral(value, 'snowflake');
}

/** Combines a base tag with a narrower one: two objects merge (later keys win), otherwise the new tag wins. */
export function mergeQueryTags(base: QueryTag | undefined, next: QueryTag): QueryTag {
  if (base !== undefined && typeof base === 'object' && typeof next === 'object') return { ...base, ...next };
  return next;
}

/** The text Snowflake stores as QUERY_TAG; throws when it exceeds Snowflake's limit. */
export function serialiseQueryTag(tag: QueryTag): string {
  const text = typeof tag === 'string' ? tag : JSON.stringify(tag);
  if (text.length > MAX_QUERY_TAG_LENGTH) {
    throw new Error(`QUERY_TAG is ${text.length} characters; Snowflake allows at most ${MAX_QUERY_TAG_LENGTH}`);
  }
  return text;
}

/** First non-blank line of a statement, shortened: enough to find it in code without echoing whole SQL. */
export function firstLine(sql: string, max = 120): string {
  const line =
    sql
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
