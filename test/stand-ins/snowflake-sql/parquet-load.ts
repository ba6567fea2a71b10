/**
 * What COPY INTO … FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME does with a Parquet column, after
 * Snowflake's Parquet type mapping: the physical type and its logical annotation give the type Snowflake
 * reads (INT32/INT64 → NUMBER, DECIMAL(p,s) → NUMBER(p,s), UTF8/JSON/ENUM byte arrays → VARCHAR, other byte
 * arrays and every FIXED_LEN_BYTE_ARRAY but a decimal — a UUID too — → BINARY, BOOLEAN, FLOAT/DOUBLE → FLOAT,
 * DATE, TIME, TIMESTAMP adjusted to UTC → TIMESTAMP_LTZ, not adjusted → TIMESTAMP_NTZ), and that type is cast
 * to the target column's. A pair that Snowflake refuses, or that would load another value than the file
 * holds (bytes as hex text, digits rounded away, a wall-clock time read in the session's zone), is refused
 * here, so the staged file and the raw table's types must agree the way Snowflake needs.
 */

/** One leaf column of DuckDB's parquet_schema(). */
export type ParquetColumn = {
  name: string;
  type: string | null;
  converted_type: string | null;
  logical_type: string | null;
  precision: number | string | null;
  scale: number | string | null;
};

type Read =
  | { kind: 'number'; precision: number; scale: number }
  | { kind: 'varchar' | 'binary' | 'boolean' | 'float' | 'date' | 'time' | 'timestamp_ltz' | 'timestamp_ntz' };

/** The type Snowflake reads a Parquet column as. */
export function snowflakeRead(col: ParquetColumn): Read {
  const logical = col.logical_type ?? '';
  const converted = col.converted_type ?? '';
  if (converted === 'DECIMAL' || logical.startsWith('DecimalType'))
    return { kind: 'number', precision: Number(col.precision), scale: Number(col.scale) };
  if (logical.startsWith('TimestampType'))
    return { kind: /isAdjustedToUTC=1/.test(logical) ? 'timestamp_ltz' : 'timestamp_ntz' };
  if (/^TIMESTAMP_(MILLIS|MICROS)$/.test(converted)) return { kind: 'timestamp_ltz' };
  if (logical.startsWith('TimeType') || /^TIME_/.test(converted)) return { kind: 'time' };
  if (converted === 'DATE' || logical.startsWith('DateType')) return { kind: 'date' };
  switch (col.type) {
    case 'BOOLEAN':
      return { kind: 'boolean' };
    case 'INT32':
    case 'INT64':
      return { kind: 'number', precision: 38, scale: 0 };
    case 'FLOAT':
    case 'DOUBLE':
      return { kind: 'float' };
    case 'INT96':
      return { kind: 'timestamp_ntz' };
    case 'BYTE_ARRAY':
      return /^(UTF8|JSON|ENUM)$/.test(converted) || /^(StringType|JsonType|EnumType)/.test(logical)
        ? { kind: 'varchar' }
        : { kind: 'binary' };
    default:
      return { kind: 'binary' };
  }
}

const describe = (r: Read) => (r.kind === 'number' ? `NUMBER(${r.precision},${r.scale})` : r.kind.toUpperCase());

/**
 * Why loading `col` into a column of (the stand-in's DuckDB rendering of) Snowflake type `target` would fail
 * or change the value; null when Snowflake loads it as the file holds it.
 */
export function parquetLoadRefusal(col: ParquetColumn, target: string): string | null {
  const read = snowflakeRead(col);
  const t = target.toUpperCase();
  const got = `Parquet column ${col.name} (${col.type}${col.logical_type ? ` ${col.logical_type}` : ''}) reads as ${describe(read)}`;
  const refuse = (why: string) => `${got}; into ${target} ${why}`;
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(t);
  const integer = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$/.test(t);
  if (t === 'VARCHAR') return read.kind === 'binary' ? refuse('it would land as the hex of its bytes') : null;
  if (decimal || integer) {
    const [p, s] = decimal ? [Number(decimal[1]), Number(decimal[2])] : [38, 0];
    if (read.kind === 'varchar' || read.kind === 'float') return null; // cast per value; a bad one fails the COPY
    if (read.kind !== 'number') return refuse('Snowflake cannot cast it');
    if (read.scale > s) return refuse(`its digits beyond scale ${s} would be rounded away`);
    if (read.precision - read.scale > p - s) return refuse('values may not fit (Numeric value out of range)');
    return null;
  }
  const same: Record<string, Read['kind'][]> = {
    DOUBLE: ['float', 'number', 'varchar'],
    FLOAT: ['float', 'number', 'varchar'],
    BOOLEAN: ['boolean', 'varchar'],
    DATE: ['date', 'varchar'],
    TIME: ['time', 'varchar'],
    'TIMESTAMP WITH TIME ZONE': ['timestamp_ltz', 'varchar'],
    TIMESTAMP: ['timestamp_ntz', 'varchar'],
    BLOB: ['binary'],
  };
  const allowed = same[t];
  if (!allowed) return null; // semi-structured targets (VARIANT/OBJECT/ARRAY) take any value
  if (allowed.includes(read.kind)) return null;
  if (t === 'TIMESTAMP WITH TIME ZONE' && read.kind === 'timestamp_ntz')
    return refuse('its wall-clock times would be read in the session time zone');
  if (t === 'TIMESTAMP' && read.kind === 'timestamp_ltz')
    return refuse('its instants would become session-time-zone wall-clock times');
  return refuse('Snowflake cannot cast it');
}
