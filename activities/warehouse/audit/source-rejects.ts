import type { Manifest } from '../../sources/postgres/manifest';
import { dialectOf } from '../dialect';
import type { Warehouse } from '../warehouse';

/**
 * Creates audit.source_rejects if missing: one row per source row an extract could not stage (a value
 * its warehouse type cannot hold), with where it is and why. Never the row's values: they stay in the
 * source, which is where they get fixed; the next change to the row brings it in.
 */
export async function ensureSourceRejectsTable(wh: Pick<Warehouse, 'run' | 'dialect'>): Promise<void> {
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.source_rejects (
      load_id VARCHAR NOT NULL, source VARCHAR NOT NULL, schema_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
      window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL, line BIGINT NOT NULL, column_name VARCHAR NOT NULL,
      key_values ${dialectOf(wh.dialect).jsonType} NOT NULL, reason VARCHAR NOT NULL, rejected_at TIMESTAMPTZ NOT NULL)`);
}

/**
 * Records a manifest's rejected rows under its load id, replacing what an earlier attempt recorded;
 * returns how many there were (a manifest without rejects touches nothing).
 */
export async function recordSourceRejects(wh: Warehouse, manifest: Manifest, loadId: string): Promise<number> {
  if (!manifest.rejectedRows) return 0;
  const dialect = dialectOf(wh.dialect);
  await wh.run('DELETE FROM audit.source_rejects WHERE load_id = $1', [loadId]);
  // One statement for all of them (at most MAX_LISTED_REJECTS rows), not a round trip per row.
  const rows = manifest.rejects ?? [];
  if (!rows.length) return manifest.rejectedRows;
  // Binds $1–$6 are shared (load, table, window); each row adds line, column, key, reason.
  const values = rows.map((_, i) => {
    const n = (k: number) => `$${6 + i * 4 + k}`;
    return `($1, $2, $3, $4, $5::TIMESTAMPTZ, $6::TIMESTAMPTZ, ${n(1)}, ${n(2)}, ${dialect.jsonFromText(n(3))}, ${n(4)}, ${dialect.now})`;
  });
  await wh.run(`INSERT INTO audit.source_rejects VALUES ${values.join(', ')}`, [
    loadId,
    manifest.source,
    manifest.schema,
    manifest.table,
    manifest.window.start,
    manifest.window.end,
    ...rows.flatMap((r) => [r.line, r.column, JSON.stringify(r.key), r.reason]),
  ]);
  return manifest.rejectedRows;
}
