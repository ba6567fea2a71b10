import { qualified, quoteIdent, quoteLiteral } from './sql';

/** Warehouse dialects Freshline runs its models and steps on. */
export type DialectName = 'duckdb' | 'snowflake';

/**
 * Everything that differs between DuckDB and Snowflake, in one place: the model template functions
 * (hashing, date parts, date spines, date arithmetic), table cloning and swapping, and the
 * constructs a model must not use on a dialect. Models are written once against these.
 */
export interface Dialect {
  readonly name: DialectName;
  /** Deterministic surrogate key: md5 hex of the key parts joined with '|' (same value on both dialects). */
  surrogateKey(exprs: string[]): string;
  /** A date as its yyyymmdd text (cast to integer by the model). */
  dateKey(expr: string): string;
  /** ISO day of week, Monday = 1 … Sunday = 7. */
  isoDayOfWeek(expr: string): string;
  /** ISO week number. */
  isoWeek(expr: string): string;
  /** Whole hours from `from` to `to` (NULL when either is NULL). */
  hoursBetween(from: string, to: string): string;
  /** A relation with one column `date_day`: every date from `from` to `to` inclusive (ISO dates). */
  dateSpine(from: string, to: string): string;
  /**
   * Makes `target` a copy of `source` (Snowflake: zero-copy clone; `transient` for a copy of a scratch table,
   * as Snowflake clones a transient table only into a transient or temporary one).
   */
  cloneTable(target: string, source: string, transient?: boolean): string;
  /**
   * Statements that make table `name` of `schema` what table `from` (same schema) holds, `from` no longer
   * needed: DuckDB renames it (no copy), Snowflake clones it (zero-copy; `transient` as for cloneTable).
   */
  replaceTable(schema: string, name: string, from: string, transient?: boolean): string[];
  /**
   * `CREATE OR REPLACE <this> …` for tables rebuilt every run and never published (staging, intermediate,
   * a mart's helper tables): Snowflake's TRANSIENT skips 7 days of Fail-safe storage per rebuild.
   */
  readonly scratchTable: string;
  /** Constructs models must not use on this dialect, with why (checked when models are read). */
  readonly unsupported: { pattern: RegExp; what: string }[];
  /** Query for a table's columns as `name`, `type` (DDL-usable) in table order; binds $1 schema, $2 table. */
  readonly columnsSql: string;
  /** Query for a schema's base tables as `name` (lower case), by name; binds $1 schema. */
  readonly tablesSql: string;
  /** Column type for the JSON documents Freshline writes to audit tables. */
  readonly jsonType: string;
  /** Turns a bind holding JSON text into a value of `jsonType` (usable in INSERT … VALUES). */
  jsonFromText(bind: string): string;
  /** The current timestamp (TIMESTAMPTZ). */
  readonly now: string;
}

const isoDate = (s: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) throw new Error(`date_spine bounds must be ISO dates, got '${s}'`);
  return s;
};

const surrogateKey = (exprs: string[]) =>
  `md5(concat_ws('|', ${exprs.map((e) => `coalesce(cast(${e} as varchar), '')`).join(', ')}))`;

