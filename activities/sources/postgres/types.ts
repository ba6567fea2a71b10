/**
 * PostgreSQL → warehouse type mapping, in one place. Money stays exact (numeric → DECIMAL), time zones
 * are kept (timestamptz → TIMESTAMPTZ), json/jsonb → JSON; anything not listed is carried as text so a
 * new type never fails an extract (schema drift handling reports it): arrays keep PostgreSQL's array
 * literal ('{1,2,3}'), enums their label, bytea its hex form ('\x00ff'), uuid its canonical text: Parquet's UUID
 * type is 16 raw bytes that Snowflake (like Spark) reads as BINARY, so text is what every warehouse loads alike.
 */
export function warehouseType(pgType: string): string {
  const t = pgType.toLowerCase();
  const numeric = /^numeric\((\d+),(\d+)\)$/.exec(t);
  if (numeric) return Number(numeric[1]) <= 38 ? `DECIMAL(${numeric[1]},${numeric[2]})` : 'VARCHAR';
  // Unconstrained numeric: DuckDB's widest decimal. Exact up to 28 integer and 10 fraction digits; more
  // fraction digits are rounded (money columns are constrained in practice; declare them numeric(p,s)).
  if (t === 'numeric') return 'DECIMAL(38,10)';
  if (t.endsWith('[]')) return 'VARCHAR'; // PostgreSQL array literal text, parsed downstream if needed
  if (/^(character varying|character|varchar|char|bpchar)(\(\d+\))?$/.test(t)) return 'VARCHAR';
  const direct: Record<string, string> = {
    smallint: 'SMALLINT',
    integer: 'INTEGER',
    bigint: 'BIGINT',
    real: 'REAL',
    'double precision': 'DOUBLE',
    boolean: 'BOOLEAN',
    text: 'VARCHAR',
    date: 'DATE',
    'timestamp with time zone': 'TIMESTAMPTZ',
    'timestamp without time zone': 'TIMESTAMP',
    'time without time zone': 'TIME',
    json: 'JSON',
    jsonb: 'JSON',
  };
  return direct[t] ?? 'VARCHAR';
}
