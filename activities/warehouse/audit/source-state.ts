import type { StagedColumn } from '../../sources/postgres/manifest';
import { DUCKDB, dialectOf, type Dialect } from '../dialect';
import type { Warehouse } from '../warehouse';

/** What the last successful load of a source table saw: the baseline for drift and full-mode checksums. */
export interface SourceState {
  columns: StagedColumn[];
  schemaHash: string;
  checksum: string | null;
}

/** Creates audit.source_state if missing. */
export async function ensureSourceStateTable(wh: Pick<Warehouse, 'run' | 'dialect'>): Promise<void> {
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.source_state (
      source VARCHAR NOT NULL, schema_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
      columns ${dialectOf(wh.dialect).jsonType} NOT NULL, schema_hash VARCHAR NOT NULL, checksum VARCHAR, loaded_at TIMESTAMPTZ NOT NULL,
      PRIMARY KEY (source, schema_name, table_name))`);
}

/** Reads the baseline of one source table, or null before its first load. */
export async function readSourceState(
  wh: Warehouse,
  source: string,
  schema: string,
  table: string,
): Promise<SourceState | null> {
  const rows = await wh.query<{ columns: string; schema_hash: string; checksum: string | null }>(
    'SELECT columns::VARCHAR AS columns, schema_hash, checksum FROM audit.source_state WHERE source = $1 AND schema_name = $2 AND table_name = $3',
    [source, schema, table],
  );
  return rows[0]
    ? { columns: JSON.parse(rows[0].columns), schemaHash: rows[0].schema_hash, checksum: rows[0].checksum }
    : null;
}

/** Records the schema (and checksum) a load just wrote; call inside the load's transaction. */
export async function writeSourceState(
  tx: Pick<Warehouse, 'run'>,
  key: { source: string; schema: string; table: string },
  state: SourceState,
  dialect: Dialect = DUCKDB,
): Promise<void> {
  await tx.run('DELETE FROM audit.source_state WHERE source = $1 AND schema_name = $2 AND table_name = $3', [
    key.source,
    key.schema,
    key.table,
  ]);
  await tx.run(
    `INSERT INTO audit.source_state VALUES ($1, $2, $3, ${dialect.jsonFromText('$4')}, $5, $6, ${dialect.now})`,
    [key.source, key.schema, key.table, JSON.stringify(state.columns), state.schemaHash, state.checksum],
  );
}
