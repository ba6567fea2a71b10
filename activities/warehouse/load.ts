import type { Manifest } from '../sources/postgres/manifest';
import type { ObjectStore } from '../storage/object-store';
import { SCHEMAS, rawTable } from './layout';
import { qualified, quoteIdent, quoteLiteral } from './sql';
import type { Warehouse } from './warehouse';

/** What a load step reports for one table. */
export interface LoadResult {
  table: string;
  rawTable: string;
  loadId: string;
  /** Rows inserted by this load (= manifest rows when nothing was lost). */
  rowsLoaded: number;
  /** Rows of earlier loads replaced (same window, or the same key+version from an overlapping window). */
  rowsReplaced: number;
}

/**
 * Loads one manifest into raw.<source>__<table> in one transaction. Raw holds one row per
 * (primary key, cursor) version: the window's previous rows and any row version this load brings are
 * deleted first, so re-running a window or running overlapping windows never duplicates a row.
 */
export async function loadManifest(wh: Warehouse, stage: ObjectStore, manifest: Manifest, loadId: string): Promise<LoadResult> {
  const target = rawTable(manifest.source, manifest.table);
  const fqn = qualified(SCHEMAS.raw, target);
  const files = `[${manifest.keys.map((k) => quoteLiteral(stage.uriFor(k))).join(', ')}]`;
  const incoming = `read_parquet(${files}, filename = true)`;
  const keyCols = [...manifest.primaryKey, manifest.cursor];
  await wh.ensureSchema(SCHEMAS.raw);
  return wh.transaction(async (tx) => {
    await tx.run(
      `CREATE TABLE IF NOT EXISTS ${fqn} AS
         SELECT * EXCLUDE (filename), ''::VARCHAR AS _load_id, now()::TIMESTAMPTZ AS _window_start, now()::TIMESTAMPTZ AS _window_end,
                now()::TIMESTAMPTZ AS _extracted_at, ''::VARCHAR AS _source_file
           FROM ${incoming} LIMIT 0`,
    );
    const byWindow = await tx.run(`DELETE FROM ${fqn} WHERE _window_start = $1::TIMESTAMPTZ AND _window_end = $2::TIMESTAMPTZ`, [
      manifest.window.start,
      manifest.window.end,
    ]);
    const byVersion = await tx.run(
      `DELETE FROM ${fqn} AS r USING (SELECT ${keyCols.map(quoteIdent).join(', ')} FROM ${incoming}) AS s
        WHERE ${keyCols.map((c) => `r.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(' AND ')}`,
    );
    const inserted = await tx.run(
      `INSERT INTO ${fqn} BY NAME
         SELECT * EXCLUDE (filename), $1::VARCHAR AS _load_id, $2::TIMESTAMPTZ AS _window_start, $3::TIMESTAMPTZ AS _window_end,
                $4::TIMESTAMPTZ AS _extracted_at, filename AS _source_file
           FROM ${incoming}`,
      [loadId, manifest.window.start, manifest.window.end, manifest.extractedAt],
    );
    return { table: manifest.table, rawTable: `${SCHEMAS.raw}.${target}`, loadId, rowsLoaded: inserted, rowsReplaced: byWindow + byVersion };
  });
}
