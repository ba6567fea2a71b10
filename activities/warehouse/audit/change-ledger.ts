import type { Warehouse } from '../warehouse';

type Tx = Pick<Warehouse, 'run' | 'query'>;

/**
 * The change ledger: which loads wrote to each raw table (`audit.raw_loads`, in the load's own
 * transaction; a load is its load id and extraction time, as a re-run of a window keeps the id), which of them each dataset's incremental staging models have merged
 * (`audit.staging_merges`), and the SQL each model was last built from in full (`audit.model_state`).
 * A staging model merges exactly the keys of the loads it has not merged yet — whichever run loaded them
 * (a failed run, a backfill partition) — and is rebuilt whole when its SQL changed.
 */
export async function ensureChangeLedgerTables(wh: Pick<Warehouse, 'run'>): Promise<void> {
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.raw_loads (
      raw_table VARCHAR NOT NULL, load_id VARCHAR NOT NULL, extracted_at TIMESTAMPTZ NOT NULL, loaded_at TIMESTAMPTZ NOT NULL,
      PRIMARY KEY (raw_table, load_id, extracted_at))`);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.staging_merges (
      dataset VARCHAR NOT NULL, model VARCHAR NOT NULL, load_id VARCHAR NOT NULL, extracted_at TIMESTAMPTZ NOT NULL,
      merged_at TIMESTAMPTZ NOT NULL)`);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.model_state (
      dataset VARCHAR NOT NULL, model VARCHAR NOT NULL, sql_hash VARCHAR NOT NULL, built_at TIMESTAMPTZ NOT NULL,
      PRIMARY KEY (dataset, model))`);
  // Change sets between models and towards certified (models/changes.ts).
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.model_rebuilds (
      dataset VARCHAR NOT NULL, model VARCHAR NOT NULL, rebuilt_at TIMESTAMPTZ NOT NULL)`);
  await wh.run(`CREATE TABLE IF NOT EXISTS audit.publish_pending (
      dataset VARCHAR NOT NULL, model VARCHAR NOT NULL, since TIMESTAMPTZ NOT NULL)`);
}

/** Records that a load wrote to `rawTable`; inside the load's transaction (a retried load records it once). */
export async function recordRawLoad(
  tx: Tx,
  rawTable: string,
  load: { loadId: string; extractedAt: string },
  now: string,
): Promise<void> {
  const key = [rawTable, load.loadId, load.extractedAt];
  await tx.run(
    'DELETE FROM audit.raw_loads WHERE raw_table = $1 AND load_id = $2 AND extracted_at = $3::TIMESTAMPTZ',
    key,
  );
  await tx.run(`INSERT INTO audit.raw_loads VALUES ($1, $2, $3::TIMESTAMPTZ, ${now})`, key);
}

/** SQL selecting the loads (load_id, extracted_at) of `rawTable` that (dataset, model) has not merged yet; binds $1–$3. */
export const PENDING_LOADS_SQL = `SELECT l.load_id, l.extracted_at FROM audit.raw_loads AS l WHERE l.raw_table = $1
    AND NOT EXISTS (SELECT 1 FROM audit.staging_merges AS m WHERE m.dataset = $2 AND m.model = $3
                     AND m.load_id = l.load_id AND m.extracted_at = l.extracted_at)`;

/** Marks the loads held in `pendingTable` as merged into (dataset, model); inside the merge's transaction. */
export async function recordMerged(
  tx: Tx,
  dataset: string,
  model: string,
  pendingTable: string,
  now: string,
): Promise<void> {
  await tx.run(`INSERT INTO audit.staging_merges SELECT $1, $2, load_id, extracted_at, ${now} FROM ${pendingTable}`, [
    dataset,
    model,
  ]);
}

/** The SQL hash (dataset, model) was last built whole from, or undefined. */
export async function builtSqlHash(wh: Tx, dataset: string, model: string): Promise<string | undefined> {
  const rows = await wh.query<{ sql_hash: string }>(
    'SELECT sql_hash FROM audit.model_state WHERE dataset = $1 AND model = $2',
    [dataset, model],
  );
  return rows[0]?.sql_hash;
}

/** Records the SQL a full build used; inside the build's transaction. */
export async function recordBuilt(tx: Tx, dataset: string, model: string, sqlHash: string, now: string): Promise<void> {
  await tx.run('DELETE FROM audit.model_state WHERE dataset = $1 AND model = $2', [dataset, model]);
  await tx.run(`INSERT INTO audit.model_state VALUES ($1, $2, $3, ${now})`, [dataset, model, sqlHash]);
}
