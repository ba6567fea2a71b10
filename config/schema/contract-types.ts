/**
 * The column types a schema contract is written in, the same on every engine: `text`, `integer`,
 * `decimal(p,s)`, `float`, `boolean`, `date`, `timestamp` (no zone), `timestamptz`, `json`, `binary`.
 * Each engine's reported type maps onto one of them (DuckDB HUGEINT and Snowflake NUMBER(18,0) are both
 * `integer`), so one contract holds on DuckDB and Snowflake alike.
 */

/** The neutral types, for error messages. */
export const CONTRACT_TYPES = 'text, integer, decimal(p,s), float, boolean, date, timestamp, timestamptz, json, binary';

const NAMES: Record<string, string> = {
  // neutral names and their common spellings
  text: 'text',
  varchar: 'text',
  string: 'text',
  char: 'text',
  character: 'text',
  uuid: 'text',
  integer: 'integer',
  int: 'integer',
  tinyint: 'integer',
  smallint: 'integer',
  bigint: 'integer',
  hugeint: 'integer',
  utinyint: 'integer',
  usmallint: 'integer',
  uinteger: 'integer',
  ubigint: 'integer',
  float: 'float',
  double: 'float',
  real: 'float',
  'double precision': 'float',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp',
  timestamp_ntz: 'timestamp',
  datetime: 'timestamp',
  timestamptz: 'timestamptz',
  'timestamp with time zone': 'timestamptz',
  timestamp_tz: 'timestamptz',
  // LTZ is an instant shown in the session zone: the same thing a timestamptz column holds.
  timestamp_ltz: 'timestamptz',
  json: 'json',
  variant: 'json',
  object: 'json',
  binary: 'binary',
  blob: 'binary',
  varbinary: 'binary',
};

/**
 * The neutral type of a type name as written in a contract or reported by an engine's catalog (any
 * case; a length or precision where it does not change the kind is dropped), or null when unknown.
 */
export function contractType(type: string): string | null {
  const t = type.trim().toLowerCase().replace(/\s+/g, ' ');
  const num = /^(?:decimal|numeric|number)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$/.exec(t);
  if (num) {
    // Snowflake's integers are NUMBER(p,0); DuckDB's DECIMAL(p,0) is an integer value too.
    const [precision, scale] = [Number(num[1] ?? 38), Number(num[2] ?? 0)];
    return scale === 0 ? 'integer' : `decimal(${precision},${scale})`;
  }
  // A length (VARCHAR(255)) or fractional-second precision (TIMESTAMP_TZ(9)) does not change the kind.
  const base = t.replace(/\s*\(\s*\d+\s*\)$/, '');
  return NAMES[base] ?? null;
}
