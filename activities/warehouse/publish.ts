import { SCHEMAS, shadowSchema } from './layout';
import { qualified, quoteIdent } from './sql';
import type { Warehouse } from './warehouse';

/** Rows published per certified table, and the tables held back with why. */
export interface PublishResult {
  tables: { table: string; rows: number }[];
  held: { table: string; reason: string }[];
}

type Tx = Pick<Warehouse, 'run' | 'query'>;

/** Columns of a mart that are Freshline's bookkeeping, not for dashboards. */
const HIDDEN_FROM_BI = new Set(['_row_hash']);

/**
 * Swaps the dataset's shadow marts into `certified` in one transaction: dashboards see either all
 * of yesterday's tables or all of today's, never a mix. (Snowflake: ALTER TABLE … SWAP WITH.)
 * Dashboards read `bi.<mart>`, a view over the certified table whose columns only ever grow: a column
 * the model no longer produces stays in the view as NULL, so a workbook never breaks on a rename.
 */
export async function publishTables(
  wh: Warehouse,
  dataset: string,
  tables: string[],
  /** Tables not to publish this run (their certified version stays), with the reason. */
  hold: PublishResult['held'] = [],
): Promise<PublishResult> {
  const shadow = shadowSchema(dataset);
  await wh.ensureSchema(SCHEMAS.certified);
  await wh.ensureSchema(SCHEMAS.bi);
  return wh.transaction(async (tx) => {
    const out: PublishResult['tables'] = [];
    for (const table of tables.filter((t) => !hold.some((h) => h.table === t))) {
      const target = qualified(SCHEMAS.certified, table);
      await tx.run(`CREATE OR REPLACE TABLE ${target} AS SELECT * FROM ${qualified(shadow, table)}`);
      await replaceBiView(tx, table);
      const [{ n }] = await tx.query(`SELECT count(*)::BIGINT AS n FROM ${target}`);
      out.push({ table: `${SCHEMAS.certified}.${table}`, rows: Number(n) });
    }
    return { tables: out, held: hold };
  });
}

/** The stable view: yesterday's columns in their order, then new ones; vanished ones as typed NULLs. */
async function replaceBiView(tx: Tx, table: string): Promise<void> {
  const columnsOf = (schema: string) =>
    tx.query<{ name: string; type: string }>(
      `SELECT column_name AS name, data_type AS type FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [schema, table],
    );
  const certified = (await columnsOf(SCHEMAS.certified)).filter((c) => !HIDDEN_FROM_BI.has(c.name));
  const current = new Set(certified.map((c) => c.name));
  const kept = await columnsOf(SCHEMAS.bi);
  const select = [
    ...kept.map((c) => (current.has(c.name) ? quoteIdent(c.name) : `CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`)),
    ...certified.filter((c) => !kept.some((k) => k.name === c.name)).map((c) => quoteIdent(c.name)),
  ];
  await tx.run(`CREATE OR REPLACE VIEW ${qualified(SCHEMAS.bi, table)} AS SELECT ${select.join(', ')} FROM ${qualified(SCHEMAS.certified, table)}`);
}
