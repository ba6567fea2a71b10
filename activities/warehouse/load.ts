import type { Manifest } from '../sources/postgres/manifest';
import { dialectOf, type Dialect } from './dialect';
import { SCHEMAS, rawTable } from './layout';
import { recordSourceRejects } from './audit/source-rejects';
import { writeSourceState } from './audit/source-state';
import { recordRawLoad } from './audit/change-ledger';
import { qualified, quoteIdent } from './sql';
import type { StagedRelation, StagedRowsReader, TypedColumn } from './staged';
import type { Warehouse } from './warehouse';

/** What a load step reports for one table. */
export interface LoadResult {
  table: string;
  rawTable: string;
  loadId: string;
  /** Rows inserted by this load (= manifest rows when nothing was lost). */
  rowsLoaded: number;
  /** Rows of earlier loads replaced (same window, same key+version, or the previous full snapshot). */
  rowsReplaced: number;
  /** Full mode: keys gone from the source since the last load, recorded as `_deleted` tombstones. */
  tombstones: number;
  /** Columns added to (or retyped in) the raw table by this load (a retry after the DDL step reports none). */
  evolved: string[];
  /** Why nothing was loaded, when nothing was. */
  skipped: string | null;
  /** Source rows not staged (values the warehouse cannot hold), recorded in audit.source_rejects. */
  rejected?: number;
  /** Raw kept as it was on purpose (a full snapshot with rejected rows): nothing of this load is in raw. */
  held?: boolean;
}

type Tx = Pick<Warehouse, 'run' | 'query'>;

/** Lineage columns every raw row carries after the staged columns (portable types). */
const LINEAGE: TypedColumn[] = [
  { name: '_load_id', type: 'VARCHAR' },
  { name: '_window_start', type: 'TIMESTAMPTZ' },
  { name: '_window_end', type: 'TIMESTAMPTZ' },
  { name: '_extracted_at', type: 'TIMESTAMPTZ' },
  { name: '_source_file', type: 'VARCHAR' },
];

/** The lineage values, as selected: binds $1…$4 are load id, window start and end, extraction time. */
const LINEAGE_SELECT =
  '$1::VARCHAR AS _load_id, $2::TIMESTAMPTZ AS _window_start, $3::TIMESTAMPTZ AS _window_end, $4::TIMESTAMPTZ AS _extracted_at';

const columnList = (names: string[]) => `(${names.map(quoteIdent).join(', ')})`;

/**
 * Loads one manifest into raw.<source>__<table>, together with the table's new baseline (schema,
 * checksum) so drift detection never disagrees with what raw holds.
 * - incremental: raw holds one row per (primary key, cursor) version; the window's previous rows and
 *   any version this load brings are deleted first, so re-runs and overlapping windows never duplicate;
 * - full: the new snapshot replaces the live rows, and keys that disappeared become `_deleted` tombstones.
 * Steps: the reader makes the staged rows readable (DuckDB: the files in place; Snowflake: COPY into a
 * temporary table, checked against the manifest); then the raw table is created and evolved (DDL, which
 * Snowflake commits implicitly, so it runs before and outside the data transaction; every step is
 * idempotent); then one transaction replaces the rows and records the baseline.
 */
export async function loadManifest(
  wh: Warehouse,
  staged: StagedRowsReader,
  manifest: Manifest,
  loadId: string,
): Promise<LoadResult> {
  const target = rawTable(manifest.source, manifest.table);
  const base: LoadResult = {
    table: manifest.table,
    rawTable: `${SCHEMAS.raw}.${target}`,
    loadId,
    rowsLoaded: 0,
    rowsReplaced: 0,
    tombstones: 0,
    evolved: [],
    skipped: null,
  };
  if (manifest.blocked) return { ...base, skipped: `breaking schema drift: ${manifest.drift?.summary}` };
  if (manifest.unchanged) return { ...base, skipped: 'full table unchanged since the last load (same checksum)' };
  const rejected = await recordSourceRejects(wh, manifest, loadId);
  if (rejected > 0) base.rejected = rejected;
  // A full snapshot missing some rows would tombstone them: raw keeps the last whole snapshot instead.
  if (manifest.mode === 'full' && rejected > 0)
    return {
      ...base,
      held: true,
      skipped: `${rejected} row(s) of the full snapshot could not be staged (see audit.source_rejects); raw keeps the last snapshot`,
    };
  if (manifest.keys.length === 0 && !manifest.deletedKeys) return { ...base, skipped: 'no changes captured' };
  if (staged.dialect !== wh.dialect)
    throw new Error(`a ${staged.dialect} stage reader cannot feed a ${wh.dialect} warehouse (see workers/adapters.ts)`);

  await wh.ensureSchema(SCHEMAS.raw);
  const opened: StagedRelation[] = [];
  const open = async (m: Manifest) => {
    const relation = await staged.open(wh, m);
    opened.push(relation);
    return relation;
  };
  try {
    const incoming = manifest.keys.length ? await open(manifest) : null;
    const deleted = manifest.deletedKeys ? await open(deletedKeysManifest(manifest)) : null;
    // Only deletions (a partition whose rows are all gone): raw exists, since its keys came from there.
    const evolved = incoming ? await prepareRawTable(wh, target, manifest, incoming.columns) : [];
    const dialect = dialectOf(wh.dialect);
    return await wh.transaction(async (tx) => ({
      ...base,
      ...(await replaceRows(tx, dialect, target, manifest, { incoming, deleted }, loadId)),
      evolved,
    }));
  } finally {
    // A leftover is harmless (Snowflake drops temporary tables with the session); the load's outcome stands.
    for (const relation of opened) await relation.close().catch(() => undefined);
  }
}

