import type { BindValue } from './warehouse';

/** Quotes one SQL identifier (schema, table or column); the only way names reach SQL in Freshline. */
export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)) throw new Error(`refusing unsafe SQL identifier '${name}'`);
  return `"${name}"`;
}

/** Quotes a schema-qualified name. */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** Where a literal goes: the two warehouses, and the PostgreSQL source (COPY takes no binds). */
export type LiteralDialect = 'duckdb' | 'snowflake' | 'postgres';

/**
 * Quotes a string literal for the few statements that cannot take bind parameters (COPY, DDL, model SQL);
 * every value that can be a bind is one (see `Binds`). Dialect-aware, since the rules differ:
 * - DuckDB: only `'` is special (doubled); a backslash is an ordinary character.
 * - Snowflake: a backslash is an escape character inside '…' (`\'` is a quote, `\\` a backslash), so it is
 *   doubled as well as `'` — with DuckDB's quoting `it\'s` would end the literal early and run the rest as SQL.
 * - PostgreSQL: `'` doubled; a value with a backslash becomes an E'…' literal with the backslash doubled, which
 *   reads the same whatever standard_conforming_strings says.
 */
export function quoteLiteral(value: string, dialect: LiteralDialect): string {
  const quoted = value.replace(/'/g, "''");
  if (dialect === 'duckdb') return `'${quoted}'`;
  if (!value.includes('\\')) return `'${quoted}'`;
  const escaped = quoted.replace(/\\/g, '\\\\');
  return dialect === 'snowflake' ? `'${escaped}'` : `E'${escaped}'`;
}

/**
 * Bind values collected while a statement is composed from fragments: `add(value)` returns the value's
 * placeholder (`$1`, `$2`… — DuckDB's style; the Snowflake adapter rewrites them to `:1`, `:2`…). Pass
 * `values` with the statement. A fragment composed with one Binds is reused with the same values; `fork()`
 * extends a copy when a statement adds binds of its own after the fragment's.
 */
export class Binds {
  constructor(readonly values: BindValue[] = []) {}

  add(value: BindValue): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  fork(): Binds {
    return new Binds([...this.values]);
  }
}

const TIMESTAMP_TEXT = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * A timestamp as either engine renders it as text — DuckDB '2026-11-22 06:00:00+00', Snowflake's default
 * '2026-11-22 06:00:00.000 +0000', ISO — in ISO form for Date.parse. Without an offset it is UTC (both
 * engines' sessions run in UTC). Anything else fails, naming the text, rather than becoming NaN downstream.
 */
export function isoFromTimestamp(ts: string): string {
  const m = TIMESTAMP_TEXT.exec(ts.trim());
  if (!m) throw new Error(`not a timestamp the warehouse renders: '${ts}'`);
  const zone = !m[3] || m[3] === 'Z' ? 'Z' : `${m[3].slice(0, 3)}:${m[3].slice(3).replace(':', '') || '00'}`;
  return `${m[1]}T${m[2]}${zone}`;
}
