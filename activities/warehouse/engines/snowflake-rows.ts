import type { Column } from 'snowflake-sdk';
import type { Row } from '../warehouse';

/**
 * Turning snowflake-sdk result values into Freshline's JSON-safe rows. Statements run with
 * `fetchAsString: ['Number', 'JSON', 'Buffer']`, so numbers arrive as Snowflake's own decimal text and
 * nothing is rounded on the way; timestamps arrive as the driver's Date objects that still carry epoch
 * seconds, nanoseconds and scale.
 */

/** Driver types requested as text; see `normaliseValue` for what becomes of each. */
export const FETCH_AS_STRING: ('Number' | 'JSON' | 'Buffer')[] = ['Number', 'JSON', 'Buffer'];

/** The extra methods snowflake-sdk puts on the Date objects it returns for DATE and TIMESTAMP_* columns. */
interface SfDate {
  getEpochSeconds(): number;
  getNanoSeconds(): number;
  getScale(): number;
}

/**
 * Column names as Freshline code writes them: Snowflake upper-cases unquoted identifiers, so an
 * all-upper-case name (`ORDER_ID`) becomes lower-case (`order_id`); anything else (quoted mixed case,
 * expressions such as `COUNT(*)`, `1`) is kept as returned. A quoted upper-case name ("ID") is
 * indistinguishable on the wire and is lower-cased too.
 */
export function normaliseColumnName(name: string): string {
  return /^[A-Z_][A-Z0-9_$]*$/.test(name) ? name.toLowerCase() : name;
}

/** Builds one row object from an array-mode row; a repeated column name keeps its last value. */
export function toRow(columns: Column[], names: string[], values: unknown[]): Row {
  const row: Row = {};
  columns.forEach((column, i) => {
    row[names[i]] = normaliseValue(column, values[i]);
  });
  return row;
}

/**
 * JSON-safe value: NUMBER(p,0) as a number when it is a safe integer, else its exact text; NUMBER(p,s>0)
 * as exact text (like DuckDB's DECIMAL); FLOAT as a number; DATE as `YYYY-MM-DD`; TIMESTAMP_NTZ as an
 * ISO local date-time without zone; TIMESTAMP_LTZ/TZ as the UTC instant with `Z`; timestamps carry as many
 * fraction digits as the column's scale. TIME as the driver formats it; VARIANT/OBJECT/ARRAY as JSON
 * text; BINARY as hex.
 */
export function normaliseValue(column: Column, value: unknown): Row[string] {
  if (value === null || value === undefined) return null;
  if (column.isNumber()) {
    const text = String(value);
    const n = Number(text);
    if (column.getType() === 'real') return Number.isFinite(n) ? n : text;
    return column.getScale() === 0 && Number.isSafeInteger(n) ? n : text;
  }
  if (typeof value === 'boolean') return value;
  if (column.isDate() && isSfDate(value)) return isoDateTime(value.getEpochSeconds(), 0, 0).slice(0, 10);
  if (column.isTimestamp() && isSfDate(value)) {
    const text = isoDateTime(value.getEpochSeconds(), value.getNanoSeconds(), value.getScale());
    return column.isTimestampNtz() ? text : `${text}Z`;
  }
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('hex').toUpperCase();
  // Structured OBJECT/ARRAY/MAP columns (typed fields) come back parsed; Row values are scalars.
  return JSON.stringify(value);
}

function isSfDate(value: unknown): value is SfDate {
  return value instanceof Date && typeof (value as Partial<SfDate>).getEpochSeconds === 'function';
}

/** `YYYY-MM-DDTHH:MM:SS[.f…]` from epoch seconds + nanoseconds, with `scale` fraction digits (no zone). */
function isoDateTime(epochSeconds: number, nanos: number, scale: number): string {
  const iso = new Date(epochSeconds * 1000).toISOString();
  const seconds = iso.slice(0, iso.lastIndexOf('.'));
  const digits = Math.max(0, Math.min(9, scale || 0));
  return digits > 0 ? `${seconds}.${String(nanos).padStart(9, '0').slice(0, digits)}` : seconds;
}