/** The staged deleted keys read like a manifest of their own: key columns only, as many rows as were staged. */
function deletedKeysManifest(manifest: Manifest): Manifest {
  const { keys, rows } = manifest.deletedKeys!;
  const columns = manifest.primaryKey.map((k) => manifest.columns.find((c) => c.name === k)!);
  return { ...manifest, mode: 'incremental', keys, rows, columns, deletedKeys: undefined };
}

/**
 * Creates the raw table from the staged columns if missing, gives it the columns every raw table has,
 * and evolves it to the staged columns. DDL only, each statement idempotent (IF NOT EXISTS), so a load
 * retried after a failed data transaction, or two loads of one table, redo it harmlessly.
 */
async function prepareRawTable(
  wh: Warehouse,
  target: string,
  manifest: Manifest,
  staged: TypedColumn[],
): Promise<string[]> {
  const fqn = qualified(SCHEMAS.raw, target);
  // CDC files carry their own _deleted (tombstones); the other modes stage live rows only.
  const deleted = staged.some((c) => c.name === '_deleted') ? [] : [{ name: '_deleted', type: 'BOOLEAN' }];
  const columns = [...staged, ...LINEAGE, ...deleted];
  await wh.run(
    `CREATE TABLE IF NOT EXISTS ${fqn} (${columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`,
  );
  // Every raw table has _deleted and _lsn, whatever mode wrote it first, so staging reads them all alike.
  await wh.run(`ALTER TABLE ${fqn} ADD COLUMN IF NOT EXISTS _deleted BOOLEAN DEFAULT false`);
  await wh.run(`ALTER TABLE ${fqn} ADD COLUMN IF NOT EXISTS _lsn VARCHAR`);
  return evolveRawTable(wh, target, manifest, staged);
}

/**
 * Deletes the rows this load replaces, inserts the staged rows, writes the staged deletions as tombstones,
 * records the baseline; inside the transaction.
 */
async function replaceRows(
  tx: Tx,
  dialect: Dialect,
  target: string,
  manifest: Manifest,
  relations: { incoming: StagedRelation | null; deleted: StagedRelation | null },
  loadId: string,
): Promise<Pick<LoadResult, 'rowsLoaded' | 'rowsReplaced' | 'tombstones'>> {
  const fqn = qualified(SCHEMAS.raw, target);
  const { incoming, deleted } = relations;
  const out = incoming
    ? await replaceVersions(tx, fqn, manifest, incoming, loadId)
    : { rowsLoaded: 0, rowsReplaced: 0, tombstones: 0 };
  if (deleted) {
    const pk = manifest.primaryKey.map(quoteIdent).join(', ');
    out.tombstones += await tx.run(
      `INSERT INTO ${fqn} ${columnList([...manifest.primaryKey, ...LINEAGE.map((c) => c.name), '_deleted'])}
         SELECT ${pk}, ${LINEAGE_SELECT}, $5::VARCHAR AS _source_file, true AS _deleted FROM ${deleted.from}`,
      [
        loadId,
        manifest.window.start,
        manifest.window.end,
        manifest.extractedAt,
        `tombstone: deleted at the source (reload of ${manifest.window.start.slice(0, 10)})`,
      ],
    );
  }
  await writeSourceState(
    tx,
    manifest,
    { columns: manifest.columns, schemaHash: manifest.schemaHash, checksum: manifest.checksum },
    dialect,
  );
  // Incremental staging merges the keys of every load it has not merged yet (audit/change-ledger.ts).
  await recordRawLoad(tx, target, { loadId, extractedAt: manifest.extractedAt }, dialect.now);
  return out;
}