export const DUCKDB: Dialect = {
  name: 'duckdb',
  surrogateKey,
  dateKey: (e) => `strftime(${e}, '%Y%m%d')`,
  isoDayOfWeek: (e) => `isodow(${e})`,
  isoWeek: (e) => `weekofyear(${e})`,
  hoursBetween: (a, b) => `date_diff('hour', ${a}, ${b})`,
  dateSpine: (from, to) =>
    `(select cast(d as date) as date_day from range(date ${quoteLiteral(isoDate(from), 'duckdb')}, date ${quoteLiteral(isoDate(to), 'duckdb')} + interval 1 day, interval 1 day) as t (d))`,
  cloneTable: (target, source) => `CREATE OR REPLACE TABLE ${target} AS SELECT * FROM ${source}`,
  replaceTable: (schema, name, from) => [
    `DROP TABLE IF EXISTS ${qualified(schema, name)}`,
    `ALTER TABLE ${qualified(schema, from)} RENAME TO ${quoteIdent(name)}`,
  ],
  scratchTable: 'TABLE',
  unsupported: [
    { pattern: /\blateral\s+flatten\b|\bflatten\s*\(/i, what: 'FLATTEN (Snowflake only; use unnest)' },
    { pattern: /\biff\s*\(/i, what: 'IFF (Snowflake only; use CASE)' },
    { pattern: /::\s*variant\b/i, what: 'VARIANT (Snowflake only; use JSON)' },
  ],
  columnsSql: `SELECT column_name AS name, data_type AS type FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
  tablesSql: `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1`,
  jsonType: 'JSON',
  jsonFromText: (bind) => `${bind}::JSON`,
  now: 'now()',
};

export const SNOWFLAKE: Dialect = {
  name: 'snowflake',
  surrogateKey,
  dateKey: (e) => `to_char(${e}, 'YYYYMMDD')`,
  isoDayOfWeek: (e) => `dayofweekiso(${e})`,
  isoWeek: (e) => `weekiso(${e})`,
  hoursBetween: (a, b) => `datediff(hour, ${a}, ${b})`,
  dateSpine: (from, to) =>
    // SEQ4 may leave gaps (Snowflake documents it); ROW_NUMBER over it numbers every generated row.
    `(select dateadd(day, row_number() over (order by seq4()) - 1, ${quoteLiteral(isoDate(from), 'snowflake')}::date) as date_day
        from table(generator(rowcount => ${daysInclusive(from, to)})))`,
  cloneTable: (target, source, transient) =>
    `CREATE OR REPLACE ${transient ? 'TRANSIENT ' : ''}TABLE ${target} CLONE ${source}`,
  replaceTable: (schema, name, from, transient) => [
    SNOWFLAKE.cloneTable(qualified(schema, name), qualified(schema, from), transient),
  ],
  scratchTable: 'TRANSIENT TABLE',
  unsupported: [
    {
      pattern: /\bfilter\s*\(\s*where\b/i,
      what: 'aggregate FILTER (WHERE …) (DuckDB only; use CASE inside the aggregate)',
    },
    { pattern: /\bread_(parquet|csv|json)\s*\(/i, what: 'read_parquet/read_csv (DuckDB only; read a source instead)' },
    {
      pattern: /\bstrftime\s*\(|\bepoch_us\s*\(|\bisodow\s*\(/i,
      what: 'DuckDB date functions (use the date_key/iso_* template functions)',
    },
    { pattern: /\{\s*'[a-z_]+'\s*:/i, what: 'struct literals (DuckDB only)' },
    {
      pattern: /\blist_[a-z_]+\s*\(|\bunnest\s*\(/i,
      what: 'list functions / unnest (DuckDB only; Snowflake uses FLATTEN)',
    },
  ],
  // The session sets QUOTED_IDENTIFIERS_IGNORE_CASE (snowflake.ts), so the catalog holds our quoted lower-case
  // names upper-cased: look them up upper-cased and answer in lower case, like every other row we read.
  // INFORMATION_SCHEMA's data_type says NUMBER without precision and scale; they are put back so the
  // type can be used in DDL (the stable bi views cast vanished columns to it).
  columnsSql: `SELECT lower(column_name) AS name,
               CASE WHEN data_type = 'NUMBER' THEN 'NUMBER(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END AS type
          FROM information_schema.columns
         WHERE table_schema = upper($1) AND table_name = upper($2) ORDER BY ordinal_position`,
  tablesSql: `SELECT lower(table_name) AS name FROM information_schema.tables
         WHERE table_schema = upper($1) AND table_type = 'BASE TABLE' ORDER BY 1`,
  // JSON text as VARCHAR: Snowflake accepts no PARSE_JSON in INSERT … VALUES, and readers parse the text anyway.
  jsonType: 'VARCHAR',
  jsonFromText: (bind) => bind,
  now: 'current_timestamp()',
};

/**
 * The Snowflake type for a staged column's warehouse type (manifest columns carry DuckDB types, see
 * sources/postgres/types.ts). Exact numerics stay exact; JSON stays text (models PARSE_JSON what they
 * need), as do UUIDs; an unknown type fails the load instead of being guessed.
 */
export function snowflakeType(duckdbType: string, column: string): string {
  const t = duckdbType.trim().toUpperCase();
  const decimal = /^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(t);
  if (decimal) return `NUMBER(${decimal[1]},${decimal[2]})`;
  const direct: Record<string, string> = {
    TINYINT: 'NUMBER(38,0)',
    SMALLINT: 'NUMBER(38,0)',
    INTEGER: 'NUMBER(38,0)',
    BIGINT: 'NUMBER(38,0)',
    HUGEINT: 'NUMBER(38,0)',
    REAL: 'FLOAT',
    FLOAT: 'FLOAT',
    DOUBLE: 'FLOAT',
    BOOLEAN: 'BOOLEAN',
    VARCHAR: 'VARCHAR',
    DATE: 'DATE',
    TIME: 'TIME',
    TIMESTAMP: 'TIMESTAMP_NTZ',
    TIMESTAMPTZ: 'TIMESTAMP_TZ',
    'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP_TZ',
    UUID: 'VARCHAR',
    JSON: 'VARCHAR',
    BLOB: 'BINARY',
  };
  const mapped = direct[t];
  if (!mapped)
    throw new Error(
      `column '${column}': no Snowflake type for staged type '${duckdbType}' (add it to snowflakeType in dialect.ts)`,
    );
  return mapped;
}

function daysInclusive(from: string, to: string): number {
  const days = (Date.parse(`${isoDate(to)}T00:00:00Z`) - Date.parse(`${isoDate(from)}T00:00:00Z`)) / 86_400_000 + 1;
  if (!(days > 0)) throw new Error(`date_spine('${from}', '${to}'): the end is before the start`);
  return days;
}

/** The dialect of a warehouse by name. */
export function dialectOf(name: DialectName): Dialect {
  return name === 'snowflake' ? SNOWFLAKE : DUCKDB;
}
