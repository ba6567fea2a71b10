/**
 * Change sets between models, and between the shadow marts and certified.
 *
 * Every model of a dataset is a persistent table in its shadow schema. When a build changes rows of a
 * model it appends their old and new versions to `<model>__changes` in the same transaction; models
 * downstream read it to find the groups they must recompute. The change log lives until a build of the
 * whole dataset completes (then every consumer has read it), so a transform that dies half-way leaves it
 * for the retry. A model whose columns changed cannot describe its changes row by row: it is marked
 * rebuilt (`audit.model_rebuilds`) until the build completes, and everything reading it is rebuilt whole.
 *
 * Marts also remember what publish has not applied to certified yet: the groups (`recompute_by`
 * values) in `<mart>__unpublished`, or — after a whole rebuild that changed anything —
 * `audit.publish_pending`, which makes publish replace the certified table whole. Both are cleared in
 * publish's transaction, so a failed or blocked run's changes are published by the next run that passes.
 * The audit tables are created with the change ledger (audit/change-ledger.ts).
 */
import { qualified, quoteIdent } from '../sql';
import type { Warehouse } from '../warehouse';

type Tx = Pick<Warehouse, 'run' | 'query'>;

/** The change log of a model (old and new versions of the rows it changed since the last complete build). */
export function changesTable(shadow: string, model: string): string {
  return qualified(shadow, `${model}__changes`);
}

/** The groups of a mart changed since its last publish. */
export function unpublishedTable(shadow: string, model: string): string {
  return qualified(shadow, `${model}__unpublished`);
}

/** The mart's unpublished-groups table, created on first use (`scratchTable`: the dialect's kind for it). */
export async function ensureUnpublished(
  wh: Pick<Warehouse, 'run'>,
  scratchTable: string,
  shadow: string,
  model: string,
  groupBy: string,
): Promise<{ table: string; column: string }> {
  const table = unpublishedTable(shadow, model);
  const column = quoteIdent(groupBy);
  await wh.run(
    `CREATE ${scratchTable} IF NOT EXISTS ${table} AS SELECT ${column} FROM ${qualified(shadow, model)} WHERE 1 = 0`,
  );
  return { table, column };
}

/** Models of the dataset marked rebuilt (their change log cannot say what changed). */
export async function rebuiltModels(wh: Tx, dataset: string): Promise<Set<string>> {
  const rows = await wh.query<{ model: string }>('SELECT DISTINCT model FROM audit.model_rebuilds WHERE dataset = $1', [
    dataset,
  ]);
  return new Set(rows.map((r) => r.model));
}

/** Marks a model rebuilt: readers rebuild whole until the dataset's build completes. */
export async function markRebuilt(tx: Tx, dataset: string, model: string, now: string): Promise<void> {
  await tx.run(`INSERT INTO audit.model_rebuilds VALUES ($1, $2, ${now})`, [dataset, model]);
}

/** Marks a mart to be published whole (its change since the last publish is not kept by group). */
export async function markPublishWhole(tx: Tx, dataset: string, model: string, now: string): Promise<void> {
  await tx.run('DELETE FROM audit.publish_pending WHERE dataset = $1 AND model = $2', [dataset, model]);
  await tx.run(`INSERT INTO audit.publish_pending VALUES ($1, $2, ${now})`, [dataset, model]);
}

/** True when publish must replace the mart's certified table whole. */
export async function publishWhole(wh: Tx, dataset: string, model: string): Promise<boolean> {
  const rows = await wh.query('SELECT model FROM audit.publish_pending WHERE dataset = $1 AND model = $2', [
    dataset,
    model,
  ]);
  return rows.length > 0;
}

/** After publish applied a mart: nothing of it is pending any more. */
export async function clearPublished(tx: Tx, dataset: string, model: string, unpublished?: string): Promise<void> {
  await tx.run('DELETE FROM audit.publish_pending WHERE dataset = $1 AND model = $2', [dataset, model]);
  if (unpublished) await tx.run(`DELETE FROM ${unpublished}`);
}
