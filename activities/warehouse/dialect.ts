import { quoteLiteral } from './sql';

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
  /** Makes `target` a copy of `source` (Snowflake: zero-copy clone). */
  cloneTable(target: string, source: string): string;
  /** Constructs models must not use on this dialect, with why (checked when models are read). */
  readonly unsupported: { pattern: RegExp; what: string }[];
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
    `(select cast(d as date) as date_day from range(date ${quoteLiteral(isoDate(from))}, date ${quoteLiteral(isoDate(to))} + interval 1 day, interval 1 day) as t (d))`,
  cloneTable: (target, source) => `CREATE OR REPLACE TABLE ${target} AS SELECT * FROM ${source}`,
  unsupported: [
    { pattern: /\blateral\s+flatten\b|\bflatten\s*\(/i, what: 'FLATTEN (Snowflake only; use unnest)' },
    { pattern: /\biff\s*\(/i, what: 'IFF (Snowflake only; use CASE)' },
    { pattern: /::\s*variant\b/i, what: 'VARIANT (Snowflake only; use JSON)' },
  ],
};

export const SNOWFLAKE: Dialect = {
  name: 'snowflake',
  surrogateKey,
  dateKey: (e) => `to_char(${e}, 'YYYYMMDD')`,
  isoDayOfWeek: (e) => `dayofweekiso(${e})`,
  isoWeek: (e) => `weekiso(${e})`,
  hoursBetween: (a, b) => `datediff(hour, ${a}, ${b})`,
  dateSpine: (from, to) =>
    `(select dateadd(day, seq4(), ${quoteLiteral(isoDate(from))}::date) as date_day
        from table(generator(rowcount => ${daysInclusive(from, to)})))`,
  cloneTable: (target, source) => `CREATE OR REPLACE TABLE ${target} CLONE ${source}`,
  unsupported: [
    { pattern: /\bfilter\s*\(\s*where\b/i, what: 'aggregate FILTER (WHERE …) (DuckDB only; use CASE inside the aggregate)' },
    { pattern: /\bread_(parquet|csv|json)\s*\(/i, what: 'read_parquet/read_csv (DuckDB only; read a source instead)' },
    { pattern: /\bstrftime\s*\(|\bepoch_us\s*\(|\bisodow\s*\(/i, what: 'DuckDB date functions (use the date_key/iso_* template functions)' },
    { pattern: /\{\s*'[a-z_]+'\s*:/i, what: 'struct literals (DuckDB only)' },
    { pattern: /\blist_[a-z_]+\s*\(|\bunnest\s*\(/i, what: 'list functions / unnest (DuckDB only; Snowflake uses FLATTEN)' },
  ],
};

function daysInclusive(from: string, to: string): number {
  const days = (Date.parse(`${isoDate(to)}T00:00:00Z`) - Date.parse(`${isoDate(from)}T00:00:00Z`)) / 86_400_000 + 1;
  if (!(days > 0)) throw new Error(`date_spine('${from}', '${to}'): the end is before the start`);
  return days;
}

/** The dialect of a warehouse by name. */
export function dialectOf(name: DialectName): Dialect {
  return name === 'snowflake' ? SNOWFLAKE : DUCKDB;
}