/** Replaces the versions the staged rows bring (per mode) and inserts them; inside the caller's transaction. */
async function replaceVersions(
  tx: Tx,
  fqn: string,
  manifest: Manifest,
  incoming: StagedRelation,
  loadId: string,
): Promise<Pick<LoadResult, 'rowsLoaded' | 'rowsReplaced' | 'tombstones'>> {
  const from = incoming.from;
  const cdc = manifest.mode === 'cdc';
  const lineageParams = [loadId, manifest.window.start, manifest.window.end, manifest.extractedAt];
  const lineageNames = LINEAGE.map((c) => c.name);
  const pk = manifest.primaryKey.map(quoteIdent).join(', ');
  let replaced = 0;
  let tombstones = 0;
  if (cdc) {
    // Re-delivered changes (a crash before the slot was confirmed) replace themselves: key + LSN
    // (NULL-safe, so a TRUNCATE marker, whose key is NULL, replaces itself too), and so do the
    // tombstones a re-delivered TRUNCATE wrote.
    const keyCols = [...manifest.primaryKey, '_lsn'];
    replaced += await tx.run(
      `DELETE FROM ${fqn} AS r USING (SELECT ${keyCols.map(quoteIdent).join(', ')} FROM ${from}) AS s
        WHERE ${keyCols.map((c) => `r.${quoteIdent(c)} IS NOT DISTINCT FROM s.${quoteIdent(c)}`).join(' AND ')}`,
    );
    replaced += await tx.run(
      `DELETE FROM ${fqn} WHERE _op = 'T' AND _lsn IN (SELECT _lsn FROM ${from} WHERE _op = 'T')`,
    );
  } else if (manifest.mode === 'incremental') {
    // Only the versions this load brings again are replaced (same key and cursor): a version the source has
    // moved past since is history raw keeps (SCD2 reads every version), not a row of this window to drop.
    const keyCols = [...manifest.primaryKey, manifest.cursor];
    replaced += await tx.run(
      `DELETE FROM ${fqn} AS r USING (SELECT ${keyCols.map(quoteIdent).join(', ')} FROM ${from}) AS s
        WHERE ${keyCols.map((c) => `r.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(' AND ')}`,
    );
  } else {
    tombstones = await tx.run(
      `INSERT INTO ${fqn} ${columnList([...manifest.primaryKey, ...lineageNames, '_deleted'])}
         SELECT ${pk}, ${LINEAGE_SELECT}, 'tombstone: key absent from full snapshot' AS _source_file, true AS _deleted
           FROM (SELECT DISTINCT ${pk} FROM ${fqn} WHERE NOT _deleted EXCEPT SELECT ${pk} FROM ${from})`,
      lineageParams,
    );
    replaced += await tx.run(`DELETE FROM ${fqn} WHERE NOT _deleted`);
    // A key that comes back supersedes its old tombstone.
    await tx.run(
      `DELETE FROM ${fqn} AS r USING (SELECT ${pk} FROM ${from}) AS s
        WHERE r._deleted AND r._load_id <> $1 AND ${manifest.primaryKey.map((c) => `r.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(' AND ')}`,
      [loadId],
    );
  }
  const data = incoming.columns.map((c) => c.name);
  const stagesDeleted = data.includes('_deleted');
  const inserted = await tx.run(
    `INSERT INTO ${fqn} ${columnList([...data, ...lineageNames, ...(stagesDeleted ? [] : ['_deleted'])])}
       SELECT ${data.map(quoteIdent).join(', ')}, ${LINEAGE_SELECT}, filename AS _source_file${stagesDeleted ? '' : ', false AS _deleted'}
         FROM ${from}`,
    lineageParams,
  );
  if (cdc) {
    tombstones = await applyTruncates(tx, fqn, manifest, from, loadId);
    await carryUnchangedToast(tx, fqn, manifest, loadId);
  }
  return { rowsLoaded: inserted, rowsReplaced: replaced, tombstones };
}

/**
 * Adds columns the staged file has and raw lacks (source columns gained, CDC metadata after an initial
 * snapshot) and applies accepted type changes, so raw follows the source.
 */
async function evolveRawTable(
  wh: Warehouse,
  target: string,
  manifest: Manifest,
  staged: TypedColumn[],
): Promise<string[]> {
  const existing = new Map(
    (await wh.query<{ name: string; type: string }>(dialectOf(wh.dialect).columnsSql, [SCHEMAS.raw, target])).map(
      (c) => [c.name, c.type],
    ),
  );
  const fqn = qualified(SCHEMAS.raw, target);
  const changed: string[] = [];
  for (const col of staged) {
    const current = existing.get(col.name);
    if (current === undefined) {
      await wh.run(`ALTER TABLE ${fqn} ADD COLUMN IF NOT EXISTS ${quoteIdent(col.name)} ${col.type}`);
      changed.push(`+${col.name}`);
    } else if (current !== col.type && manifest.drift?.retyped.some((r) => r.column === col.name)) {
      await wh.run(`ALTER TABLE ${fqn} ALTER COLUMN ${quoteIdent(col.name)} SET DATA TYPE ${col.type}`);
      changed.push(`${col.name} ${current} → ${col.type}`);
    }
  }
  return changed;
}

/**
 * A TRUNCATE arrives as one marker row (key NULL, `_op` 'T'). Every key raw knew before the marker
 * gets a tombstone at the marker's LSN, so staging's latest-version rule hides it, while rows
 * inserted after the TRUNCATE (higher LSN, same capture) stay live. Returns the tombstones written.
 */
async function applyTruncates(
  tx: Tx,
  fqn: string,
  manifest: Manifest,
  incoming: string,
  loadId: string,
): Promise<number> {
  const pk = manifest.primaryKey.map((c) => `k.${quoteIdent(c)}`).join(', ');
  const columns = [...manifest.primaryKey, ...LINEAGE.map((c) => c.name), '_deleted', '_op', '_lsn', '_commit_ts'];
  return tx.run(
    `INSERT INTO ${fqn} ${columnList(columns)}
       SELECT DISTINCT ${pk}, $1::VARCHAR AS _load_id, $2::TIMESTAMPTZ AS _window_start, $3::TIMESTAMPTZ AS _window_end,
              $4::TIMESTAMPTZ AS _extracted_at, 'tombstone: TRUNCATE at ' || t._lsn AS _source_file, true AS _deleted,
              'T' AS _op, t._lsn AS _lsn, t._commit_ts AS _commit_ts
         FROM (SELECT _lsn, _commit_ts FROM ${incoming} WHERE _op = 'T') AS t
         JOIN ${fqn} AS k ON (k._extracted_at < $4::TIMESTAMPTZ OR k._lsn < t._lsn)
        WHERE k._deleted IS NOT TRUE AND ${manifest.primaryKey.map((c) => `k.${quoteIdent(c)} IS NOT NULL`).join(' AND ')}`,
    [loadId, manifest.window.start, manifest.window.end, manifest.extractedAt],
  );
}

/**
 * Under REPLICA IDENTITY DEFAULT an update that leaves a TOASTed value alone does not send it; the
 * change lists it in `_unchanged_toast` with NULL in its place. The value is the key's latest earlier
 * version that did send it (from an earlier load or earlier in this capture), so it is carried forward
 * here and staging sees whole rows; a genuine NULL that was sent is carried as NULL. A change is named by
 * key + `_lsn` (CDC's identity in raw), so the same SQL runs on DuckDB and Snowflake.
 */
async function carryUnchangedToast(tx: Tx, fqn: string, manifest: Manifest, loadId: string): Promise<void> {
  const lists = await tx.query<{ cols: string }>(
    `SELECT DISTINCT _unchanged_toast AS cols FROM ${fqn} WHERE _load_id = $1 AND _unchanged_toast IS NOT NULL`,
    [loadId],
  );
  const known = new Set(manifest.columns.map((c) => c.name));
  const cols = [...new Set(lists.flatMap((r) => r.cols.split(',')))].filter((c) => known.has(c)).sort();
  const pk = manifest.primaryKey.map(quoteIdent);
  const same = (a: string, b: string) => pk.map((k) => `${a}.${k} = ${b}.${k}`).join(' AND ');
  // `,a,b,` contains `,col,`: exact names, no LIKE wildcards (column names hold underscores).
  const omitted = (alias: string) => `coalesce(contains(',' || ${alias}._unchanged_toast || ',', $2), false)`;
  for (const col of cols) {
    const c = quoteIdent(col);
    await tx.run(
      `UPDATE ${fqn} AS r SET ${c} = f.v
         FROM (SELECT ${pk.map((k) => `o.${k}`).join(', ')}, o._lsn, p.${c} AS v
                 FROM ${fqn} AS o
                 JOIN ${fqn} AS p ON ${same('p', 'o')}
                  AND (p._extracted_at < o._extracted_at OR (p._extracted_at = o._extracted_at AND coalesce(p._lsn, '') < o._lsn))
                WHERE o._load_id = $1 AND ${omitted('o')} AND NOT ${omitted('p')}
              QUALIFY row_number() OVER (PARTITION BY ${pk.map((k) => `o.${k}`).join(', ')}, o._lsn
                                         ORDER BY p._extracted_at DESC, p._lsn DESC NULLS LAST) = 1) AS f
        WHERE ${same('r', 'f')} AND r._lsn = f._lsn AND r._load_id = $1`,
      [loadId, `,${col},`],
    );
  }
}
