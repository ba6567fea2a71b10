import { SCHEMAS, shadowSchema } from './layout';
import { qualified } from './sql';
import type { Warehouse } from './warehouse';

/** Rows published per certified table, and the tables held back with why. */
export interface PublishResult {
  tables: { table: string; rows: number }[];
  held: { table: string; reason: string }[];
}

/**
 * Swaps the dataset's shadow marts into `certified` in one transaction: dashboards see either all
 * of yesterday's tables or all of today's, never a mix. (Snowflake: ALTER TABLE … SWAP WITH.)
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
  return wh.transaction(async (tx) => {
    const out: PublishResult['tables'] = [];
    for (const table of tables.filter((t) => !hold.some((h) => h.table === t))) {
      const target = qualified(SCHEMAS.certified, table);
      await tx.run(`CREATE OR REPLACE TABLE ${target} AS SELECT * FROM ${qualified(shadow, table)}`);
      const [{ n }] = await tx.query(`SELECT count(*)::BIGINT AS n FROM ${target}`);
      out.push({ table: `${SCHEMAS.certified}.${table}`, rows: Number(n) });
    }
    return { tables: out, held: hold };
  });
}
