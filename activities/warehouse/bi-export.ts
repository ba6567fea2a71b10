import { randomBytes } from 'node:crypto';
import { chmodSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DuckDbWarehouse } from './engines/duckdb';
import { SCHEMAS } from './layout';
import { quoteIdent, quoteLiteral } from './sql';

/** What an export wrote. */
export interface BiExportResult {
  /** The file Tableau opens. */
  path: string;
  /** One entry per bi view, as a table of the same name in schema `bi` of the exported file. */
  tables: { table: string; rows: number }[];
  /** Columns left out because PII lineage says they are computed from PII (`bi.<view>.<column>`). */
  droppedColumns: string[];
}

export interface BiExportOptions {
  /**
   * Per bi view (named like its mart), columns never to export: pass `publishedPiiColumns(config)`, the
   * columns PII lineage says are computed from PII. (The bi views already leave them out, as on Snowflake;
   * this holds even for a view an older publish made.) Tokens selected as is are exported: joinable, not readable.
   */
  excludeColumns?: Record<string, string[]>;
}

/**
 * Default file name under the data directory. Not `bi.duckdb`: DuckDB names a database after its file,
 * and a catalog `bi` holding a schema `bi` makes every `bi.<view>` reference ambiguous (a Binder Error).
 */
export const BI_EXPORT_FILE = 'tableau.duckdb';

/** One export at a time per target file, so an older snapshot never renames over a newer one. */
const exporting = new Map<string, Promise<unknown>>();

/**
 * Writes the data of every `bi` view into a separate DuckDB file for Tableau: one table per view in
 * schema `bi` (same names as Snowflake's bi views, so a workbook's SQL carries over), nothing else: no
 * raw, shadow, certified, audit or quarantine schema, and no column computed from PII.
 *
 * Least privilege on the embedded default: DuckDB has no roles or grants, so the warehouse file itself
 * would give Tableau everything; this file holds only what dashboards may read. Tableau opens it with
 * `access_mode = 'READ_ONLY'` (and the file is made read-only on disk, 0444).
 *
 * Atomic refresh: the data is copied in one transaction on the warehouse's connection (one consistent
 * snapshot of all views) into `<path>.tmp-<random>` ATTACHed for the purpose, checkpointed and detached,
 * then renamed over `path`. A reader holding the previous file open keeps reading it (POSIX rename);
 * the next open sees the new one. A failure leaves the previous file untouched.
 */
export function exportBiDatabase(
  wh: DuckDbWarehouse,
  path: string,
  options: BiExportOptions = {},
): Promise<BiExportResult> {
  const previous = exporting.get(path) ?? Promise.resolve();
  const next = previous.then(
    () => exportOnce(wh, path, options),
    () => exportOnce(wh, path, options),
  );
  const settled = next.catch(() => undefined);
  exporting.set(path, settled);
  void settled.then(() => {
    if (exporting.get(path) === settled) exporting.delete(path);
  });
  return next;
}

async function exportOnce(wh: DuckDbWarehouse, path: string, options: BiExportOptions): Promise<BiExportResult> {
  if (wh.path === ':memory:' || wh.path === path)
    throw new Error(`bi export path '${path}' must be a file other than the warehouse's`);
  if (basename(path).replace(/\.[^.]*$/, '') === SCHEMAS.bi) {
    throw new Error(
      `bi export path '${path}': DuckDB names the database after the file, so in it '${SCHEMAS.bi}.<view>' would be ambiguous ` +
        `(catalog ${SCHEMAS.bi} or schema ${SCHEMAS.bi}); use another name, e.g. ${BI_EXPORT_FILE}`,
    );
  }
  const suffix = randomBytes(6).toString('hex');
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${suffix}`);
  const alias = quoteIdent(`freshline_bi_export_${suffix}`);
  const cleanup = () => {
    for (const f of [tmp, `${tmp}.wal`]) rmSync(f, { force: true });
  };
  let attached = false;
  try {
    await wh.run(`ATTACH ${quoteLiteral(tmp, 'duckdb')} AS ${alias}`);
    attached = true;
    const result = await wh.transaction(async (tx) => {
      const [{ db }] = await tx.query<{ db: string }>('SELECT current_database() AS db');
      const views = await tx.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables
          WHERE table_catalog = $1 AND table_schema = $2 ORDER BY table_name`,
        [db, SCHEMAS.bi],
      );
      await tx.run(`CREATE SCHEMA ${alias}.${quoteIdent(SCHEMAS.bi)}`);
      const tables: BiExportResult['tables'] = [];
      const dropped: string[] = [];
      for (const { name } of views) {
        const columns = await tx.query<{ name: string }>(
          `SELECT column_name AS name FROM information_schema.columns
            WHERE table_catalog = $1 AND table_schema = $2 AND table_name = $3 ORDER BY ordinal_position`,
          [db, SCHEMAS.bi, name],
        );
        const exclude = new Set(options.excludeColumns?.[name] ?? []);
        const kept = columns.filter((c) => !exclude.has(c.name));
        dropped.push(...columns.filter((c) => exclude.has(c.name)).map((c) => `${SCHEMAS.bi}.${name}.${c.name}`));
        if (kept.length === 0) continue;
        const source = `${quoteIdent(db)}.${quoteIdent(SCHEMAS.bi)}.${quoteIdent(name)}`;
        const target = `${alias}.${quoteIdent(SCHEMAS.bi)}.${quoteIdent(name)}`;
        await tx.run(
          `CREATE TABLE ${target} AS SELECT ${kept.map((c) => quoteIdent(c.name)).join(', ')} FROM ${source}`,
        );
        const [{ n }] = await tx.query<{ n: number }>(`SELECT count(*)::BIGINT AS n FROM ${target}`);
        tables.push({ table: `${SCHEMAS.bi}.${name}`, rows: Number(n) });
      }
      return { tables, droppedColumns: dropped };
    });
    // Write everything into the file itself (no WAL left beside it), then close it.
    await wh.run(`CHECKPOINT ${alias}`);
    await wh.run(`DETACH ${alias}`);
    attached = false;
    chmodSync(tmp, 0o444);
    // A WAL beside the target would be replayed into the new file by the next reader: it can only be left
    // by someone who opened the export read-write, which it is not for.
    rmSync(`${path}.wal`, { force: true });
    renameSync(tmp, path);
    return { path, ...result };
  } catch (err) {
    if (attached) await wh.run(`DETACH ${alias}`).catch(() => undefined);
    cleanup();
    throw err;
  }
}
