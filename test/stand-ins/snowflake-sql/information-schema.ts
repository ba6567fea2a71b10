import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import type { SnowflakeCatalog } from './catalog';

/**
 * Answers queries over INFORMATION_SCHEMA.COLUMNS / TABLES from the stand-in's own catalog, the way
 * Snowflake answers them from the DDL it ran: the catalog is copied into two in-memory DuckDB tables shaped
 * like Snowflake's views (upper-case names, DATA_TYPE NUMBER with precision and scale, TEXT, TIMESTAMP_TZ …)
 * and the query (already accepted by the analyzer) is evaluated there. Only the functions Freshline's
 * catalog queries use (lower/upper, CASE, ||, IN) are needed, and DuckDB spells them alike.
 */
export class InformationSchemaAnswers {
  private connection?: Promise<DuckDBConnection>;
  private loaded = -1;

  /** The result of `sql` when it reads INFORMATION_SCHEMA only, else undefined (other queries are not evaluated). */
  async answer(
    catalog: SnowflakeCatalog,
    sql: string,
    binds: unknown[],
  ): Promise<{ columns: { name: string; type: string }[]; rows: unknown[][] } | undefined> {
    const sources = [...sql.matchAll(/\b(?:FROM|JOIN)\s+([A-Za-z_."]+)/gi)].map((m) => m[1].replace(/"/g, ''));
    if (!sources.length || !sources.every((s) => /^information_schema\.(columns|tables)$/i.test(s))) return undefined;
    const db = await (this.connection ??= DuckDBInstance.create(':memory:').then((i) => i.connect()));
    if (this.loaded !== catalog.version) {
      await load(db, catalog);
      this.loaded = catalog.version;
    }
    const text = sql
      .replace(/\binformation_schema\.(columns|tables)\b/gi, (_m, v: string) => `_is_${v.toLowerCase()}`)
      .replace(/:(\d+)\b/g, '$$$1');
    const reader = await db.runAndReadAll(text, binds.map(asDuckValue));
    const names = reader.columnNames();
    const types = reader.columnTypes().map((t) => snowflakeResultType(t.toString()));
    return {
      columns: names.map((n, i) => ({ name: n.toUpperCase(), type: types[i] })),
      rows: reader.getRowsJS().map((row) => row.map((v) => (v instanceof Date ? v.toISOString() : v))),
    };
  }

  close(): void {
    void this.connection?.then((c) => c.closeSync()).catch(() => undefined);
  }
}

async function load(db: DuckDBConnection, catalog: SnowflakeCatalog): Promise<void> {
  // Reloaded after every DDL the stand-in received, so through the appender (one bound INSERT of thousands of
  // values took ~16 ms a catalog query on a 25-model run); `created` goes in as text, the view types it.
  await db.run(`CREATE OR REPLACE TABLE _is_tables_text (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR,
    table_type VARCHAR, is_transient VARCHAR, created VARCHAR)`);
  await db.run(
    `CREATE OR REPLACE VIEW _is_tables AS SELECT * REPLACE (created::TIMESTAMPTZ AS created) FROM _is_tables_text`,
  );
  await db.run(`CREATE OR REPLACE TABLE _is_columns (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR,
    column_name VARCHAR, ordinal_position INTEGER, data_type VARCHAR, numeric_precision INTEGER, numeric_scale INTEGER)`);
  const tables = await db.createAppender('_is_tables_text');
  const columns = await db.createAppender('_is_columns');
  const text = (a: DuckDBAppender, ...values: string[]) => values.forEach((v) => a.appendVarchar(v));
  const int = (a: DuckDBAppender, v: number | null) => (v === null ? a.appendNull() : a.appendInteger(v));
  for (const { schema, name, relation } of catalog.relations()) {
    const type = relation.kind === 'view' ? 'VIEW' : relation.temporary ? 'LOCAL TEMPORARY' : 'BASE TABLE';
    text(tables, 'FRESHLINE', schema, name, type, 'NO', relation.created!.toISOString());
    tables.endRow();
    relation.columns.forEach((c, i) => {
      const t = dataType(c.type);
      text(columns, 'FRESHLINE', schema, name, c.name);
      int(columns, i + 1);
      text(columns, t.type);
      int(columns, t.precision);
      int(columns, t.scale);
      columns.endRow();
    });
  }
  tables.closeSync();
  columns.closeSync();
}

/** A column type as Snowflake's INFORMATION_SCHEMA.COLUMNS reports it. */
function dataType(type: string): { type: string; precision: number | null; scale: number | null } {
  const t = type.toUpperCase().trim();
  const num = /^(?:NUMBER|DECIMAL|NUMERIC)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$/.exec(t);
  if (num) return { type: 'NUMBER', precision: Number(num[1] ?? 38), scale: Number(num[2] ?? 0) };
  if (/^(INT|INTEGER|BIGINT|SMALLINT|TINYINT|BYTEINT)$/.test(t)) return { type: 'NUMBER', precision: 38, scale: 0 };
  const plain = (name: string) => ({ type: name, precision: null, scale: null });
  if (/^(VARCHAR|STRING|TEXT|CHAR|CHARACTER)/.test(t)) return plain('TEXT');
  if (/^(FLOAT|DOUBLE|REAL)/.test(t)) return plain('FLOAT');
  if (/^(TIMESTAMP_TZ|TIMESTAMPTZ)/.test(t)) return plain('TIMESTAMP_TZ');
  if (/^(TIMESTAMP_LTZ|TIMESTAMPLTZ)/.test(t)) return plain('TIMESTAMP_LTZ');
  if (/^(TIMESTAMP_NTZ|TIMESTAMP|DATETIME)/.test(t)) return plain('TIMESTAMP_NTZ');
  if (/^(BINARY|VARBINARY)/.test(t)) return plain('BINARY');
  return plain(t.replace(/\(.*$/, ''));
}

function snowflakeResultType(duckType: string): string {
  if (/^(BIGINT|INTEGER|HUGEINT|SMALLINT)$/.test(duckType)) return 'NUMBER(38,0)';
  if (/^TIMESTAMP/.test(duckType)) return 'TIMESTAMP_LTZ(3)';
  if (duckType === 'BOOLEAN') return 'BOOLEAN';
  return 'VARCHAR';
}

function asDuckValue(v: unknown): DuckDBValue {
  return v === undefined ? null : (v as DuckDBValue);
}
